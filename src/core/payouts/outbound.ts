import {
  type DigestSigner,
  isDriverError,
  type PayoutDriver,
  type TxStatus,
  type UnsignedTx,
} from '@tollgate/sdk'
import { and, eq, inArray } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import type { OutboundRow } from '../../db/schema/index.ts'
import { outboundTxs, sweeps, withdrawals } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can, resolveAsset } from '../chains.ts'
import { crashPoint } from '../crash-points.ts'
import { errorCode, failureText } from '../errors.ts'
import {
  type HoldingRole,
  postFee,
  postInternalMove,
  postWithdrawalRelease,
  postWithdrawalSettle,
} from '../ledger/postings.ts'
import { insertOutbound } from './built-tx.ts'
import { coinsLockedBy, lockCoins, settleCoins, spendableCoins, unlockCoins } from './coins.ts'
import { needFromJson } from './sweep-need.ts'
import { transitionWithdrawal } from './withdrawal-transitions.ts'

export type OutboundContext = { db: Db; signer?: DigestSigner; xpubFor(accountPath: string): string }

/** Counts of what one pass did, for logs and tests. */
export type OutboundProgress = {
  signed: number
  broadcast: number
  confirmed: number
  failed: number
  replaced: number
  /** Transactions whose step failed this pass (the others went on): the message for logs, the code to record. */
  errors: Array<{ id: string; error: string; code: string }>
}

async function setStatus(
  db: Db | Tx,
  row: OutboundRow,
  to: OutboundRow['status'],
  changes: Partial<OutboundRow> = {},
): Promise<boolean> {
  const updated = await db
    .update(outboundTxs)
    .set({ ...changes, status: to, updatedAt: new Date() })
    .where(and(eq(outboundTxs.id, row.id), eq(outboundTxs.status, row.status)))
    .returning({ id: outboundTxs.id })
  return updated.length > 0
}

/** Step 3 of invariant 5: sign what was persisted, then persist the raw bytes and hash before anything is sent. */
async function signStep(
  ctx: OutboundContext,
  payouts: PayoutDriver,
  row: OutboundRow,
): Promise<OutboundRow | undefined> {
  if (!ctx.signer) return undefined
  const signed = await payouts.sign(
    { payload: row.unsigned, maxFee: row.maxFee },
    { path: row.fromPath },
    ctx.signer,
  )
  const moved = await setStatus(ctx.db, row, 'signed', { raw: signed.raw, hash: signed.hash })
  crashPoint('outbound:signed')
  return moved ? { ...row, status: 'signed', raw: signed.raw, hash: signed.hash } : undefined
}

/**
 * Step 5: send the persisted bytes. Sending them again after a crash is harmless ("already known" is success;
 * a used nonce is checked against the chain before anything else is concluded).
 */
async function broadcastStep(
  ctx: OutboundContext,
  chain: LoadedChain,
  row: OutboundRow,
  tipHeight: bigint,
): Promise<boolean> {
  const payouts = chain.driver.payouts as PayoutDriver
  try {
    await payouts.broadcast({ raw: row.raw as string, hash: row.hash as string })
  } catch (err) {
    const refused = isDriverError(err) && err.code !== 'NONCE_USED' && !err.retryable
    // refused: first see whether the chain has these bytes or any transaction they replace (an expired or
    // spent-input answer to a resend, or the older version was mined meanwhile); then tracking settles it
    const known = refused ? await groupOnChain(payouts, await replacementGroup(ctx.db, row)) : false
    if (isDriverError(err) && err.code === 'NONCE_USED') {
      // the nonce is taken: by these very bytes (then tracking finds them mined) or by something else
      // (tracking finds none of this nonce's transactions and fails it)
    } else if (known) {
      // tracking takes it from here and settles whichever of the group was mined
    } else {
      const attempts = row.attempts + 1
      await ctx.db
        .update(outboundTxs)
        .set({ attempts, lastError: failureText(err) })
        .where(eq(outboundTxs.id, row.id))
      if (!refused && attempts >= maxSendAttempts && (await replace(chain, ctx, row, ['signed']))) {
        // a node that keeps refusing the same bytes for a reason it calls temporary (a fee cap, funds that
        // never come): rebuilt like a stuck one, same nonce, more fee; whichever lands wins
        return false
      }
      if (refused && err.code === 'EXPIRED') {
        // these bytes can never be included and the chain does not have them: build them again
        await replace(chain, ctx, row, ['signed'])
        return false
      }
      if (refused) {
        // the node will never take these bytes (bad signature, spent inputs, invalid contract call)
        await abandon(ctx, row, `refused by the node: ${failureText(err)}`.slice(0, 500), ['signed'])
        return false
      }
      throw err
    }
  }
  crashPoint('outbound:broadcast')
  // the row and its withdrawals move together: a crash cannot leave the event behind
  return ctx.db.transaction(async (tx) => {
    const moved = await setStatus(tx, row, 'broadcast', {
      broadcastHeight: tipHeight,
      attempts: row.attempts + 1,
    })
    if (moved && row.purpose === 'withdrawal')
      for (const id of await withdrawalIdsOf(tx, row))
        await transitionWithdrawal(tx, id, ['BATCHED'], 'BROADCAST', {}, { hash: row.hash })
    return moved
  })
}

async function withdrawalIdsOf(db: Db | Tx, row: Pick<OutboundRow, 'id'>): Promise<string[]> {
  const rows = await db
    .select({ id: withdrawals.id })
    .from(withdrawals)
    .where(eq(withdrawals.outboundTxId, row.id))
  return rows.map((r) => r.id)
}

/**
 * Every transaction that pays the same thing: the live one and the ones it replaced (same sender and nonce on
 * account chains; on chains without nonces, the chain of `replaces` links). Only one of them can be included.
 */
async function replacementGroup(db: Db, row: OutboundRow): Promise<OutboundRow[]> {
  if (row.nonce !== null)
    return db
      .select()
      .from(outboundTxs)
      .where(
        and(
          eq(outboundTxs.chain, row.chain),
          eq(outboundTxs.fromAddress, row.fromAddress),
          eq(outboundTxs.nonce, row.nonce),
        ),
      )
  const group = [row]
  let previous = row.replaces
  while (previous) {
    const [older] = await db.select().from(outboundTxs).where(eq(outboundTxs.id, previous))
    if (!older) break
    group.push(older)
    previous = older.replaces
  }
  return group
}

/** Points whatever waited on one outbound transaction (withdrawals, sweep steps) at another. */
async function moveReferences(tx: Tx, fromId: string, toId: string): Promise<void> {
  await tx.update(withdrawals).set({ outboundTxId: toId }).where(eq(withdrawals.outboundTxId, fromId))
  await tx.update(sweeps).set({ sweepTxId: toId }).where(eq(sweeps.sweepTxId, fromId))
  await tx.update(sweeps).set({ fundingTxId: toId }).where(eq(sweeps.fundingTxId, fromId))
  await tx.update(sweeps).set({ defundingTxId: toId }).where(eq(sweeps.defundingTxId, fromId))
}

/**
 * Settles a mined transaction once it is deep enough: the winner of its nonce group becomes `confirmed` (even
 * if it is an older, replaced one: only one of them can be mined), its withdrawals CONFIRMED or FAILED, and the
 * ledger settles or releases them. One database transaction.
 */
async function settle(
  ctx: OutboundContext,
  chain: LoadedChain,
  live: OutboundRow,
  winner: OutboundRow,
  status: Extract<TxStatus, { state: 'mined' }>,
  group: readonly OutboundRow[],
): Promise<'confirmed' | 'failed'> {
  const outcome = status.success ? 'confirmed' : 'failed'
  await ctx.db.transaction(async (tx) => {
    if (winner.id !== live.id) {
      // the replaced transaction was mined after all: it is the one that paid
      await tx
        .update(outboundTxs)
        .set({ status: 'replaced', updatedAt: new Date() })
        .where(eq(outboundTxs.id, live.id))
      await moveReferences(tx, live.id, winner.id)
    }
    const settled = await tx
      .update(outboundTxs)
      .set({ status: outcome, fee: status.fee, blockHeight: status.blockHeight, updatedAt: new Date() })
      .where(
        and(eq(outboundTxs.id, winner.id), inArray(outboundTxs.status, ['broadcast', 'replaced', 'signed'])),
      )
      .returning({ id: outboundTxs.id })
    // another pass settled it first: nothing more to do (and nothing to book twice)
    if (settled.length === 0) return
    const native = chain.driver.nativeAsset.id
    const ref = (suffix: string, asset = winner.asset) => ({
      chain: chain.name,
      asset,
      refType: 'outbound',
      refId: `${winner.id}#${suffix}`,
    })
    if (can(chain, 'coins'))
      await settleCoins(tx, ctx, chain, group, winner, status.success ? (winner.spends ?? []) : [])
    // every confirmed transaction books what it moved between the gateway's wallets, and its fee, here: in the
    // transaction that marks it confirmed, so the books never lag the chain once nothing is in flight
    const moves: Record<OutboundRow['purpose'], { from: HoldingRole; to?: HoldingRole } | undefined> = {
      sweep: { from: 'deposits', to: 'treasury' },
      gas: { from: 'gas', to: 'deposits' },
      defund: { from: 'gas' },
      cold: { from: 'treasury', to: 'cold' },
      // a batch contract's deployment or a token approval: the treasury pays its fee, nothing moves
      setup: { from: 'treasury' },
      withdrawal: undefined,
    }
    const move = moves[winner.purpose]
    if (move) {
      if (status.success && move.to)
        await postInternalMove(tx, ref('move'), move.from, move.to, winner.amount ?? 0n)
      await postFee(tx, ref('fee', native), move.from, status.fee)
      return
    }
    // a transaction that ran and failed still burned its fee
    if (!status.success) await postFee(tx, ref('fee', native), 'treasury', status.fee)
    const rows = await tx.select().from(withdrawals).where(eq(withdrawals.outboundTxId, winner.id))
    // one fee per transaction, split over its withdrawals (the first takes the remainder)
    const share = rows.length ? status.fee / BigInt(rows.length) : 0n
    for (const [i, w] of rows.entries()) {
      const fee = i === 0 ? status.fee - share * BigInt(rows.length - 1) : share
      const moved = await transitionWithdrawal(
        tx,
        w.id,
        ['BATCHED', 'BROADCAST'],
        status.success ? 'CONFIRMED' : 'FAILED',
        status.success
          ? { networkFee: fee }
          : { networkFee: fee, failureReason: 'the transaction failed on chain' },
        { hash: winner.hash, blockHeight: status.blockHeight.toString() },
      )
      if (!moved) continue
      if (status.success)
        await postWithdrawalSettle(tx, moved, { nativeAsset: chain.driver.nativeAsset.id, amount: fee })
      else await postWithdrawalRelease(tx, moved)
    }
  })
  return outcome
}

/** Gives a transaction up (its nonce was used by something else): its withdrawals fail and are released. */
async function abandon(
  ctx: OutboundContext,
  row: OutboundRow,
  reason: string,
  from: readonly OutboundRow['status'][] = ['broadcast'],
): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const rows = await tx
      .update(outboundTxs)
      .set({ status: 'failed', lastError: reason, updatedAt: new Date() })
      .where(and(eq(outboundTxs.id, row.id), inArray(outboundTxs.status, [...from])))
      .returning({ id: outboundTxs.id })
    if (rows.length === 0) return
    await unlockCoins(tx, [row.id])
    for (const id of await withdrawalIdsOf(tx, row)) {
      const moved = await transitionWithdrawal(tx, id, ['BATCHED', 'BROADCAST'], 'FAILED', {
        failureReason: reason,
      })
      if (moved) await postWithdrawalRelease(tx, moved)
    }
  })
}

/**
 * Builds a stuck (or expired) transaction again with the same nonce and a higher fee: a new `built` row (signed
 * and sent by the next steps) and the old one `replaced`, in one database transaction. The old bytes may still
 * be mined; tracking watches every transaction of the group, and only one of them can ever be included.
 * Fundings and defundings are not rebuilt (they are small and their driver call takes no fee bump): they wait.
 */
async function replace(
  chain: LoadedChain,
  ctx: OutboundContext,
  row: OutboundRow,
  from: readonly OutboundRow['status'][] = ['broadcast'],
): Promise<boolean> {
  const payouts = chain.driver.payouts as PayoutDriver
  const request = row.request
  if (request?.kind === 'funding' || request?.kind === 'defunding')
    return replaceFunding(chain, ctx, row, from)
  if (request?.kind !== 'transfer' || !request.outputs) return false
  // UTXO chains: the replacement spends the same coins again (and more of the treasury's if the bump needs them)
  const spendsCoins = can(chain, 'coins')
  const inputs = spendsCoins
    ? [
        ...(await coinsLockedBy(ctx.db, [row.id])),
        ...(row.purpose === 'sweep' ? [] : await spendableCoins(ctx.db, chain, 'treasury')),
      ]
    : undefined
  const unsigned = await payouts.build({
    from: { address: row.fromAddress, path: row.fromPath },
    asset: resolveAsset(chain, row.asset),
    outputs: request.outputs.map((o) => ({ to: o.to, amount: BigInt(o.amount) })),
    sweepAll: request.sweepAll,
    nonce: row.nonce ?? undefined,
    inputs,
    change: request.change,
    feeBumpPercent: chain.settings.payouts.feeBumpPercent,
    replaces: { payload: row.unsigned, maxFee: row.maxFee },
  })
  const id = await storeReplacement(ctx, chain, row, from, unsigned, (tx, newId) =>
    // the replacement spends the same coins again: their locks move to it
    spendsCoins ? lockCoins(tx, chain, unsigned.spends ?? [], newId, row.id) : Promise.resolve(),
  )
  return id !== undefined
}

/** Whether the chain knows any transaction of the group (mined or waiting in a mempool). */
async function groupOnChain(payouts: PayoutDriver, group: readonly OutboundRow[]): Promise<boolean> {
  for (const member of group) {
    if (!member.hash) continue
    if ((await payouts.status(member.hash)).state !== 'unknown') return true
  }
  return false
}

/** Sends that a node refuses as temporarily impossible before the transaction is rebuilt with more fee. */
const maxSendAttempts = 10

/** Stores a rebuilt transaction in place of `row` (now `replaced`), moving what waited on it; false if it moved on. */
async function storeReplacement(
  ctx: OutboundContext,
  chain: LoadedChain,
  row: OutboundRow,
  from: readonly OutboundRow['status'][],
  unsigned: UnsignedTx,
  also?: (tx: Tx, id: string) => Promise<void>,
): Promise<string | undefined> {
  // a "replacement" with the same terms (fees capped by what the sender holds) would be the same bytes: keep
  // tracking the original instead
  if (JSON.stringify(unsigned.payload) === JSON.stringify(row.unsigned)) return undefined
  return ctx.db.transaction(async (tx) => {
    const old = await tx
      .update(outboundTxs)
      .set({ status: 'replaced', updatedAt: new Date() })
      .where(and(eq(outboundTxs.id, row.id), inArray(outboundTxs.status, [...from])))
      .returning({ id: outboundTxs.id })
    if (old.length === 0) return undefined
    const id = await insertOutbound(tx, chain, {
      purpose: row.purpose,
      from: { address: row.fromAddress, path: row.fromPath },
      asset: row.asset,
      nonce: row.nonce ?? undefined,
      unsigned,
      request: row.request as NonNullable<OutboundRow['request']>,
    })
    await tx.update(outboundTxs).set({ replaces: row.id }).where(eq(outboundTxs.id, id))
    await moveReferences(tx, row.id, id)
    await also?.(tx, id)
    return id
  })
}

/** A stuck gas-tank funding (or defunding) rebuilt with the same nonce and a higher fee. */
async function replaceFunding(
  chain: LoadedChain,
  ctx: OutboundContext,
  row: OutboundRow,
  from: readonly OutboundRow['status'][],
): Promise<boolean> {
  const payouts = chain.driver.payouts as PayoutDriver
  const request = row.request as NonNullable<OutboundRow['request']>
  const build = request.kind === 'funding' ? payouts.buildFunding : payouts.buildDefunding
  if (!build || !request.to) return false
  const need = needFromJson(request.need)
  const unsigned = await build({
    from: { address: row.fromAddress, path: row.fromPath },
    to: request.to,
    need,
    nonce: row.nonce ?? undefined,
    feeBumpPercent: chain.settings.payouts.feeBumpPercent,
    replaces: { payload: row.unsigned, maxFee: row.maxFee },
  })
  if (!unsigned) return false
  return (await storeReplacement(ctx, chain, row, from, unsigned)) !== undefined
}

/** Step 6: follow a sent transaction until it is deep enough, replacing it when it is stuck. */
async function trackStep(
  ctx: OutboundContext,
  chain: LoadedChain,
  row: OutboundRow,
  tipHeight: bigint,
): Promise<'confirmed' | 'failed' | 'replaced' | 'waiting'> {
  const payouts = chain.driver.payouts as PayoutDriver
  const group = await replacementGroup(ctx.db, row)
  // the chain's nonce is read BEFORE the statuses: a transaction mined in between then shows as mined, so a used
  // nonce below is never one of ours
  const next =
    row.nonce !== null && payouts.confirmedNonce ? await payouts.confirmedNonce(row.fromAddress) : undefined
  let pending = false
  let ownState: TxStatus['state'] = 'unknown'
  for (const candidate of group) {
    if (!candidate.hash) continue
    const status = await payouts.status(candidate.hash)
    if (candidate.id === row.id) ownState = status.state
    if (status.state === 'pending') pending = true
    if (status.state !== 'mined') continue
    const depth = tipHeight - status.blockHeight + 1n
    if (depth < BigInt(chain.driver.confirmations)) return 'waiting'
    return settle(ctx, chain, row, candidate, status, group)
  }
  // the chain moved past this nonce and none of our transactions for it is mined or waiting: someone else used it
  if (next !== undefined && row.nonce !== null && next > row.nonce && !pending) {
    await abandon(ctx, row, `nonce ${row.nonce} was used by a transaction the gateway did not send`)
    return 'failed'
  }
  if (ownState === 'unknown') {
    // dropped from the mempool (or never arrived): the same bytes again
    await payouts.broadcast({ raw: row.raw as string, hash: row.hash as string }).catch(() => {})
  }
  const stuckFor = tipHeight - (row.broadcastHeight ?? tipHeight)
  if (stuckFor >= BigInt(chain.settings.payouts.stuckAfterBlocks) && (await replace(chain, ctx, row)))
    return 'replaced'
  return 'waiting'
}

/** A pass that did nothing (also what a payout stage reports when it failed). */
export const noOutboundProgress = (): OutboundProgress => ({
  signed: 0,
  broadcast: 0,
  confirmed: 0,
  failed: 0,
  replaced: 0,
  errors: [],
})

/**
 * One pass over a chain's open outbound transactions, oldest first: sign what is built (when this process holds
 * the signer), broadcast what is signed, track what is sent. Each step persists before the next runs, so a
 * process killed at any line resumes from the last persisted step and never sends different bytes for a nonce.
 *
 * @example
 * const progress = await advanceOutbound({ db, signer }, chain)
 */
export async function advanceOutbound(ctx: OutboundContext, chain: LoadedChain): Promise<OutboundProgress> {
  const progress = noOutboundProgress()
  const payouts = chain.driver.payouts
  if (!payouts) return progress
  const open = await ctx.db
    .select()
    .from(outboundTxs)
    .where(
      and(eq(outboundTxs.chain, chain.name), inArray(outboundTxs.status, ['built', 'signed', 'broadcast'])),
    )
    .orderBy(outboundTxs.fromAddress, outboundTxs.nonce, outboundTxs.createdAt)
  if (open.length === 0) return progress
  const tip = await chain.driver.getTip()
  for (const row of open) {
    try {
      await advanceOne(ctx, chain, payouts, row, tip.height, progress)
    } catch (err) {
      // one transaction's trouble (a node refusing it, a timeout) must not hold up the others
      progress.errors.push({
        id: row.id,
        error: failureText(err),
        code: errorCode(err) ?? 'UNKNOWN',
      })
    }
  }
  return progress
}

async function advanceOne(
  ctx: OutboundContext,
  chain: LoadedChain,
  payouts: PayoutDriver,
  first: OutboundRow,
  tipHeight: bigint,
  progress: OutboundProgress,
): Promise<void> {
  let row = first
  if (row.status === 'built') {
    const signed = await signStep(ctx, payouts, row)
    if (!signed) return
    progress.signed++
    row = signed
  }
  if (row.status === 'signed') {
    if (await broadcastStep(ctx, chain, row, tipHeight)) progress.broadcast++
    return
  }
  if (row.status === 'broadcast') {
    const outcome = await trackStep(ctx, chain, row, tipHeight)
    if (outcome !== 'waiting') progress[outcome]++
  }
}
