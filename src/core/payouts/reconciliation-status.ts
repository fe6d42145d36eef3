import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { reconciliationRuns, type StoredDiscrepancy, type StoredFunding } from '../../db/schema/index.ts'
import type { Reconciliation } from './reconcile.ts'

// The latest reconciliation of each chain, kept for the overview: the scheduled job records every run it
// completes (replacing the chain's previous report) and the code of every run that fails. Amounts stay exact:
// base units as decimal strings in the row, bigint again when read.

/** A disagreement between the ledger and the chain, as the last run found it (base units). */
export type RecordedDiscrepancy = {
  role: string
  asset: string
  ledger: bigint
  onChain: bigint
  difference: bigint
}

/** The latest reconciliation of one chain. */
export type ReconciliationStatus = {
  chain: string
  /** When the last run completed; null while every run so far failed. */
  checkedAt: Date | null
  settled: boolean | null
  linesChecked: number
  discrepancies: RecordedDiscrepancy[]
  /** Operator funding the last completed run booked. */
  funding: Array<{ role: string; asset: string; amount: bigint }>
  lastErrorCode: string | null
  lastErrorAt: Date | null
  failedRuns: number
}

/**
 * Keeps `report` as its chain's latest reconciliation (the previous one is replaced; the failure count resets,
 * the last error's code and time stay for the record).
 *
 * @example
 * await recordReconciliation(ctx.db, await reconcileChain(ctx, chain))
 */
export async function recordReconciliation(db: Db, report: Reconciliation): Promise<void> {
  const discrepancies: StoredDiscrepancy[] = report.discrepancies.map((d) => ({
    role: d.role,
    asset: d.asset,
    ledger: d.ledger.toString(),
    onChain: d.onChain.toString(),
    difference: d.difference.toString(),
  }))
  const funding: StoredFunding[] = report.funding.map((f) => ({
    role: f.role,
    asset: f.asset,
    amount: f.amount.toString(),
  }))
  const values = {
    checkedAt: sql`now()`,
    settled: report.settled,
    linesChecked: report.lines.length,
    discrepancies,
    funding,
    failedRuns: 0,
  }
  await db
    .insert(reconciliationRuns)
    .values({ chain: report.chain, ...values })
    .onConflictDoUpdate({ target: reconciliationRuns.chain, set: values })
}

/**
 * Records that a run of `chain` failed with `code` (a code only: messages may carry a node's URL and its key);
 * the last completed report stays.
 *
 * @example
 * await recordReconciliationFailure(ctx.db, 'ethereum', 'RPC_DEADLINE')
 */
export async function recordReconciliationFailure(db: Db, chain: string, code: string): Promise<void> {
  await db
    .insert(reconciliationRuns)
    .values({ chain, lastErrorCode: code, lastErrorAt: sql`now()`, failedRuns: 1 })
    .onConflictDoUpdate({
      target: reconciliationRuns.chain,
      set: {
        lastErrorCode: code,
        lastErrorAt: sql`now()`,
        failedRuns: sql`${reconciliationRuns.failedRuns} + 1`,
      },
    })
}

/**
 * Every chain's latest reconciliation that was recorded (chains never reconciled are absent), by chain name.
 *
 * @example
 * const all = await readReconciliations(db)
 * all.get('ethereum')?.discrepancies // [{ role: 'treasury', asset: '…', difference: -100n, … }]
 */
export async function readReconciliations(db: Db): Promise<Map<string, ReconciliationStatus>> {
  const rows = await db.select().from(reconciliationRuns)
  return new Map(
    rows.map((r) => [
      r.chain,
      {
        chain: r.chain,
        checkedAt: r.checkedAt,
        settled: r.settled,
        linesChecked: r.linesChecked,
        discrepancies: r.discrepancies.map((d) => ({
          role: d.role,
          asset: d.asset,
          ledger: BigInt(d.ledger),
          onChain: BigInt(d.onChain),
          difference: BigInt(d.difference),
        })),
        funding: r.funding.map((f) => ({ role: f.role, asset: f.asset, amount: BigInt(f.amount) })),
        lastErrorCode: r.lastErrorCode,
        lastErrorAt: r.lastErrorAt,
        failedRuns: r.failedRuns,
      },
    ]),
  )
}
