import type { ChainDriver } from '@tollgate/sdk'
import { and, eq, gt, gte, inArray, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { payments } from '../../db/schema/index.ts'

/**
 * The addresses a chain's scanner looks for, keyed by the driver's `addressKey`, mapped to their payment.
 * Kept in memory (1M addresses ≈ 130 MB) and refreshed incrementally from the database.
 */
export type WatchSet = {
  chain: string
  byKey: Map<string, string>
  /** Newest `created_at` loaded so far. */
  newest: Date
  rebuiltAt: number
}

/** Payments still watched: open ones, and settled ones inside the monitoring window. */
function watchedCondition(chain: string, now: Date, monitoringWindowMs: number) {
  const windowStart = new Date(now.getTime() - monitoringWindowMs)
  return and(
    eq(payments.chain, chain),
    or(
      inArray(payments.status, ['PENDING', 'PARTIALLY_PAID', 'PROCESSING', 'HELD']),
      and(inArray(payments.status, ['EXPIRED', 'UNDERPAID']), gt(payments.expiresAt, windowStart)),
      and(eq(payments.status, 'COMPLETED'), gt(payments.completedAt, windowStart)),
    ),
  )
}

/** Creation commits can land out of `created_at` order; re-reading this much overlap never misses one. */
const commitSkewMs = 60_000

/**
 * Brings a watch set up to date: adds payments created since the last refresh and, every `rebuildEveryMs`,
 * rebuilds from scratch so that payments past their monitoring window drop out.
 *
 * @example
 * ws = await refreshWatchSet({ db }, driver, ws ?? 'ethereum', { monitoringWindowMs: 86_400_000 })
 */
export async function refreshWatchSet(
  ctx: { db: Db },
  driver: Pick<ChainDriver, 'addressKey'>,
  current: WatchSet | string,
  options: { monitoringWindowMs: number; rebuildEveryMs?: number; now?: Date },
): Promise<WatchSet> {
  const now = options.now ?? new Date()
  const rebuild =
    typeof current === 'string' || now.getTime() - current.rebuiltAt > (options.rebuildEveryMs ?? 600_000)
  const chain = typeof current === 'string' ? current : current.chain
  const ws: WatchSet = rebuild
    ? { chain, byKey: new Map(), newest: new Date(0), rebuiltAt: now.getTime() }
    : (current as WatchSet)
  const since = new Date(ws.newest.getTime() - commitSkewMs)
  const condition = rebuild
    ? watchedCondition(chain, now, options.monitoringWindowMs)
    : and(eq(payments.chain, chain), gte(payments.createdAt, since))
  const rows = await ctx.db
    .select({ id: payments.id, address: payments.address, createdAt: payments.createdAt })
    .from(payments)
    .where(condition)
    .orderBy(sql`${payments.createdAt}`)
  for (const row of rows) {
    ws.byKey.set(driver.addressKey(row.address), row.id)
    if (row.createdAt > ws.newest) ws.newest = row.createdAt
  }
  return ws
}
