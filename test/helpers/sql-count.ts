import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import type { Db, RawQuery } from '../../src/db/client.ts'
import * as schema from '../../src/db/schema/index.ts'
import type { TestApp } from './app.ts'

export type StatementLog = {
  /** Every statement sent since the last `reset`, in order. */
  statements: string[]
  reset(): void
  close(): Promise<void>
}

/**
 * Routes a test app's database work (drizzle and the raw prepared statements) through a client of its own that
 * records each statement it sends, so a test can count what one request cost. The client is configured as
 * `openDb` configures the app's (numerics as strings, prepared raw statements).
 *
 * @example
 * const log = recordStatements(app)
 * await app.gql('{ payments { edges { node { id } } } }')
 * expect(log.statements.length).toBeLessThanOrEqual(2)
 */
export function recordStatements(app: TestApp): StatementLog {
  const statements: string[] = []
  const client = postgres(app.databaseUrl, {
    max: 4,
    onnotice: () => {},
    types: {},
    // the driver's own look-up of array types, once per new connection, is not the application's work
    debug: (_connection, text) => {
      if (!text.includes('pg_catalog.pg_type')) statements.push(text)
    },
  })
  const db = drizzle(client, { schema }) as unknown as Db
  const query: RawQuery = async (text, params) =>
    (await client.unsafe(text, params as never[], { prepare: true })) as never
  const original = { db: app.ctx.db, query: app.ctx.query }
  Object.assign(app.ctx, { db, query })
  return {
    statements,
    reset: () => {
      statements.length = 0
    },
    close: async () => {
      Object.assign(app.ctx, original)
      await client.end({ timeout: 5 })
    },
  }
}
