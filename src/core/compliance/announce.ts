import { sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'

/** Postgres channel on which a KYT data update (new sanctions lists) is announced to running workers. */
export const kytUpdateChannel = 'tollgate_kyt_update'

/** What an announcement carries: when the update was made (ISO-8601), as JSON. */
export type KytUpdateNotice = { at: string }

/**
 * Tells every process listening on {@link kytUpdateChannel} that the providers' data changed, so each reloads
 * its own copy and screens again. Delivered when the caller's transaction commits (at once outside one), and
 * to nobody if it rolls back. A process that was not listening misses it: it loads fresh data when it starts.
 *
 * @example
 * const notice = await announceKytUpdate(db) // { at: '2026-12-05T10:00:00.000Z' }
 */
export async function announceKytUpdate(db: Db | Tx, now: Date = new Date()): Promise<KytUpdateNotice> {
  const notice: KytUpdateNotice = { at: now.toISOString() }
  await db.execute(sql`select pg_notify(${kytUpdateChannel}, ${JSON.stringify(notice)})`)
  return notice
}
