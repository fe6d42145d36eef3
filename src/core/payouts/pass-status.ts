import { inArray, type SQLWrapper, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { type FailedStage, outboundTxs, payoutPasses, withdrawals } from '../../db/schema/index.ts'

// How payouts are going per chain, for every process to read: the signer records each pass (when, how long,
// what failed: codes only, never messages), and the backlog is counted from the withdrawals and transactions
// themselves when asked, so it is never staler than the database. Ages come from the database's clock.

/** What one payout pass did, as `recordPayoutPass` keeps it. */
export type PayoutPassRecord = {
  durationMs: number
  failedStages: FailedStage[]
  /** Transactions or sweeps whose own step failed while their stage went on, with their codes. */
  failedSteps: Array<{ code: string }>
}

/**
 * Records a finished pass for the chain: its duration and failures. The last error (code, stage, time) stays
 * until another replaces it; `failingSince` marks when the passes started failing, cleared by a clean pass.
 *
 * @example
 * await recordPayoutPass(db, 'ethereum', { durationMs: 840, failedStages: [], failedSteps: [] })
 */
export async function recordPayoutPass(db: Db, chain: string, pass: PayoutPassRecord): Promise<void> {
  const stage = pass.failedStages[0]
  const step = pass.failedSteps[0]
  const lastError = stage ?? (step ? { stage: 'step', code: step.code } : undefined)
  const common = {
    finishedAt: sql`now()`,
    durationMs: Math.max(0, Math.round(pass.durationMs)),
    failedStages: pass.failedStages,
    failedSteps: pass.failedSteps.length,
  }
  const failed = lastError
    ? { lastErrorCode: lastError.code, lastErrorStage: lastError.stage, lastErrorAt: sql`now()` }
    : {}
  await db
    .insert(payoutPasses)
    .values({
      chain,
      ...common,
      ...failed,
      failingPasses: lastError ? 1 : 0,
      failingSince: lastError ? sql`now()` : null,
    })
    .onConflictDoUpdate({
      target: payoutPasses.chain,
      set: {
        ...common,
        ...failed,
        failingPasses: lastError ? sql`${payoutPasses.failingPasses} + 1` : 0,
        failingSince: lastError ? sql`coalesce(${payoutPasses.failingSince}, now())` : null,
      },
    })
}

/** One open group of the backlog: how many, and how long the oldest has waited (seconds; null when none). */
export type Backlog = { count: number; oldestAgeSeconds: number | null }

/** A chain's payouts: its last pass (absent until the signer ran one) and what waits to be sent or confirmed. */
export type PayoutStatus = {
  chain: string
  lastPass: {
    finishedAt: Date
    ageSeconds: number
    durationMs: number
    failedStages: FailedStage[]
    failedSteps: number
    lastErrorCode: string | null
    lastErrorStage: string | null
    lastErrorAt: Date | null
    failingPasses: number
    failingSince: Date | null
    /** Seconds since the first of the failing passes in a row (null after a clean pass). */
    failingForSeconds: number | null
  } | null
  /** Withdrawals QUEUED: approved, not yet in a transaction. */
  queued: Backlog
  /** Withdrawals BATCHED or BROADCAST: in a transaction not yet confirmed. */
  inFlight: Backlog
  /** Outbound transactions (withdrawals, sweeps, top-ups, cold moves) built, signed or sent, not yet settled. */
  openTransactions: Backlog
}

const empty = (): Backlog => ({ count: 0, oldestAgeSeconds: null })

const ageOf = (column: SQLWrapper) => sql<string | null>`extract(epoch from (now() - min(${column})))::float8`

/**
 * Every chain's payout status for `chains` (the configured ones): three grouped statements over the open rows
 * (partial and status indexes), whatever the size of the history.
 *
 * @example
 * const [eth] = await readPayoutStatus(db, ['ethereum'])
 * console.log(eth.queued.count, eth.queued.oldestAgeSeconds)
 */
export async function readPayoutStatus(db: Db, chains: readonly string[]): Promise<PayoutStatus[]> {
  const [passes, open, txs] = await Promise.all([
    db
      .select({
        row: payoutPasses,
        age: sql<string>`extract(epoch from (now() - ${payoutPasses.finishedAt}))::float8`,
        failingFor: sql<string | null>`extract(epoch from (now() - ${payoutPasses.failingSince}))::float8`,
      })
      .from(payoutPasses),
    db
      .select({
        chain: withdrawals.chain,
        status: withdrawals.status,
        count: sql<number>`count(*)::int`,
        age: ageOf(withdrawals.createdAt),
      })
      .from(withdrawals)
      .where(inArray(withdrawals.status, ['QUEUED', 'BATCHED', 'BROADCAST']))
      .groupBy(withdrawals.chain, withdrawals.status),
    db
      .select({
        chain: outboundTxs.chain,
        count: sql<number>`count(*)::int`,
        age: ageOf(outboundTxs.createdAt),
      })
      .from(outboundTxs)
      .where(inArray(outboundTxs.status, ['built', 'signed', 'broadcast']))
      .groupBy(outboundTxs.chain),
  ])
  return chains.map((chain) => {
    const pass = passes.find((p) => p.row.chain === chain)
    const queued = empty()
    const inFlight = empty()
    for (const w of open.filter((o) => o.chain === chain))
      merge(w.status === 'QUEUED' ? queued : inFlight, Number(w.count), w.age)
    const openTransactions = empty()
    const tx = txs.find((t) => t.chain === chain)
    if (tx) merge(openTransactions, Number(tx.count), tx.age)
    return {
      chain,
      lastPass: pass ? lastPassOf(pass.row, pass.age, pass.failingFor) : null,
      queued,
      inFlight,
      openTransactions,
    }
  })
}

function lastPassOf(
  row: typeof payoutPasses.$inferSelect,
  age: string | number,
  failingFor: string | number | null,
): PayoutStatus['lastPass'] {
  const { chain: _chain, ...pass } = row
  return { ...pass, ageSeconds: wholeSeconds(age) ?? 0, failingForSeconds: wholeSeconds(failingFor) }
}

function merge(into: Backlog, count: number, age: string | number | null) {
  into.count += count
  const seconds = wholeSeconds(age)
  if (seconds !== null) into.oldestAgeSeconds = Math.max(into.oldestAgeSeconds ?? 0, seconds)
}

function wholeSeconds(value: string | number | null): number | null {
  if (value === null) return null
  return Math.max(0, Math.floor(Number(value)))
}
