import {
  type AssetInfo,
  type Coin,
  DriverError,
  isDriverError,
  type PayoutDriver,
  type PayoutOutput,
  type UnsignedTx,
  type WalletAddress,
} from '@tollgate/sdk'
import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { outboundTxs, withdrawals } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can, resolveAsset } from '../chains.ts'
import { crashPoint } from '../crash-points.ts'
import { isDeadlineError } from '../deadlines.ts'
import { failureText, invariantBroken } from '../errors.ts'
import { newId } from '../ids.ts'
import { postWithdrawalRelease } from '../ledger/postings.ts'
import { insertOutbound, storedTransfer } from './built-tx.ts'
import { freshChangeAddress, lockCoins, spendableCoins } from './coins.ts'
import { commitNonce, ensureSenderNonce, peekNonce } from './nonces.ts'
import { roleWallet } from './wallet-roles.ts'
import { transitionWithdrawal, transitionWithdrawals, type WithdrawalRow } from './withdrawal-transitions.ts'

export type PayoutContext = { db: Db; xpubFor(accountPath: string): string }

/** Non-retryable build failures before a withdrawal is failed and its reserve released. */
const maxBuildAttempts = 3

/**
 * What the treasury can still pay in `asset`: its balance less what built but unconfirmed transactions will take
 * (UTXO chains: its coins nothing is spending yet).
 */
async function treasuryAvailable(
  tx: Tx,
  chain: LoadedChain,
  payouts: PayoutDriver,
  treasury: WalletAddress,
  asset: AssetInfo,
): Promise<bigint> {
  if (can(chain, 'coins'))
    return (await spendableCoins(tx, chain, 'treasury', 10_000)).reduce((sum, c) => sum + c.amount, 0n)
  const [pending] = await tx
    .select({ total: sql<string>`coalesce(sum(${outboundTxs.amount}), 0)` })
    .from(outboundTxs)
    .where(
      and(
        eq(outboundTxs.chain, chain.name),
        eq(outboundTxs.fromAddress, treasury.address),
        eq(outboundTxs.asset, asset.id),
        inArray(outboundTxs.status, ['built', 'signed', 'broadcast']),
      ),
    )
  return (await payouts.balance(treasury.address, asset)) - BigInt(pending?.total ?? '0')
}

/**
 * A group whose transaction could not be built stays QUEUED with the error; after `maxBuildAttempts`
 * non-retryable failures (the destination refuses the token, say) each of its withdrawals fails and is released.
 */
async function recordBuildFailure(
  tx: Tx,
  group: readonly WithdrawalRow[],
  err: Pick<DriverError, 'retryable' | 'message'>,
): Promise<void> {
  for (const w of group) {
    const attempts = w.buildAttempts + 1
    if (!err.retryable && attempts >= maxBuildAttempts) {
      const failed = await transitionWithdrawal(tx, w.id, ['QUEUED'], 'FAILED', {
        failureReason: `its transaction cannot be built: ${failureText(err)}`.slice(0, 500),
      })
      if (failed) await postWithdrawalRelease(tx, failed)
      continue
    }
    await tx
      .update(withdrawals)
      .set({ buildAttempts: attempts, lastError: failureText(err) })
      .where(eq(withdrawals.id, w.id))
  }
}

/** Which queued withdrawals go out now: per asset, the oldest first, unless a batch window is still open. */
function pickBatches(queued: WithdrawalRow[], chain: LoadedChain, now: number): WithdrawalRow[][] {
  const { mode, maxBatch, windowMs } = chain.settings.payouts
  const byAsset = new Map<string, WithdrawalRow[]>()
  for (const w of queued) byAsset.set(w.asset, [...(byAsset.get(w.asset) ?? []), w])
  const out: WithdrawalRow[][] = []
  for (const group of byAsset.values()) {
    const oldest = group[0] as WithdrawalRow
    const windowOpen =
      mode === 'batch' && group.length < maxBatch && oldest.createdAt.getTime() + windowMs > now
    if (!windowOpen) out.push(group.slice(0, maxBatch))
  }
  return out
}

/**
 * A batch cut into transactions: as the driver's `planOutputs` says where it has one (which outputs are cheaper
 * together, which must go alone), else in order into chunks of at most `maxOutputs`; a withdrawal whose fee comes
 * out of its amount goes alone (its fee is its own).
 */
async function outputGroups(
  batch: readonly WithdrawalRow[],
  maxOutputs: number,
  plan?: { payouts: PayoutDriver; from: WalletAddress; asset: AssetInfo },
): Promise<WithdrawalRow[][]> {
  const shared = batch.filter((w) => !w.feeFromAmount)
  const groups: WithdrawalRow[][] = []
  const planned =
    plan?.payouts.planOutputs && shared.length > 1 && maxOutputs > 1
      ? await plan.payouts
          .planOutputs({
            from: plan.from,
            asset: plan.asset,
            outputs: shared.map((w) => ({ to: w.toAddress, amount: w.amount })),
          })
          // a node that cannot be asked: each alone this time (a batch nobody simulated could sink the others)
          .catch((err) => {
            if (!isDriverError(err) && !isDeadlineError(err)) throw err
            return shared.map((_, i) => [i])
          })
      : undefined
  if (planned) {
    const seen = new Set<number>()
    for (const indexes of planned) {
      const group: WithdrawalRow[] = []
      for (const i of indexes) {
        if (seen.has(i) || i < 0 || i >= shared.length) continue
        seen.add(i)
        group.push(shared[i] as WithdrawalRow)
      }
      for (let i = 0; i < group.length; i += maxOutputs) groups.push(group.slice(i, i + maxOutputs))
    }
    // whatever the plan left out still goes, alone
    for (const [i, w] of shared.entries()) if (!seen.has(i)) groups.push([w])
  } else for (let i = 0; i < shared.length; i += maxOutputs) groups.push(shared.slice(i, i + maxOutputs))
  for (const w of batch) if (w.feeFromAmount) groups.push([w])
  return groups
}

/**
 * What a lone withdrawal whose fee comes out of its amount pays once the fee of its first build is taken off;
 * undefined when it pays the whole amount (a token: the fee is in another asset). A refund that cannot cover its
 * fee cannot be built: a permanent driver-style refusal, so it fails and its reserve goes back.
 */
function feeDeducted(
  group: readonly WithdrawalRow[],
  asset: AssetInfo,
  unsigned: UnsignedTx,
  minOutput: PayoutDriver['minOutput'],
): bigint | undefined {
  const w = group[0] as WithdrawalRow
  if (group.length !== 1 || !w.feeFromAmount || !asset.native) return undefined
  const left = w.amount - unsigned.maxFee
  if (left <= 0n || left < (minOutput?.(w.toAddress, asset) ?? 0n))
    throw new DriverError(
      'FEE_ABOVE_AMOUNT',
      `the network fee (${unsigned.maxFee} base units) leaves too little of ${w.amount} to send`,
      { retryable: false },
    )
  return left
}

/** Group transactions one pass builds side by side on an account chain (each a few calls to the node). */
const buildsInFlight = 16

/** Rows one bulk statement writes at most. */
const rowsPerStatement = 500

type Built = { nonce: bigint | undefined; unsigned: UnsignedTx; outputs: PayoutOutput[] }

/** One transaction's worth of withdrawals on its way through a pass. */
type Slot = {
  group: WithdrawalRow[]
  total: bigint
  built?: Built
  /** Its build failed this pass: recorded, it waits for the next one (or fails for good). */
  error?: Pick<DriverError, 'retryable' | 'message'>
}

/** A build's failure as a group's failure, or undefined when it is not a build failure (a bug: rethrow it). */
function buildFailure(err: unknown): Pick<DriverError, 'retryable' | 'message'> | undefined {
  // a build past the call deadline is a passing failure of this group: the next groups still go
  if (isDeadlineError(err)) return { retryable: true, message: err.message }
  return isDriverError(err) ? err : undefined
}

/** Builds one group's transaction; a withdrawal whose fee comes out of its amount is built twice. */
async function buildGroup(
  payouts: PayoutDriver,
  r: { from: WalletAddress; asset: AssetInfo; group: readonly WithdrawalRow[]; nonce: bigint | undefined },
  coinsFor?: { inputs: Coin[]; change: { address: string; path: string } },
): Promise<Built> {
  const { from, asset, group, nonce } = r
  const inputs = coinsFor?.inputs
  const change = coinsFor?.change
  let outputs = group.map((w) => ({ to: w.toAddress, amount: w.amount }))
  let unsigned = await payouts.build({ from, asset, outputs, nonce, inputs, change })
  const deducted = feeDeducted(group, asset, unsigned, payouts.minOutput)
  if (deducted !== undefined) {
    // the fee comes out of the amount: built again paying what is left (its own transaction, one output)
    outputs = [{ to: (group[0] as WithdrawalRow).toAddress, amount: deducted }]
    unsigned = await payouts.build({ from, asset, outputs, nonce, inputs, change })
  }
  return { nonce, unsigned, outputs }
}

/**
 * Which slots go in this pass, in order, as building them one after another would decide: a slot goes when
 * what the treasury has left covers it (else it waits), its build did not fail, and it takes the next nonce.
 * `stale` are the going slots not (yet) built with the nonce they take.
 */
function walk(slots: readonly Slot[], available: bigint, firstNonce: bigint | undefined) {
  let left = available
  let nonce = firstNonce
  const going: Array<{ slot: Slot; nonce: bigint | undefined }> = []
  const waiting: Slot[] = []
  for (const slot of slots) {
    if (slot.error) continue
    if (left < slot.total) {
      waiting.push(slot)
      continue
    }
    left -= slot.total
    going.push({ slot, nonce })
    if (nonce !== undefined) nonce++
  }
  const stale = going.filter((g) => !g.slot.built || g.slot.built.nonce !== g.nonce)
  return { going, waiting, stale, nextNonce: nonce }
}

/**
 * Builds an account chain's group transactions side by side (at most `buildsInFlight` at once), each with the
 * nonce it takes in order. A build that fails costs no nonce: the slots after it take one less and are built
 * again with it (and one that no longer fits what the treasury has left waits, as one that did not fit before a
 * failure freed funds goes), so the outcome is that of building them one after another.
 */
async function buildSideBySide(
  payouts: PayoutDriver,
  r: { from: WalletAddress; asset: AssetInfo; slots: Slot[]; available: bigint; nonce: bigint | undefined },
) {
  for (;;) {
    const { stale } = walk(r.slots, r.available, r.nonce)
    if (stale.length === 0) return walk(r.slots, r.available, r.nonce)
    let fatal: { err: unknown } | undefined
    let next = 0
    const lane = async () => {
      while (next < stale.length) {
        const { slot, nonce } = stale[next++] as (typeof stale)[number]
        slot.built = undefined
        try {
          slot.built = await buildGroup(payouts, { from: r.from, asset: r.asset, group: slot.group, nonce })
        } catch (err) {
          const failure = buildFailure(err)
          if (failure) slot.error = failure
          else fatal ??= { err }
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(buildsInFlight, stale.length) }, lane))
    if (fatal) throw fatal.err
  }
}

/** The outbound rows of built transactions, as `insertOutbound` stores one, in one statement per chunk. */
async function insertOutbounds(
  tx: Tx,
  chain: LoadedChain,
  from: WalletAddress,
  asset: AssetInfo,
  built: ReadonlyArray<{ id: string; built: Built }>,
): Promise<void> {
  for (let i = 0; i < built.length; i += rowsPerStatement)
    await tx.insert(outboundTxs).values(
      built.slice(i, i + rowsPerStatement).map(({ id, built: b }) => ({
        id,
        chain: chain.name,
        purpose: 'withdrawal' as const,
        fromAddress: from.address,
        fromPath: from.path,
        asset: asset.id,
        nonce: b.nonce ?? null,
        status: 'built' as const,
        unsigned: b.unsigned.payload,
        request: storedTransfer({ outputs: b.outputs }),
        amount: b.unsigned.amounts?.reduce((sum, v) => sum + v, 0n) ?? null,
        amounts: b.unsigned.amounts?.map(String) ?? null,
        spends: b.unsigned.spends ? [...b.unsigned.spends] : null,
        changeVout: b.unsigned.change?.vout ?? null,
        changeAmount: b.unsigned.change?.amount ?? null,
        maxFee: b.unsigned.maxFee,
      })),
    )
}

type Move = { w: WithdrawalRow; outboundTxId: string; amountSent?: bigint }

/**
 * QUEUED → BATCHED for many withdrawals at once. The rows are locked by this transaction, so each of them moves;
 * one that did not would be a bug, and nothing of the pass is kept then.
 */
async function markBatched(tx: Tx, moves: readonly Move[]): Promise<void> {
  const moved = await transitionWithdrawals(
    tx,
    ['QUEUED'],
    moves.map((m) => ({
      id: m.w.id,
      to: 'BATCHED' as const,
      outboundTxId: m.outboundTxId,
      ...(m.amountSent !== undefined ? { amountSent: m.amountSent } : {}),
    })),
  )
  if (moved.length !== moves.length)
    throw invariantBroken(
      'WITHDRAWAL_MOVED',
      `${moves.length - moved.length} locked QUEUED withdrawal(s) did not move to BATCHED`,
    )
}

/** Groups the treasury cannot pay yet keep waiting, with the reason (one statement per distinct reason). */
async function noteWaiting(tx: Tx, asset: AssetInfo, slots: readonly Slot[]): Promise<void> {
  const byReason = new Map<string, string[]>()
  for (const s of slots) {
    const reason = `waiting for the treasury to hold ${s.total} base units of ${asset.symbol}`
    byReason.set(reason, [...(byReason.get(reason) ?? []), ...s.group.map((w) => w.id)])
  }
  for (const [reason, ids] of byReason)
    for (let i = 0; i < ids.length; i += rowsPerStatement)
      await tx
        .update(withdrawals)
        .set({ lastError: reason })
        .where(inArray(withdrawals.id, ids.slice(i, i + rowsPerStatement)))
}

/** What each withdrawal of a built group records: its transaction, and what it pays when its fee came out of it. */
function movesOf(slot: Slot, outboundTxId: string, asset: AssetInfo): Move[] {
  const built = slot.built as Built
  return slot.group.map((w) => ({
    w,
    outboundTxId,
    ...(w.feeFromAmount && asset.native ? { amountSent: (built.outputs[0] as PayoutOutput).amount } : {}),
  }))
}

/**
 * Turns queued withdrawals into outbound transactions from the treasury: per (chain, asset) up to `maxBatch`
 * at a time, `maxOutputs` outputs per transaction, nonces taken from the database in the same transaction that
 * stores the unsigned transactions and marks the withdrawals BATCHED. A crash anywhere leaves either all of that
 * or none of it. On account chains the transactions are built side by side, each with the nonce it takes in
 * order, and stored in bulk statements; on UTXO chains one after another (each spends coins the last one left).
 *
 * @example
 * const made = await batchWithdrawals(ctx, chain) // number of outbound transactions built
 */
export async function batchWithdrawals(
  ctx: PayoutContext,
  chain: LoadedChain,
  now = Date.now(),
): Promise<number> {
  const payouts = chain.driver.payouts
  if (!payouts) return 0
  const treasury = roleWallet(ctx, chain, 'treasury')
  await ensureSenderNonce(ctx, chain, treasury.address)
  const built = await ctx.db.transaction(async (tx) => {
    const queued = await tx
      .select()
      .from(withdrawals)
      .where(and(eq(withdrawals.chain, chain.name), eq(withdrawals.status, 'QUEUED')))
      .orderBy(asc(withdrawals.createdAt), asc(withdrawals.id))
      .limit(chain.settings.payouts.maxBatch * 4)
      .for('update', { skipLocked: true })
    let built = 0
    // the treasury's nonce row stays locked until this transaction ends: it is the only sender meanwhile
    let nextNonce = await peekNonce(tx, chain, treasury.address)
    const moves: Move[] = []
    for (const batch of pickBatches(queued, chain, now)) {
      const asset = resolveAsset(chain, (batch[0] as WithdrawalRow).asset)
      // asked once per asset and pass, then spent down as transactions are built
      const available = await treasuryAvailable(tx, chain, payouts, treasury, asset)
      const groups = await outputGroups(batch, chain.driver.maxOutputs, { payouts, from: treasury, asset })
      const slots: Slot[] = groups.map((group) => ({
        group,
        total: group.reduce((sum, w) => sum + w.amount, 0n),
      }))
      if (can(chain, 'coins')) {
        nextNonce = await buildSpendingCoins(
          ctx,
          tx,
          chain,
          { payouts, treasury, asset, available, slots, nonce: nextNonce },
          moves,
        )
        built += slots.filter((s) => s.built).length
        continue
      }
      // the driver builds first; only a transaction that could be built is stored and takes a nonce
      const done = await buildSideBySide(payouts, {
        from: treasury,
        asset,
        slots,
        available,
        nonce: nextNonce,
      })
      nextNonce = done.nextNonce
      for (const s of slots) if (s.error) await recordBuildFailure(tx, s.group, s.error)
      // the treasury may not hold it yet (the sweeps that fill it are on their way): wait, do not fail
      await noteWaiting(tx, asset, done.waiting)
      const stored = done.going.map(({ slot }) => ({ id: newId('otx'), slot, built: slot.built as Built }))
      await insertOutbounds(tx, chain, treasury, asset, stored)
      for (const s of stored) {
        // a driver that names coins on an account chain: they are locked as on a UTXO chain
        await lockCoins(tx, chain, s.built.unsigned.spends ?? [], s.id)
        moves.push(...movesOf(s.slot, s.id, asset))
      }
      built += stored.length
    }
    await markBatched(tx, moves)
    await commitNonce(tx, chain, treasury.address, nextNonce)
    return built
  })
  if (built > 0) crashPoint('outbound:built')
  return built
}

/**
 * A UTXO chain's groups, one after another: each pays from the treasury's coins nothing spends yet (the last
 * group's are locked before the next is built), change to a fresh internal address of the treasury. Answers the
 * next nonce (undefined on chains without nonces).
 */
async function buildSpendingCoins(
  ctx: PayoutContext,
  tx: Tx,
  chain: LoadedChain,
  r: {
    payouts: PayoutDriver
    treasury: WalletAddress
    asset: AssetInfo
    available: bigint
    slots: Slot[]
    nonce: bigint | undefined
  },
  moves: Move[],
): Promise<bigint | undefined> {
  let available = r.available
  let nonce = r.nonce
  const waiting: Slot[] = []
  for (const slot of r.slots) {
    // the treasury may not hold it yet (the sweeps that fill it are on their way): wait, do not fail
    if (available < slot.total) {
      waiting.push(slot)
      continue
    }
    const change = await freshChangeAddress(ctx, tx, chain)
    const inputs = await spendableCoins(tx, chain, 'treasury')
    try {
      slot.built = await buildGroup(
        r.payouts,
        { from: r.treasury, asset: r.asset, group: slot.group, nonce },
        { inputs, change },
      )
    } catch (err) {
      const failure = buildFailure(err)
      if (!failure) throw err
      await recordBuildFailure(tx, slot.group, failure)
      continue
    }
    const id = await insertOutbound(tx, chain, {
      purpose: 'withdrawal',
      from: r.treasury,
      asset: r.asset.id,
      nonce,
      unsigned: slot.built.unsigned,
      request: { ...storedTransfer({ outputs: slot.built.outputs }), change },
    })
    await lockCoins(tx, chain, slot.built.unsigned.spends ?? [], id)
    moves.push(...movesOf(slot, id, r.asset))
    if (nonce !== undefined) nonce++
    available -= slot.total
  }
  await noteWaiting(tx, r.asset, waiting)
  return nonce
}

/**
 * Stores what the treasury must send once before the driver can batch (`batchSetup`: on EVM the batch contract's
 * deployment and one token approval each) as ordinary outbound transactions of purpose `setup`, nonces taken as
 * for withdrawals; the payout pass signs, sends and tracks them, and their fees are booked from the treasury.
 * Nothing is stored while earlier setup transactions of the chain are still open.
 *
 * @example
 * const stored = await storeBatchSetup(ctx, chain) // [{ id: 'otx_…', what: 'deploy BatchPayouts at 0x…' }]
 */
export async function storeBatchSetup(
  ctx: PayoutContext,
  chain: LoadedChain,
): Promise<Array<{ id: string; what: string }>> {
  const payouts = chain.driver.payouts
  if (!payouts?.batchSetup)
    throw new DriverError('NOT_SUPPORTED', `${chain.name} has no batch payouts`, { retryable: false })
  const setup = payouts.batchSetup
  const treasury = roleWallet(ctx, chain, 'treasury')
  await ensureSenderNonce(ctx, chain, treasury.address)
  return ctx.db.transaction(async (tx) => {
    const open = await tx
      .select({ id: outboundTxs.id })
      .from(outboundTxs)
      .where(
        and(
          eq(outboundTxs.chain, chain.name),
          eq(outboundTxs.purpose, 'setup'),
          inArray(outboundTxs.status, ['built', 'signed', 'broadcast']),
        ),
      )
    if (open.length > 0) return []
    const nonce = await peekNonce(tx, chain, treasury.address)
    const txs = await setup({ from: treasury, nonce })
    const stored: Array<{ id: string; what: string }> = []
    for (const [i, t] of txs.entries()) {
      const id = await insertOutbound(tx, chain, {
        purpose: 'setup',
        from: treasury,
        asset: t.asset.id,
        nonce: nonce === undefined ? undefined : nonce + BigInt(i),
        unsigned: t.unsigned,
        request: { kind: 'setup', what: t.what },
      })
      stored.push({ id, what: t.what })
    }
    await commitNonce(
      tx,
      chain,
      treasury.address,
      nonce === undefined ? undefined : nonce + BigInt(txs.length),
    )
    return stored
  })
}
