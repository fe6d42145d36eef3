import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { executeRows } from '../../db/rows.ts'

/** What an operator watches of screening, per chain: open screenings, the oldest waiting, fail-mode decisions. */
export type KytStatus = {
  chain: string
  /** Screenings without a verdict (nothing they cover is credited). */
  pending: number
  /** Held for an admin (review, block, or failMode closed), undecided. */
  held: number
  /** Seconds the oldest pending screening has waited; 0 when none. */
  oldestPendingSeconds: number
  /** Screenings the fail mode decided because no provider answered in time, ever, by mode. */
  failOpen: number
  failClosed: number
}

/**
 * Reads the screening status of every chain with screenings, in one statement (for metrics at scrape).
 *
 * @example
 * const status = await readKytStatus(db) // [{ chain: 'ethereum', pending: 0, held: 2, … }]
 */
export async function readKytStatus(db: Db, now = new Date()): Promise<KytStatus[]> {
  const rows = await executeRows<{
    chain: string
    pending: string
    held: string
    oldest: Date | string | null
    fail_open: string
    fail_closed: string
  }>(
    db,
    sql`select chain,
          count(*) filter (where state = 'pending') as pending,
          count(*) filter (where state = 'held') as held,
          min(created_at) filter (where state = 'pending') as oldest,
          count(*) filter (where fail_mode = 'open') as fail_open,
          count(*) filter (where fail_mode = 'closed') as fail_closed
        from kyt_checks
        where state in ('pending', 'held') or fail_mode is not null
        group by chain`,
  )
  return rows.map((r) => ({
    chain: r.chain,
    pending: Number(r.pending),
    held: Number(r.held),
    oldestPendingSeconds:
      r.oldest === null ? 0 : Math.max(0, Math.floor((now.getTime() - new Date(r.oldest).getTime()) / 1000)),
    failOpen: Number(r.fail_open),
    failClosed: Number(r.fail_closed),
  }))
}
