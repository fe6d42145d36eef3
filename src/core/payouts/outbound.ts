import {
  type DigestSigner,
  isDriverError,
  type PayoutDriver,
  type TxStatus,
  type UnsignedTx,
} from '@tollgate/sdk'
import { and, eq, inArray, type SQL, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import type { OutboundRow } from '../../db/schema/index.ts'
import { ledgerPostings, outboundTxs, sweeps, withdrawals } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can, resolveAsset } from '../chains.ts'
import { crashPoint } from '../crash-points.ts'
import { errorCode, failureText, invariantBroken } from '../errors.ts'
import {
  type HoldingRole,
  postFee,
  postInternalMove,
  postWithdrawalRelease,
  postWithdrawalSettle,
} from '../ledger/postings.ts'
import { insertOutbound } from './built-tx.ts'
import { coinsLockedBy, lockCoins, settleCoins, spendableCoins, unlockCoins } from './coins.ts'
import { abandonMultisig, settleMultisig } from './multisig.ts'
import { needFromJson } from './sweep-need.ts'
import {
  transitionWithdrawal,
  transitionWithdrawals,
  type WithdrawalMove,
  type WithdrawalRow,
} from './withdrawal-transitions.ts'

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

/** Calls to the node one pass has in flight at once (sends of one sender's nonces, status reads). */
const callsInFlight = 16

/** Rows one statement (or one database transaction of settlements) takes at most. */
const rowsPerStatement = 200

/** Runs `run` over `items`, at most `limit` at once, started in the items' order. */
async function eachLimited<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>) {
  let next = 0
  const lane = async () => {
    while (next < items.length) await run(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

/**
 * Writes `items` in chunks, each chunk in one statement or database transaction (`write`); a chunk that fails
 * is written again item by item, so one bad row costs its own step only (`failed` hears it).
 */
async function writeInChunks<T, R>(
  items: readonly T[],
  write: (chunk: readonly T[]) => Promise<R[]>,
  failed: (item: T, err: unknown) => void,
): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += rowsPerStatement) {
    const chunk = items.slice(i, i + rowsPerStatement)
    try {
      out.push(...(await write(chunk)))
    } catch (err) {
      if (chunk.length === 1) {
        failed(chunk[0] as T, err)
        continue
      }
      for (const item of chunk)
        try {
          out.push(...(await write([item])))
        } catch (err) {
          failed(item, err)
        }
    }
  }
  return out
}

/**
 * Runs `run` for every item inside one database transaction: side by side when `together` (the driver then
 * pipelines the statements over the transaction's connection instead of waiting a round trip for each), else in
 * order. Answers the results in the items' order; the first failure is thrown once every item has finished, so
 * nothing still runs on a transaction being rolled back.
 */
async function runWithin<T, R>(items: readonly T[], together: boolean, run: (item: T) => Promise<R>) {
  if (!together) {
    const out: R[] = []
    for (const item of items) out.push(await run(item))
    return out
  }
  const done = await Promise.allSettled(items.map(run))
  for (const d of done) if (d.status === 'rejected') throw d.reason
  return done.map((d) => (d as PromiseFulfilledResult<R>).value)
}

/** One withdrawal's move in `transitionMany`: where to, the columns it sets, its event's data. */
type PostingRow = typeof ledgerPostings.$inferInsert

/**
 * Runs ledger booking functions (postings.ts) against a stand-in for the database transaction that keeps the
 * rows they would insert instead of writing them: the ledger's rules (which accounts, merging, balance) stay in
 * postings.ts, and `writePostings` then writes many bookings in one statement. Each booking hands its rows to
 * one insert, so each captured set is one reference's postings.
 */
async function capturePostings(book: (tx: Tx) => Promise<void>): Promise<PostingRow[][]> {
  const sets: PostingRow[][] = []
  const stand = {
    insert: (table: unknown) => {
      if (table !== ledgerPostings)
        throw invariantBroken('POSTINGS_CAPTURE', 'only ledger postings are captured')
      return {
        values: (rows: PostingRow[]) => {
          sets.push(rows)
          const written = rows.map((r) => ({ account: r.account }))
          return { onConflictDoNothing: () => ({ returning: async () => written }) }
        },
      }
    },
  }
  await book(stand as unknown as Tx)
  return sets
}

/**
 * Writes captured bookings (see `capturePostings`) in bulk statements. As one by one, a reference already booked
 * whole is a no-op (a settlement written twice books once) and one booked in part is a bug that rolls the
 * caller's database transaction back.
 */
async function writePostings(tx: Tx, sets: readonly PostingRow[][]): Promise<void> {
  const refKey = (r: { refType: string; refId: string }) => `${r.refType}|${r.refId}`
  const rows = sets.flat()
  const wanted = new Map<string, number>()
  for (const r of rows) wanted.set(refKey(r), (wanted.get(refKey(r)) ?? 0) + 1)
  const written = new Map<string, number>()
  // whole sets per statement (a reference's postings are checked together)
  for (let i = 0; i < sets.length; ) {
    const batch: PostingRow[] = []
    while (i < sets.length && batch.length < 4 * rowsPerStatement) batch.push(...(sets[i++] as PostingRow[]))
    if (batch.length === 0) continue
    const done = await tx
      .insert(ledgerPostings)
      .values(batch)
      .onConflictDoNothing()
      .returning({ refType: ledgerPostings.refType, refId: ledgerPostings.refId })
    for (const r of done) written.set(refKey(r), (written.get(refKey(r)) ?? 0) + 1)
  }
  for (const [ref, n] of written)
    if (n !== wanted.get(ref))
      throw invariantBroken(
        'PARTIAL_POSTINGS',
        `postings ${ref.replace('|', '/')}: ${(wanted.get(ref) ?? 0) - n} of ${wanted.get(ref)} already existed`,
      )
}

/** One transaction's step failed this pass (the others went on). */
function noteFailure(progress: OutboundProgress, row: Pick<OutboundRow, 'id'>, err: unknown) {
  progress.errors.push({ id: row.id, error: failureText(err), code: errorCode(err) ?? 'UNKNOWN' })
}

/** A column set per row: `case id when … then … end`. */
function perRow<T>(items: readonly T[], id: (item: T) => string, value: (item: T) => unknown): SQL {
  return sql`case ${outboundTxs.id} ${sql.join(
    items.map((item) => sql`when ${id(item)} then ${value(item)}`),
    sql` `,
  )} end`
}

/**
 * Step 3 of invariant 5: sign what was persisted, then persist the raw bytes and hashes (one statement for the
 * pass's rows) before anything is sent. Returns the rows now `signed`.
 */
async function signBuilt(
  ctx: OutboundContext,
  payouts: PayoutDriver,
  rows: readonly OutboundRow[],
  progress: OutboundProgress,
): Promise<OutboundRow[]> {
  const signer = ctx.signer
  if (!signer || rows.length === 0) return []
  const signed: Array<{ row: OutboundRow; raw: string; hash: string }> = []
  for (const row of rows)
    try {
      const tx = await payouts.sign(
        { payload: row.unsigned, maxFee: row.maxFee },
        { path: row.fromPath },
        signer,
      )
      signed.push({ row, raw: tx.raw, hash: tx.hash })
    } catch (err) {
      noteFailure(progress, row, err)
    }
  const moved = await writeInChunks(
    signed,
    async (chunk) => {
      const ids = await ctx.db
        .update(outboundTxs)
        .set({
          status: 'signed',
          raw: perRow(
            chunk,
            (s) => s.row.id,
            (s) => s.raw,
          ),
          hash: perRow(
            chunk,
            (s) => s.row.id,
            (s) => s.hash,
          ),
          updatedAt: new Date(),
        })
        .where(
          and(
            inArray(
              outboundTxs.id,
              chunk.map((s) => s.row.id),
            ),
            eq(outboundTxs.status, 'built'),
          ),
        )
        .returning({ id: outboundTxs.id })
      const kept = new Set(ids.map((r) => r.id))
      return chunk.filter((s) => kept.has(s.row.id))
    },
    (s, err) => noteFailure(progress, s.row, err),
  )
  // one crash point per transaction, as each is persisted: the crash tests count them
  for (const _ of moved) crashPoint('outbound:signed')
  progress.signed += moved.length
  return moved.map((s) => ({ ...s.row, status: 'signed', raw: s.raw, hash: s.hash }))
}

/**
 * Step 5: send the persisted bytes. Sending them again after a crash is harmless ("already known" is success;
 * a used nonce is checked against the chain before anything else is concluded). True when the row is to be
 * recorded as broadcast; false when it was rebuilt or given up instead.
 */
async function send(ctx: OutboundContext, chain: LoadedChain, row: OutboundRow): Promise<boolean> {
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
  return true
}

/**
 * Runs `run` over items handed in later (`push`), in the order they come, at most `limit` at once; `close` says
 * no more come, and `done` resolves once every item ran. `run` must not reject.
 */
function orderedLanes<T>(limit: number, run: (item: T) => Promise<void>) {
  const items: T[] = []
  let next = 0
  let active = 0
  let closed = false
  let finish = () => {}
  const done = new Promise<void>((resolve) => {
    finish = resolve
  })
  const pump = () => {
    while (active < limit && next < items.length) {
      const item = items[next++] as T
      active++
      void run(item).then(() => {
        active--
        pump()
      })
    }
    if (closed && active === 0 && next === items.length) finish()
  }
  return {
    push(more: readonly T[]) {
      items.push(...more)
      pump()
    },
    close() {
      closed = true
      pump()
    },
    done,
  }
}

/** Built transactions one signing round takes: signed, persisted, then sent while the next round is signed. */
const signRound = 32

/**
 * Signs what is built and sends what is signed, in the pass's order (sender, nonce), in rounds: a round's rows
 * are signed and persisted (`signBuilt`), then handed to the senders while the next round is signed, so the
 * node works while the gateway signs. Account chains: a sender's transactions go out in nonce order, several in
 * flight at once (a node holds a nonce that arrives early until the one before it comes); a chain without
 * nonces, whose transactions may spend each other's change, sends one at a time. The sent rows and their
 * withdrawals then move to broadcast together, in one database transaction per chunk: a crash cannot leave an
 * event behind, and a crash before it only sends the same bytes again. Answers the rows recorded broadcast.
 */
async function signAndBroadcast(
  ctx: OutboundContext,
  chain: LoadedChain,
  rows: readonly OutboundRow[],
  tipHeight: bigint,
  progress: OutboundProgress,
): Promise<OutboundRow[]> {
  const payouts = chain.driver.payouts as PayoutDriver
  const sent: OutboundRow[] = []
  const one = async (row: OutboundRow) => {
    try {
      if (await send(ctx, chain, row)) sent.push(row)
    } catch (err) {
      noteFailure(progress, row, err)
    }
  }
  const nonced = orderedLanes(callsInFlight, one)
  const chained = orderedLanes(1, one)
  try {
    for (let i = 0; i < rows.length; ) {
      // the next round: up to `signRound` built rows, with the signed ones among them
      const round: OutboundRow[] = []
      for (let built = 0; i < rows.length && built < signRound; i++) {
        const row = rows[i] as OutboundRow
        round.push(row)
        if (row.status === 'built') built++
      }
      const signed = new Map(
        (
          await signBuilt(
            ctx,
            payouts,
            round.filter((r) => r.status === 'built'),
            progress,
          )
        ).map((r) => [r.id, r]),
      )
      const ready = round.flatMap((r) => {
        if (r.status === 'signed') return [r]
        const now = signed.get(r.id)
        return now ? [now] : []
      })
      nonced.push(ready.filter((r) => r.nonce !== null))
      chained.push(ready.filter((r) => r.nonce === null))
    }
  } finally {
    // what was handed to the senders is sent (and recorded) even when a later round failed
    nonced.close()
    chained.close()
    await Promise.all([nonced.done, chained.done])
  }
  const moved = await writeInChunks(
    sent,
    (chunk) =>
      ctx.db.transaction(async (tx) => {
        const moved = await tx
          .update(outboundTxs)
          .set({
            status: 'broadcast',
            broadcastHeight: tipHeight,
            attempts: sql`${outboundTxs.attempts} + 1`,
            updatedAt: new Date(),
          })
          .where(
            and(
              inArray(
                outboundTxs.id,
                chunk.map((r) => r.id),
              ),
              eq(outboundTxs.status, 'signed'),
            ),
          )
          .returning()
        const paying = moved.filter((r) => r.purpose === 'withdrawal')
        if (paying.length > 0) {
          const hashOf = new Map(paying.map((r) => [r.id, r.hash]))
          const waiting = await tx
            .select({ id: withdrawals.id, outboundTxId: withdrawals.outboundTxId })
            .from(withdrawals)
            .where(inArray(withdrawals.outboundTxId, [...hashOf.keys()]))
            .orderBy(withdrawals.id)
          await transitionWithdrawals(
            tx,
            ['BATCHED'],
            waiting.map((w) => ({
              id: w.id,
              to: 'BROADCAST',
              data: { hash: hashOf.get(w.outboundTxId as string) },
            })),
          )
        }
        return moved
      }),
    (row, err) => noteFailure(progress, row, err),
  )
  progress.broadcast += moved.length
  return moved
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
 * ledger settles or releases them. Runs inside the caller's database transaction (`settleMined` puts several
 * transactions' settlements in one), so a transaction's settlement is all or nothing.
 */
async function settle(
  tx: Tx,
  ctx: OutboundContext,
  chain: LoadedChain,
  live: OutboundRow,
  winner: OutboundRow,
  status: Extract<TxStatus, { state: 'mined' }>,
  group: readonly OutboundRow[],
): Promise<'confirmed' | 'failed'> {
  const outcome = status.success ? 'confirmed' : 'failed'
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
  if (settled.length === 0) return outcome
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
    multisig: undefined,
  }
  // out of a multisig cold wallet: its proposal says where to and who paid the fee
  if (winner.purpose === 'multisig') {
    await settleMultisig(tx, chain, winner, status)
    return outcome
  }
  const move = moves[winner.purpose]
  if (move) {
    if (status.success && move.to)
      await postInternalMove(tx, ref('move'), move.from, move.to, winner.amount ?? 0n)
    await postFee(tx, ref('fee', native), move.from, status.fee)
    return outcome
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
    if (row.purpose === 'multisig') await abandonMultisig(tx, row.id, reason)
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

/**
 * The replacement groups of `rows` (see `replacementGroup`) by row id: on account chains one query for all of
 * them (same sender and nonce), else the chain of `replaces` links per row.
 */
async function replacementGroups(db: Db, rows: readonly OutboundRow[]): Promise<Map<string, OutboundRow[]>> {
  const groups = new Map<string, OutboundRow[]>()
  const nonced = rows.filter((r) => r.nonce !== null)
  const key = (r: Pick<OutboundRow, 'chain' | 'fromAddress' | 'nonce'>) =>
    `${r.chain}|${r.fromAddress}|${r.nonce}`
  for (let i = 0; i < nonced.length; i += rowsPerStatement) {
    const chunk = nonced.slice(i, i + rowsPerStatement)
    const members = await db
      .select()
      .from(outboundTxs)
      .where(
        and(
          inArray(outboundTxs.chain, [...new Set(chunk.map((r) => r.chain))]),
          inArray(outboundTxs.fromAddress, [...new Set(chunk.map((r) => r.fromAddress))]),
          inArray(outboundTxs.nonce, [...new Set(chunk.map((r) => r.nonce as bigint))]),
        ),
      )
    const byKey = new Map<string, OutboundRow[]>()
    for (const m of members) byKey.set(key(m), [...(byKey.get(key(m)) ?? []), m])
    for (const row of chunk) groups.set(row.id, byKey.get(key(row)) ?? [row])
  }
  for (const row of rows) if (row.nonce === null) groups.set(row.id, await replacementGroup(db, row))
  return groups
}

/** A transaction mined deep enough, with the one of its group that was mined, ready to settle. */
type Mined = {
  row: OutboundRow
  winner: OutboundRow
  status: Extract<TxStatus, { state: 'mined' }>
  group: readonly OutboundRow[]
}

/**
 * Step 6: follow sent transactions until they are deep enough, replacing the stuck ones. One round for all of
 * them: each sender's chain nonce read once, then every hash of every replacement group asked (several in
 * flight), then the mined ones settled several per database transaction (`settleMined`).
 */
async function trackSent(
  ctx: OutboundContext,
  chain: LoadedChain,
  rows: readonly OutboundRow[],
  tipHeight: bigint,
  progress: OutboundProgress,
): Promise<void> {
  if (rows.length === 0) return
  const payouts = chain.driver.payouts as PayoutDriver
  const groups = await replacementGroups(ctx.db, rows)
  // the chain's nonces are read BEFORE the statuses: a transaction mined in between then shows as mined, so a
  // used nonce below is never one of ours
  const nonces = new Map<string, { next?: bigint; error?: unknown }>()
  const confirmedNonce = payouts.confirmedNonce?.bind(payouts)
  if (confirmedNonce)
    await eachLimited(
      [...new Set(rows.filter((r) => r.nonce !== null).map((r) => r.fromAddress))],
      callsInFlight,
      async (address) => {
        nonces.set(
          address,
          await confirmedNonce(address).then(
            (next) => ({ next }),
            (error: unknown) => ({ error }),
          ),
        )
      },
    )
  const statuses = new Map<string, { status?: TxStatus; error?: unknown }>()
  const hashes = new Set<string>()
  for (const row of rows) {
    if (row.nonce !== null && nonces.get(row.fromAddress)?.error !== undefined) continue
    for (const member of groups.get(row.id) ?? [row]) if (member.hash) hashes.add(member.hash)
  }
  await eachLimited([...hashes], callsInFlight, async (hash) => {
    statuses.set(
      hash,
      await payouts.status(hash).then(
        (status) => ({ status }),
        (error: unknown) => ({ error }),
      ),
    )
  })
  const statusOf = (hash: string): TxStatus => {
    const known = statuses.get(hash)
    if (!known || known.error !== undefined || !known.status)
      throw known?.error ?? new Error(`no status of ${hash}`)
    return known.status
  }
  const mined: Mined[] = []
  for (const row of rows)
    try {
      const outcome = await follow(ctx, chain, row, groups.get(row.id) ?? [row], tipHeight, statusOf, nonces)
      if (outcome === 'waiting') continue
      if (outcome === 'failed' || outcome === 'replaced') progress[outcome]++
      else mined.push(outcome)
    } catch (err) {
      noteFailure(progress, row, err)
    }
  await settleMined(ctx, chain, mined, progress)
}

/** What one sent transaction's statuses say: settle it (mined deep enough), wait, or it failed or was replaced. */
async function follow(
  ctx: OutboundContext,
  chain: LoadedChain,
  row: OutboundRow,
  group: readonly OutboundRow[],
  tipHeight: bigint,
  statusOf: (hash: string) => TxStatus,
  nonces: ReadonlyMap<string, { next?: bigint; error?: unknown }>,
): Promise<Mined | 'failed' | 'replaced' | 'waiting'> {
  const payouts = chain.driver.payouts as PayoutDriver
  const read = row.nonce !== null ? nonces.get(row.fromAddress) : undefined
  if (read?.error !== undefined) throw read.error
  const next = read?.next
  let pending = false
  let ownState: TxStatus['state'] = 'unknown'
  for (const candidate of group) {
    if (!candidate.hash) continue
    const status = statusOf(candidate.hash)
    if (candidate.id === row.id) ownState = status.state
    if (status.state === 'pending') pending = true
    if (status.state !== 'mined') continue
    const depth = tipHeight - status.blockHeight + 1n
    if (depth < BigInt(chain.driver.confirmations)) return 'waiting'
    return { row, winner: candidate, status, group }
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

/**
 * Settles mined transactions, several per database transaction: each one's settlement is whole or absent (a
 * chunk that fails is settled again one transaction at a time, so one bad settlement holds up no other).
 */
async function settleMined(
  ctx: OutboundContext,
  chain: LoadedChain,
  mined: readonly Mined[],
  progress: OutboundProgress,
): Promise<void> {
  const outcomes = await writeInChunks(
    mined,
    (chunk) =>
      ctx.db.transaction(async (tx) => {
        // a withdrawal transaction mined as sent (not a replaced one) on an account chain: in bulk statements
        const plain = (m: Mined) =>
          !can(chain, 'coins') && m.winner.id === m.row.id && m.winner.purpose === 'withdrawal'
        const [bulk, rest] = await Promise.all([
          settleWithdrawalTxs(tx, chain, chunk.filter(plain)),
          // coins: a settlement may spend the change another one creates, so they go in order
          runWithin(
            chunk.filter((m) => !plain(m)),
            !can(chain, 'coins'),
            (m) => settle(tx, ctx, chain, m.row, m.winner, m.status, m.group),
          ),
        ])
        return [...bulk, ...rest]
      }),
    (m, err) => noteFailure(progress, m.row, err),
  )
  for (const outcome of outcomes) progress[outcome]++
}

/**
 * What `settle` does for mined withdrawal transactions that are their group's live one, for many at once in
 * bulk statements inside the caller's database transaction: the transactions `confirmed` or `failed` in one
 * update, their withdrawals read in one select and moved in bulk (`transitionMany`: each takes its share of its
 * transaction's fee), and every ledger booking (the ones `settle` makes, captured from postings.ts) written in
 * one insert. A transaction another pass settled first books nothing again. Answers each one's outcome.
 */
async function settleWithdrawalTxs(
  tx: Tx,
  chain: LoadedChain,
  items: readonly Mined[],
): Promise<Array<'confirmed' | 'failed'>> {
  if (items.length === 0) return []
  const byId = new Map(items.map((m) => [m.winner.id, m]))
  const settled = await tx
    .update(outboundTxs)
    .set({
      status: perRow(
        items,
        (m) => m.winner.id,
        (m) => (m.status.success ? 'confirmed' : 'failed'),
      ),
      fee: perRow(
        items,
        (m) => m.winner.id,
        (m) => sql`${String(m.status.fee)}::numeric`,
      ),
      blockHeight: perRow(
        items,
        (m) => m.winner.id,
        (m) => sql`${String(m.status.blockHeight)}::bigint`,
      ),
      updatedAt: new Date(),
    })
    .where(
      and(
        inArray(
          outboundTxs.id,
          items.map((m) => m.winner.id),
        ),
        inArray(outboundTxs.status, ['broadcast', 'replaced', 'signed']),
      ),
    )
    .returning({ id: outboundTxs.id })
  const native = chain.driver.nativeAsset.id
  const bookings: Array<(tx: Tx) => Promise<void>> = []
  // a transaction that ran and failed still burned its fee
  for (const { id } of settled) {
    const m = byId.get(id) as Mined
    if (!m.status.success)
      bookings.push((t) =>
        postFee(
          t,
          { chain: chain.name, asset: native, refType: 'outbound', refId: `${id}#fee` },
          'treasury',
          m.status.fee,
        ),
      )
  }
  const paying =
    settled.length === 0
      ? []
      : await tx
          .select()
          .from(withdrawals)
          .where(
            inArray(
              withdrawals.outboundTxId,
              settled.map((r) => r.id),
            ),
          )
          .orderBy(withdrawals.id)
  const of = new Map<string, WithdrawalRow[]>()
  for (const w of paying) of.set(w.outboundTxId as string, [...(of.get(w.outboundTxId as string) ?? []), w])
  const moves: WithdrawalMove[] = []
  const feeOf = new Map<string, bigint>()
  for (const [txId, rows] of of) {
    const { winner, status } = byId.get(txId) as Mined
    // one fee per transaction, split over its withdrawals (the first takes the remainder)
    const share = status.fee / BigInt(rows.length)
    for (const [i, w] of rows.entries()) {
      const fee = i === 0 ? status.fee - share * BigInt(rows.length - 1) : share
      feeOf.set(w.id, fee)
      moves.push({
        id: w.id,
        to: status.success ? 'CONFIRMED' : 'FAILED',
        networkFee: fee,
        ...(status.success ? {} : { failureReason: 'the transaction failed on chain' }),
        data: { hash: winner.hash, blockHeight: status.blockHeight.toString() },
      })
    }
  }
  for (const moved of await transitionWithdrawals(tx, ['BATCHED', 'BROADCAST'], moves))
    bookings.push((t) =>
      moved.status === 'CONFIRMED'
        ? postWithdrawalSettle(t, moved, { nativeAsset: native, amount: feeOf.get(moved.id) ?? 0n })
        : postWithdrawalRelease(t, moved),
    )
  const sets: Array<Array<typeof ledgerPostings.$inferInsert>> = []
  for (const book of bookings) sets.push(...(await capturePostings(book)))
  await writePostings(tx, sets)
  return items.map((m) => (m.status.success ? 'confirmed' : 'failed'))
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
 * One pass over a chain's open outbound transactions: sign what is built (when this process holds the signer)
 * in rounds, each round's signatures persisted in one statement and then sent while the next round is signed (a
 * sender's nonces in order, several in flight), record the sent ones in one database transaction, and, side by
 * side, track what was already sent (statuses read in one round, the mined ones settled in bulk statements,
 * several per database transaction). Each step persists
 * before the next runs, so a process killed at any line resumes from the last persisted step and never sends
 * different bytes for a nonce.
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
  const inState = (status: OutboundRow['status']) => open.filter((r) => r.status === status)
  // the rows each side takes are disjoint: what was sent before this pass is tracked while the rest goes out
  const sides = await Promise.allSettled([
    signAndBroadcast(
      ctx,
      chain,
      open.filter((r) => r.status === 'built' || r.status === 'signed'),
      tip.height,
      progress,
    ),
    trackSent(ctx, chain, inState('broadcast'), tip.height, progress),
  ])
  for (const side of sides) if (side.status === 'rejected') throw side.reason
  return progress
}
