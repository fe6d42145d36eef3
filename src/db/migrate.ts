import { join } from 'node:path'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import type { DbHandle } from './client.ts'

export const migrationsFolder = join(import.meta.dir, 'migrations')

/**
 * Applies the committed migrations that the database has not seen yet. Safe to run on every start.
 *
 * @example
 * await migrate(await openDb({ url: process.env.DATABASE_URL }))
 */
export async function migrate(handle: DbHandle): Promise<void> {
  if (handle.kind === 'postgres') {
    // biome-ignore lint/suspicious/noExplicitAny: the migrator wants the concrete driver type
    await migratePostgres(handle.db as any, { migrationsFolder })
  } else {
    // biome-ignore lint/suspicious/noExplicitAny: the migrator wants the concrete driver type
    await migratePglite(handle.db as any, { migrationsFolder })
  }
}
