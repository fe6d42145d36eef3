import type { BlockRef, Transfer } from '@tollgate/sdk'
import type { Db } from '../../db/client.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import type { DepositChange } from '../deposits/lifecycle.ts'
import { newId } from '../ids.ts'
import { type PaymentChange, paymentsAwaitingConfirmations, refreshPayments } from '../payments/refresh.ts'
import { blocksLink, storeBlockRefs } from './block-refs.ts'
import { acquireLease, advanceCursor, type Cursor, haltChain, type LeaseHolder } from './cursors.ts'
import { matchCustomerDeposits, matchDeposits, recordCustomerDeposits, recordDeposits } from './deposits.ts'
import { ReorgTooDeepError } from './errors.ts'
import { unionKeySets } from './key-set.ts'
import { followMempool } from './mempool.ts'
import { recordMisdirected, settleMisdirected } from './misdirected.ts'
import { type NetworkVerdicts, verifyNetwork, wrongNetworkMessage } from './network.ts'
import { type Ancestor, findCommonAncestor, rollBack } from './reorg.ts'
import { recordScanFailure, recordScanSuccess, recordTip, type ScanCost, type ScanStage } from './status.ts'
import { type CustomerKeyRegistry, refreshWatchSet, type WatchSet } from './watch-set.ts'

export type SyncLogger = {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** What a scanner process keeps between runs: watch sets and adaptive range sizes, per chain. */
export type ScannerState = {
  /** Identifies this scanner in the chain's lease. */
  owner: string
  watch: Map<string, WatchSet>
  range: Map<string, number>
  /** The node's network verdict per chain (see `verifyNetwork`). */
  network: NetworkVerdicts
  /** Customer address keys per address family, shared by the family's watch sets. */
  customerKeys: CustomerKeyRegistry
}

export type SyncContext = {
  db: Db
  log: SyncLogger
  scanner: ScannerState
  /** How long a scanner's lease lasts without renewal; another scanner may take over after that. */
  leaseMs?: number
  /** KYT screening is on: every new deposit is stored with a pending screening. */
  screen?: boolean
  /**
   * Called with the payment changes of each stored range (and of a rollback) as soon as it commits, before the run
   * goes on or records its status: what subscribers wait for goes out at once. They are in `changes` as well, but
   * for the `payment.updated` signals of payments whose amounts moved without a status change.
   */
  onCommitted?: (changes: PaymentChange[]) => void
  /** Called with the customer deposit changes of each stored range (and rollback) once it commits. */
  onDeposits?: (changes: DepositChange[]) => void
  now?: () => Date
}

export type SyncResult = {
  chain: string
  /** Height of the last block scanned and stored. */
  height: bigint
  tip: bigint
  blocks: number
  transfers: number
  changes: PaymentChange[]
  /** Customer deposits seen, confirmed, held or reverted by this run. */
  deposits: DepositChange[]
  reorgDepth?: number
  halted?: string
  /** Another scanner holds the chain. */
  busy?: boolean
  /** The node is on another network than the configured one: nothing was scanned (the message names both). */
  wrongNetwork?: string
  /** What the stored ranges cost the node, summed over the ranges whose driver counted it. */
  cost?: ScanCost
}

export function newScannerState(): ScannerState {
  return {
    owner: newId('scn'),
    watch: new Map(),
    range: new Map(),
    network: new Map(),
    customerKeys: new Map(),
  }
}

function leaseHolder(ctx: SyncContext): LeaseHolder {
  return { db: ctx.db, owner: ctx.scanner.owner, leaseMs: ctx.leaseMs }
}

/**
 * Stores one scanned range in one transaction: its deposits, its block refs and the cursor (fenced by the
 * lease), plus the payment updates they cause. The cursor only moves with the data of its range.
 */
async function commitRange(
  ctx: SyncContext,
  chain: LoadedChain,
  watch: WatchSet,
  found: readonly Transfer[],
  blocks: readonly BlockRef[],
  now: Date,
): Promise<{ changes: PaymentChange[]; touched: PaymentChange[]; deposits: DepositChange[] }> {
  const last = blocks.at(-1)!
  return ctx.db.transaction(async (tx) => {
    const { deposits, misdirected, deadlines } = await matchDeposits(tx, watch, found)
    await recordDeposits(tx, chain, deposits, deadlines, { screen: ctx.screen })
    const customer = await matchCustomerDeposits(tx, watch, found)
    const depositChanges = await recordCustomerDeposits(tx, chain, customer, last.height, {
      screen: ctx.screen,
      now,
    })
    const notices = await recordMisdirected(tx, chain, misdirected, now)
    await settleMisdirected(tx, chain, last.height, { screen: ctx.screen })
    await storeBlockRefs(tx, chain, blocks)
    await advanceCursor(tx, leaseHolder(ctx), chain, last, now)
    const ids = [
      ...deposits.map((d) => d.paymentId),
      ...(await paymentsAwaitingConfirmations(tx, chain.name)),
    ]
    const touched: PaymentChange[] = []
    const refreshed = await refreshPayments(tx, {
      paymentIds: ids,
      tips: new Map([[chain.name, last.height]]),
      now,
      touched,
    })
    return { changes: [...notices, ...refreshed], touched, deposits: depositChanges }
  })
}

/**
 * When the node's block at the cursor is not ours, rolls back to the common ancestor. Answers the cursor to
 * scan on from, or the halt when the reorg is deeper than the finality depth.
 */
async function followReorg(
  ctx: SyncContext,
  chain: LoadedChain,
  cursor: Cursor,
  result: SyncResult,
  now: Date,
): Promise<Cursor | undefined> {
  const remote = await chain.driver.getBlockRef(cursor.height)
  if (remote.hash === cursor.hash) return cursor
  let ancestor: Ancestor
  try {
    ancestor = await findCommonAncestor(ctx.db, chain, cursor)
  } catch (err) {
    if (!(err instanceof ReorgTooDeepError)) throw err
    await haltChain(ctx.db, chain.name, err.message)
    ctx.log.error({ chain: chain.name, reorg_depth: err.depth }, err.message)
    result.halted = err.message
    result.reorgDepth = err.depth
    return undefined
  }
  const depth = Number(cursor.height - ancestor.height)
  ctx.log.warn(
    { chain: chain.name, reorg_depth: depth, ancestor: ancestor.height.toString() },
    'reorg: rolling back',
  )
  const undone = await rollBack(ctx.db, chain, ancestor, now, leaseHolder(ctx))
  if (undone.payments.length > 0) ctx.onCommitted?.(undone.payments)
  if (undone.deposits.length > 0) ctx.onDeposits?.(undone.deposits)
  result.changes.push(...undone.payments)
  result.deposits.push(...undone.deposits)
  result.reorgDepth = depth
  return { ...cursor, height: ancestor.height, hash: ancestor.hash }
}

/**
 * One scanner run for a chain: take the lease, handle a reorg, scan forward in adaptive ranges up to the tip
 * (or the deadline), and store each range atomically with the cursor. Jobs call this; it is safe to run
 * twice or to kill at any line, because the cursor only moves with the data of its range.
 *
 * @example
 * const result = await syncChain(ctx, chains.get('ethereum')!, { deadline: Date.now() + 10_000 })
 */
export async function syncChain(
  ctx: SyncContext,
  chain: LoadedChain,
  options: { deadline?: number } = {},
): Promise<SyncResult> {
  const now = () => ctx.now?.() ?? new Date()
  const deadline = options.deadline ?? Date.now() + 10_000
  const result: SyncResult = {
    chain: chain.name,
    height: -1n,
    tip: -1n,
    blocks: 0,
    transfers: 0,
    changes: [],
    deposits: [],
  }
  // before the lease: a first cursor is never taken from a node on another network
  let verdict: Awaited<ReturnType<typeof verifyNetwork>>
  try {
    verdict = await verifyNetwork({ db: ctx.db, log: ctx.log, verdicts: ctx.scanner.network }, chain)
  } catch (err) {
    // recorded only if this scanner already holds the chain (the record is fenced by the lease)
    await recordScanFailure(ctx.db, ctx.scanner.owner, chain.name, err, 'network').catch(() => undefined)
    throw err
  }
  if (!verdict.ok)
    return { ...result, wrongNetwork: wrongNetworkMessage(chain.name, verdict.expected, verdict.actual) }
  const cursor = await acquireLease(leaseHolder(ctx), chain, now())
  result.height = cursor?.height ?? -1n
  if (!cursor) return { ...result, busy: true }
  if (cursor.haltedReason) return { ...result, halted: cursor.haltedReason }

  // how the run went is recorded for every process to read (Chain.status, readiness, metrics): codes, not messages
  const progress: { stage: ScanStage } = { stage: 'tip' }
  try {
    await scanForward(ctx, chain, cursor, result, progress, deadline, now)
  } catch (err) {
    // a node that failed may come back as another node: its network is asked again before the next run
    ctx.scanner.network.delete(chain.name)
    await recordScanFailure(ctx.db, ctx.scanner.owner, chain.name, err, progress.stage).catch((recordErr) =>
      ctx.log.warn({ chain: chain.name, err: recordErr }, 'scan failure not recorded'),
    )
    throw err
  }
  if (!result.halted)
    await recordScanSuccess(ctx.db, ctx.scanner.owner, chain.name, result.cost).catch((err) =>
      ctx.log.warn({ chain: chain.name, err }, 'scan status not recorded'),
    )
  return result
}

/** The body of a run under the lease: reorg check, watch set, ranges up to the tip (or the deadline). */
async function scanForward(
  ctx: SyncContext,
  chain: LoadedChain,
  start: Cursor,
  result: SyncResult,
  progress: { stage: ScanStage },
  deadline: number,
  now: () => Date,
): Promise<void> {
  let cursor = start
  const tip = await chain.driver.getTip()
  result.tip = tip.height
  // before any range is stored: the cursor never passes the recorded tip
  await recordTip(ctx.db, ctx.scanner.owner, chain.name, tip.height).catch((err) =>
    ctx.log.warn({ chain: chain.name, err }, 'scan tip not recorded'),
  )
  progress.stage = 'reorg'
  if (cursor.height >= 0n && cursor.height <= tip.height) {
    const next = await followReorg(ctx, chain, cursor, result, now())
    if (!next) return
    cursor = next
  }

  progress.stage = 'watch'
  let watch = ctx.scanner.watch.get(chain.name) ?? chain.name
  watch = await refreshWatchSet(ctx, chain.driver, watch, {
    monitoringWindowMs: chain.settings.monitoringWindowMs,
    siblings: chain.siblings,
    customerKeys: ctx.scanner.customerKeys,
  })
  ctx.scanner.watch.set(chain.name, watch)
  const watchKeys = unionKeySets(new Set([...watch.byKey.keys(), ...watch.elsewhere.keys()]), watch.customers)

  let range = ctx.scanner.range.get(chain.name) ?? Math.min(10, chain.settings.maxRange)
  while (cursor.height < tip.height && Date.now() < deadline) {
    const from = cursor.height + 1n
    const to = from + BigInt(range) - 1n < tip.height ? from + BigInt(range) - 1n : tip.height
    let scanned: Awaited<ReturnType<typeof chain.driver.scan>>
    progress.stage = 'scan'
    try {
      scanned = await chain.driver.scan({ from, to, watch: watchKeys })
    } catch (err) {
      // a smaller range next time; the job's retry/backoff handles the error itself
      ctx.scanner.range.set(chain.name, Math.max(1, Math.floor(range / 2)))
      throw err
    }
    const blocks = [...scanned.blocks].sort((a, b) => (a.height < b.height ? -1 : 1))
    if (blocks.length !== Number(to - from + 1n) || !blocksLink(cursor, blocks)) {
      ctx.log.warn(
        { chain: chain.name, from: from.toString() },
        'blocks do not link onto the cursor; rechecking next run',
      )
      break
    }
    progress.stage = 'store'
    const committed = await commitRange(ctx, chain, watch, scanned.transfers, blocks, now())
    // same-status updates (amounts moved) are signals for live readers only, not changes of the run
    const signals = [...committed.changes, ...committed.touched]
    if (signals.length > 0) ctx.onCommitted?.(signals)
    if (committed.deposits.length > 0) ctx.onDeposits?.(committed.deposits)
    result.changes.push(...committed.changes)
    result.deposits.push(...committed.deposits)
    result.blocks += blocks.length
    if (scanned.cost) {
      const sum = result.cost ?? { blocks: 0, calls: 0, bytes: 0 }
      result.cost = {
        blocks: sum.blocks + blocks.length,
        calls: sum.calls + scanned.cost.calls,
        bytes: sum.bytes + scanned.cost.bytes,
      }
    }
    result.transfers += scanned.transfers.filter(
      (t) => watch.byKey.has(t.to) || watch.customers.has(t.to),
    ).length
    const last = blocks.at(-1)!
    cursor = { ...cursor, height: last.height, hash: last.hash }
    range = Math.min(chain.settings.maxRange, range * 2)
    ctx.scanner.range.set(chain.name, range)
  }
  result.height = cursor.height
  // the mempool after the blocks: what a block just confirmed is no longer news there
  if (chain.driver.mempool && Date.now() < deadline) {
    progress.stage = 'mempool'
    const shown = await followMempool({ db: ctx.db, screen: ctx.screen }, chain, watch, now())
    const signals = [...shown.changes, ...shown.touched]
    if (signals.length > 0) ctx.onCommitted?.(signals)
    result.changes.push(...shown.changes)
  }
}
