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
   * but hears nothing; `onListening` then never runs, and `report` says so.
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
   * Named prepared statements (the driver's, including its begin/commit). A pooler in transaction mode that
   * cannot keep them (PgBouncer before 1.21, or max_prepared_statements = 0) runs a statement prepared on one
   * server connection on another: errors, and a transaction that silently rolls back. `auto` (the default) uses
   * them only where `url` keeps sessions (see keepsSessions).
   */
  prepare?: boolean | 'auto'
  /** Where the database layer says what it decided or found (the caller's logger). */
  report?: (level: 'info' | 'warn', fields: Record<string, unknown>, message: string) => void
}

/** Payloads of probe notifications start with this; listeners never see them. */
const listenProbePrefix = 'tollgate-listen-probe:'
/** How long a probe may take to come back before the subscription counts as deaf (and the probe is repeated). */
const listenProbeWaitMs = 1000
const listenProbeMaxBackoffMs = 30_000

/**
 * Whether `url` keeps a session from one statement to the next: a LISTEN there hears a NOTIFY sent over
 * another connection within a second. Postgres itself and a session-mode pooler do; a transaction-mode pooler
 * (PgBouncer with `pool_mode = transaction`) hands each transaction to any server connection, so the LISTEN's
 * session is not the client's any more and nothing arrives. False too when the server cannot be reached in time
 * (the safe answer: no prepared statements).
 *
 * @example
 * const prepare = await keepsSessions('postgres://app@pgbouncer:6432/tollgate') // false in transaction mode
 */
export async function keepsSessions(url: string): Promise<boolean> {
  const probe = postgres(url, {
    max: 1,
    prepare: false,
    fetch_types: false,
    onnotice: () => {},
    connect_timeout: 2,
  })
  const channel = `tollgate_session_probe_${crypto.randomUUID().replaceAll('-', '')}`
  const token = crypto.randomUUID()
  const timers: Timer[] = []
  try {
    return await new Promise<boolean>((resolve) => {
      timers.push(setTimeout(() => resolve(false), 3 * listenProbeWaitMs))
      probe
        .listen(channel, (payload) => {
          if (payload === token) resolve(true)
        })
        .then(() => probe.unsafe('select pg_notify($1, $2)', [channel, token]))
        // the notification may take its time; only its arrival counts
        .then(() => timers.push(setTimeout(() => resolve(false), listenProbeWaitMs)))
        .catch(() => resolve(false))
    })
  } finally {
    for (const timer of timers) clearTimeout(timer)
    await probe.end({ timeout: 1 }).catch(() => undefined)
  }
}

/**
 * Opens the database: postgres.js when a URL is given, PGlite in `dataDir` otherwise.
 *
 * @example
 * const { db, close } = await openDb({ url: 'postgres://postgres@127.0.0.1:5432/tollgate' })
 */
export async function openDb(options: DbOptions): Promise<DbHandle> {
  if (options.url) {
    const prepare =
      options.prepare === undefined || options.prepare === 'auto'
        ? await keepsSessions(options.url)
        : options.prepare
    if (options.prepare === undefined || options.prepare === 'auto')
      options.report?.(
        'info',
        { prepare },
        prepare
          ? 'prepared statements on: DATABASE_URL keeps sessions'
          : 'prepared statements off: DATABASE_URL does not keep sessions (a pooler in transaction mode?)',
      )
    const settings = {
      prepare,
      onnotice: () => {},
      // Seconds before a lost connection tries again. The driver's default grows with every failed attempt of
      // any connection of the pool (3^n / 100, up to 20 s), so a restart of a few seconds left every connection
      // waiting up to 20 s after the server was back; capped, they return within a second of it.
      backoff: (attempts: number) => Math.min(0.05 * 2 ** attempts, 1),
      // numerics stay strings; the column types turn them into bigint
      types: {},
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
            if (attempt === 0)
              options.report?.(
                'warn',
                { channel, direct: options.listenUrl !== undefined && options.listenUrl !== options.url },
                'LISTEN hears no notifications (is DATABASE_URL a pooler in transaction mode? set DATABASE_DIRECT_URL to Postgres itself); API keys are looked up on every request until it does',
              )
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
