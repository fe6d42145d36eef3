import { PGlite } from '@electric-sql/pglite'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from './schema/index.ts'

export type Schema = typeof schema
/** The database handle every core function takes: Postgres (postgres.js) or embedded PGlite, same API. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>
/** A handle inside `db.transaction(...)`. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/**
 * Runs one parameterized statement (`$1`, `$2`…) as a prepared statement and returns its rows as the driver
 * gives them (numerics as strings). For hot paths where building the query with drizzle costs more than
 * running it.
 */
export type RawQuery = <T = Record<string, unknown>>(text: string, params: unknown[]) => Promise<T[]>

export type DbHandle = {
  db: Db
  query: RawQuery
  /**
   * Subscribes to a Postgres NOTIFY channel. `onListening` runs each time the subscription is (re)established:
   * notifications sent while it was down are lost, so callers resynchronize there.
   */
  listen(channel: string, onNotify: (payload: string) => void, onListening: () => void): Promise<void>
  kind: 'postgres' | 'pglite'
  ping(): Promise<void>
  close(): Promise<void>
}

export type DbOptions = {
  /** Postgres URL; when absent the embedded PGlite is used. */
  url?: string
  /** PGlite data directory (`memory://` for an in-memory database). */
  dataDir?: string
  /** Postgres pool size. */
  maxConnections?: number
}

/**
 * Opens the database: postgres.js when a URL is given, PGlite in `dataDir` otherwise.
 *
 * @example
 * const { db, close } = await openDb({ url: 'postgres://postgres@127.0.0.1:5432/tollgate' })
 */
export async function openDb(options: DbOptions): Promise<DbHandle> {
  if (options.url) {
    const client = postgres(options.url, {
      max: options.maxConnections ?? 10,
      onnotice: () => {},
      // Seconds before a lost connection tries again. The driver's default grows with every failed attempt of
      // any connection of the pool (3^n / 100, up to 20 s), so a restart of a few seconds left every connection
      // waiting up to 20 s after the server was back; capped, they return within a second of it.
      backoff: (attempts: number) => Math.min(0.05 * 2 ** attempts, 1),
      // numerics stay strings; the column types turn them into bigint
      types: {},
    })
    const db = drizzlePostgres(client, { schema }) as unknown as Db
    return {
      db,
      query: async (text, params) =>
        (await client.unsafe(text, params as never[], { prepare: true })) as never,
      listen: async (channel, onNotify, onListening) => {
        await client.listen(channel, onNotify, onListening)
      },
      kind: 'postgres',
      ping: async () => {
        await client`select 1`
      },
      close: () => client.end({ timeout: 5 }),
    }
  }
  return pgliteHandle(await PGlite.create(options.dataDir ?? 'memory://'))
}

/**
 * The handle over an open PGlite instance (what `openDb` answers without a URL).
 *
 * @example
 * const handle = pgliteHandle(await PGlite.create({ loadDataDir: snapshot }))
 */
export function pgliteHandle(client: PGlite): DbHandle {
  const db = drizzlePglite(client, { schema }) as unknown as Db
  return {
    db,
    query: async (text, params) => (await client.query(text, params)).rows as never,
    listen: async (channel, onNotify, onListening) => {
      await client.listen(channel, onNotify)
      onListening()
    },
    kind: 'pglite',
    ping: async () => {
      await client.query('select 1')
    },
    close: () => client.close(),
  }
}
