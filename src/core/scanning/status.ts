import { and, eq, type SQLWrapper, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { chainCursors } from '../../db/schema/index.ts'
import { errorCode, errorKind } from '../errors.ts'

// How each chain's scanning is going, kept on its cursor row so every process (the API's readiness and metrics,
// the CLI) reads what the lease holder saw. Times come from the database's clock, written and read, so the
// ages do not depend on which machine asks. Only codes are kept, never messages: a node's URL carries its key.

/** The step of a scan run that failed (for logs and `Chain.status`). */
export type ScanStage = 'network' | 'tip' | 'reorg' | 'watch' | 'scan' | 'store' | 'mempool'

/** Moves `tip_changed_at` only when the tip went up: a node stuck on its tip (or answering a lower one) has not moved. */
const tipMoved = (tip: bigint) =>
  sql`case when ${chainCursors.tipHeight} is null or ${chainCursors.tipHeight} < ${tip.toString()}::numeric then now() else ${chainCursors.tipChangedAt} end`

/**
 * Records the node's tip as a run sees it, before the run stores anything, so the cursor never passes the
 * recorded tip (no false "node behind" while a run is under way). Only under the lease: a scanner that lost the
 * chain leaves the holder's record alone.
 *
 * @example
 * await recordTip(db, scanner.owner, 'ethereum', tip.height)
 */
export async function recordTip(db: Db, owner: string, chain: string, tip: bigint): Promise<void> {
  await db
    .update(chainCursors)
    .set({ tipChangedAt: tipMoved(tip), tipHeight: tip })
    .where(and(eq(chainCursors.chain, chain), eq(chainCursors.leaseOwner, owner)))
}

/** What a run's ranges cost the node: blocks scanned, and the calls and response bytes the driver counted. */
export type ScanCost = { blocks: number; calls: number; bytes: number }

/**
 * Records a run that finished without an error: the success time, the end of any failure streak and, when it
 * scanned blocks the driver counted, what they cost. Under the lease, like `recordTip`.
 *
 * @example
 * await recordScanSuccess(db, scanner.owner, 'ethereum', { blocks: 10, calls: 12, bytes: 480_000 })
 */
export async function recordScanSuccess(
  db: Db,
  owner: string,
  chain: string,
  cost?: ScanCost,
): Promise<void> {
  const counted =
    cost && cost.blocks > 0 ? { costBlocks: cost.blocks, costCalls: cost.calls, costBytes: cost.bytes } : {}
  await db
    .update(chainCursors)
    .set({ lastScanAt: sql`now()`, failedRuns: 0, failingSince: null, ...counted })
    .where(and(eq(chainCursors.chain, chain), eq(chainCursors.leaseOwner, owner)))
}

/**
 * Records a run that failed: the error's code (or `UNKNOWN`) and kind, the step, the time, and one more failed run
 * in a row. Under the lease, like `recordTip`.
 *
 * @example
 * await recordScanFailure(db, scanner.owner, 'ethereum', err, 'scan')
 */
export async function recordScanFailure(
  db: Db,
  owner: string,
  chain: string,
  err: unknown,
  stage: ScanStage,
): Promise<void> {
  await db
    .update(chainCursors)
    .set({
      lastErrorCode: failureCode(err),
      lastErrorKind: errorKind(err),
      lastErrorStage: stage,
      lastErrorAt: sql`now()`,
      failedRuns: sql`${chainCursors.failedRuns} + 1`,
      failingSince: sql`coalesce(${chainCursors.failingSince}, now())`,
    })
    .where(and(eq(chainCursors.chain, chain), eq(chainCursors.leaseOwner, owner)))
}

/**
 * The stable code of a failure for the status record: its own code, or `UNKNOWN` for an error of no known type
 * (its message is not kept).
 *
 * @example
 * failureCode(new GatewayError('retryable', 'RPC_DEADLINE', '…')) // 'RPC_DEADLINE'
 */
export function failureCode(err: unknown): string {
  return errorCode(err) ?? 'UNKNOWN'
}

/** A chain's scanning as recorded, ages in seconds by the database's clock (null: never happened). */
export type ScanStatus = {
  chain: string
  scannedHeight: bigint
  tip: bigint | null
  haltedReason: string | null
  lastScanAt: Date | null
  lastScanAgeSeconds: number | null
  tipChangedAt: Date | null
  tipAgeSeconds: number | null
  lastErrorCode: string | null
  lastErrorKind: string | null
  lastErrorStage: string | null
  lastErrorAt: Date | null
  failedRuns: number
  /** Seconds since the first of the failed runs in a row (null while runs succeed). */
  failingForSeconds: number | null
  /** Milliseconds since the last successful run, or since failures began when none succeeded (null: neither). */
  quietMs: number | null
  /** The timestamp of the last block scanned (the cursor's block; null before the first block or once pruned). */
  lastBlockAt: Date | null
  /** RPC calls and response bytes per block of the last run that scanned counted blocks (null: none yet). */
  rpcCallsPerBlock: number | null
  rpcBytesPerBlock: number | null
}

const age = (column: SQLWrapper) => sql<string | null>`extract(epoch from (now() - ${column}))::float8`

/**
 * Every chain's recorded scanning, in one statement.
 *
 * @example
 * for (const s of await readScanStatus(db)) console.log(s.chain, s.tip, s.scannedHeight)
 */
export async function readScanStatus(db: Db): Promise<ScanStatus[]> {
  const rows = await db
    .select({
      chain: chainCursors.chain,
      scannedHeight: chainCursors.height,
      tip: chainCursors.tipHeight,
      haltedReason: chainCursors.haltedReason,
      lastScanAt: chainCursors.lastScanAt,
      lastScanAge: age(chainCursors.lastScanAt),
      tipChangedAt: chainCursors.tipChangedAt,
      tipAge: age(chainCursors.tipChangedAt),
      lastErrorCode: chainCursors.lastErrorCode,
      lastErrorKind: chainCursors.lastErrorKind,
      lastErrorStage: chainCursors.lastErrorStage,
      lastErrorAt: chainCursors.lastErrorAt,
      failedRuns: chainCursors.failedRuns,
      failingFor: age(chainCursors.failingSince),
      costBlocks: chainCursors.costBlocks,
      costCalls: chainCursors.costCalls,
      costBytes: chainCursors.costBytes,
      quiet: sql<
        string | number | null
      >`extract(epoch from (now() - coalesce(${chainCursors.lastScanAt}, ${chainCursors.failingSince}))) * 1000`,
      lastBlockTime: sql<
        string | number | null
      >`(select b.time from block_refs b where b.chain = chain_cursors.chain and b.height = chain_cursors.height)`,
    })
    .from(chainCursors)
  return rows.map(
    ({ lastScanAge, tipAge, failingFor, quiet, lastBlockTime, costBlocks, costCalls, costBytes, ...r }) => ({
      ...r,
      rpcCallsPerBlock: costBlocks && costCalls !== null ? costCalls / costBlocks : null,
      rpcBytesPerBlock: costBlocks && costBytes !== null ? costBytes / costBlocks : null,
      quietMs: quiet === null ? null : Math.max(0, Number(quiet)),
      lastBlockAt: lastBlockTime === null ? null : new Date(Number(lastBlockTime) * 1000),
      lastScanAgeSeconds: seconds(lastScanAge),
      tipAgeSeconds: seconds(tipAge),
      failingForSeconds: seconds(failingFor),
    }),
  )
}

/** An age as the database answers it (a float, possibly as a string), in whole seconds, never negative. */
function seconds(value: string | number | null): number | null {
  if (value === null) return null
  return Math.max(0, Math.floor(Number(value)))
}
