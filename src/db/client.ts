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
   * Subscribes to a Postgres NOTIFY channel. `onListening` runs each time the subscription is (re)established
   * and shown to deliver (a probe notification sent through the pool came back): notifications sent while it
   * was down are lost, so callers resynchronize there. Through a pooler in transaction mode LISTEN is accepted
   * but hears nothing; `onListening` then never runs (see DbOptions.onListenUnheard).
   */
  listen(channel: string, onNotify: (payload: string) => void, onListening: () => void): Promise<void>
  kind: 'postgres' | 'pglite'
  ping(): Promise<void>
  close(): Promise<void>
}

export type DbOptions = {
  /** Postgres URL (the server or a pooler in front of it); when absent the embedded PGlite is used. */
  url?: string
  /** Postgres itself for LISTEN, which needs a session of its own; defaults to `url`. */
  listenUrl?: string
  /** PGlite data directory (`memory://` for an in-memory database). */
  dataDir?: string
  /** Postgres pool size. */
  maxConnections?: number
  /**
   * Named prepared statements for the raw queries; off behind a pooler that cannot keep them (PgBouncer in
   * transaction mode before 1.21). Unset: what the URL says (`?prepare=false`), else on.
   */
  prepare?: boolean
  /** Called when a LISTEN hears no probe (a pooler in transaction mode?); the probe is retried with back-off. */
  onListenUnheard?: (channel: string) => void
}

/** Payloads of probe notifications start with this; listeners never see them. */
const listenProbePrefix = 'tollgate-listen-probe:'
/** How long a probe may take to come back before the subscription counts as deaf (and the probe is repeated). */
const listenProbeWaitMs = 1000
const listenProbeMaxBackoffMs = 30_000

/**
 * Opens the database: postgres.js when a URL is given, PGlite in `dataDir` otherwise.
 *
 * @example
 * const { db, close } = await openDb({ url: 'postgres://postgres@127.0.0.1:5432/tollgate' })
 */
export async function openDb(options: DbOptions): Promise<DbHandle> {
  if (options.url) {
    const settings = {
      onnotice: () => {},
      // Seconds before a lost connection tries again. The driver's default grows with every failed attempt of
      // any connection of the pool (3^n / 100, up to 20 s), so a restart of a few seconds left every connection
      // waiting up to 20 s after the server was back; capped, they return within a second of it.
      backoff: (attempts: number) => Math.min(0.05 * 2 ** attempts, 1),
      // numerics stay strings; the column types turn them into bigint
      types: {},
      ...(options.prepare === undefined ? {} : { prepare: options.prepare }),
    }
    const client = postgres(options.url, { ...settings, max: options.maxConnections ?? 10 })
    // LISTEN holds one connection of its own (the driver opens it on the first listen); on another server
    // when a pooler stands in front of the pool's
    const listener =
      options.listenUrl && options.listenUrl !== options.url
        ? postgres(options.listenUrl, { ...settings, max: 1 })
        : client
    /** Pauses of LISTEN probes under way: close cuts them short. */
    const pauses = new Set<() => void>()
    let closed = false
    /** Resolves true after `ms`, false as soon as `until` settles first; true at once on close. */
    const pause = (ms: number, until: Promise<unknown> = new Promise(() => {})) =>
      new Promise<boolean>((resolve) => {
        const done = (timedOut: boolean) => {
          clearTimeout(timer)
          pauses.delete(cancel)
          resolve(timedOut)
        }
        const cancel = () => done(true)
        const timer = setTimeout(cancel, ms)
        pauses.add(cancel)
        until.then(() => done(false))
      })
    const db = drizzlePostgres(client, { schema }) as unknown as Db
    return {
      db,
      query: async (text, params) =>
        (await client.unsafe(text, params as never[], { prepare: true })) as never,
      listen: async (channel, onNotify, onListening) => {
        let subscription = 0
        let expected: string | undefined
        let heard: () => void = () => {}
        /** Sends a probe through the pool; true when the subscription hears it in time. */
        const probe = async (): Promise<boolean> => {
          const token = `${listenProbePrefix}${crypto.randomUUID()}`
          const arrived = new Promise<void>((resolve) => {
            expected = token
            heard = resolve
          })
          // a failed send is a probe not heard: the next one is sent after the back-off
          client.unsafe('select pg_notify($1, $2)', [channel, token]).catch(() => undefined)
          return !(await pause(listenProbeWaitMs, arrived)) && !closed
        }
        /** Probes until the subscription delivers (then `onListening`), a newer one replaces it, or close. */
        const confirm = async (mine: number, first: Promise<boolean>) => {
          let ok = await first
          for (let attempt = 0; !ok; attempt++) {
            if (closed || mine !== subscription) return
            if (attempt === 0) options.onListenUnheard?.(channel)
            await pause(Math.min(listenProbeWaitMs * 2 ** attempt, listenProbeMaxBackoffMs))
            if (closed || mine !== subscription) return
            ok = await probe()
          }
          if (!closed && mine === subscription) onListening()
        }
        let firstProbe: Promise<boolean> | undefined
        await listener.listen(
          channel,
          (payload) => {
            if (!payload.startsWith(listenProbePrefix)) onNotify(payload)
            else if (payload === expected) heard()
          },
          () => {
            // runs on the first LISTEN and again on every re-subscription after a lost connection
            const mine = ++subscription
            const first = probe()
            firstProbe ??= first
            void confirm(mine, first)
          },
        )
        // the caller starts with a subscription known to deliver, or knowing that it does not yet
        await firstProbe
      },
      kind: 'postgres',
      ping: async () => {
        await client`select 1`
      },
      close: async () => {
        closed = true
        for (const cancel of [...pauses]) cancel()
        await Promise.all([
          client.end({ timeout: 5 }),
          listener === client ? undefined : listener.end({ timeout: 5 }),
        ])
      },
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
