import type { SQL } from 'drizzle-orm'
import type { Db } from './client.ts'

/**
 * Runs a raw statement and returns its rows, whichever driver is underneath (postgres.js answers with the rows,
 * PGlite with an object holding them). For statements the query builder cannot express, such as several
 * data-modifying steps in one.
 *
 * @example
 * const rows = await executeRows<{ id: string }>(db, sql`select id from payments limit 1`)
 */
export async function executeRows<T>(db: Pick<Db, 'execute'>, statement: SQL): Promise<T[]> {
  const result = (await db.execute(statement)) as unknown
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}
