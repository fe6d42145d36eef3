import { eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { chainCursors, chainNetworks } from '../../db/schema/index.ts'
import { chainSettingDefaults, type LoadedChain } from '../../plugins/registry.ts'
import { TollgateError } from '../errors.ts'

// Whether a chain takes new payments, decided from what its scanner recorded (never by asking the node on the
// request path): a payment on a chain the gateway cannot follow would wait for funds nobody sees arrive.

/** Why a chain takes no payments: its node is on another network, scanning halted, or nothing succeeded lately. */
export type UnavailableReason = 'WRONG_NETWORK' | 'HALTED' | 'NO_RECENT_SCAN'

/** What the scanner recorded that decides availability. */
export type RecordedAvailability = {
  /** The configured and the node's network while they differ (null while they agree or before any check). */
  network: { expected: string; actual: string } | null
  halted: boolean
  /** Milliseconds since the last successful scan run, or since failures began when none ever succeeded. */
  quietMs: number | null
}

export type Availability = { ready: true } | { ready: false; reason: UnavailableReason; message: string }

/**
 * The rule, pure: not ready on a node of another network, on a halted scanner, or when no scan run succeeded for
 * longer than `graceMs` (0 = never for that one). A chain never scanned yet has no record and counts as ready.
 *
 * @example
 * assessAvailability('ethereum', { network: null, halted: false, quietMs: 200_000 }, 120_000)
 * // { ready: false, reason: 'NO_RECENT_SCAN', message: 'chain "ethereum" is unavailable: …' }
 */
export function assessAvailability(chain: string, r: RecordedAvailability, graceMs: number): Availability {
  const unavailable = (reason: UnavailableReason, why: string): Availability => ({
    ready: false,
    reason,
    message: `chain "${chain}" is unavailable: ${why}`,
  })
  if (r.network)
    return unavailable(
      'WRONG_NETWORK',
      `its node is on ${r.network.actual}, the chain is configured for ${r.network.expected}`,
    )
  if (r.halted) return unavailable('HALTED', 'its scanning halted and waits for an operator')
  if (graceMs > 0 && r.quietMs !== null && r.quietMs > graceMs)
    return unavailable(
      'NO_RECENT_SCAN',
      `no successful scan of its node for ${Math.floor(r.quietMs / 1000)} s (allowed: ${Math.floor(graceMs / 1000)} s)`,
    )
  return { ready: true }
}

/** How long one process reuses a chain's record before reading it again. */
const cacheMs = 1000
const cache = new WeakMap<Db, Map<string, { at: number; record: RecordedAvailability }>>()

/** The chain's record (ages by the database's clock). */
async function readRecord(db: Db, chain: string): Promise<RecordedAvailability> {
  const quiet = sql<
    string | number | null
  >`extract(epoch from (now() - coalesce(${chainCursors.lastScanAt}, ${chainCursors.failingSince}))) * 1000`
  const [[cursor], [network]] = await Promise.all([
    db
      .select({ haltedReason: chainCursors.haltedReason, quiet })
      .from(chainCursors)
      .where(eq(chainCursors.chain, chain)),
    db
      .select({ expected: chainNetworks.expected, actual: chainNetworks.actual })
      .from(chainNetworks)
      .where(eq(chainNetworks.chain, chain)),
  ])
  return {
    network:
      network?.actual && network.expected ? { expected: network.expected, actual: network.actual } : null,
    halted: (cursor?.haltedReason ?? null) !== null,
    quietMs: cursor?.quiet === null || cursor?.quiet === undefined ? null : Math.max(0, Number(cursor.quiet)),
  }
}

/**
 * Refuses a new payment on a chain that is not ready with `CHAIN_UNAVAILABLE` (see `assessAvailability`; the
 * grace is the chain's `unavailableAfterMs`). Reads the recorded status at most once a second per chain and
 * process, so the creation hot path stays one statement.
 *
 * @example
 * await ensureChainAvailable(ctx.db, resolveChain(ctx.chains, 'ethereum'))
 */
export async function ensureChainAvailable(db: Db, chain: LoadedChain): Promise<void> {
  let byChain = cache.get(db)
  if (!byChain) {
    byChain = new Map()
    cache.set(db, byChain)
  }
  const now = Date.now()
  let entry = byChain.get(chain.name)
  if (!entry || now - entry.at > cacheMs) {
    entry = { at: now, record: await readRecord(db, chain.name) }
    byChain.set(chain.name, entry)
  }
  const { record } = entry
  const aged = { ...record, quietMs: record.quietMs === null ? null : record.quietMs + (now - entry.at) }
  const verdict = assessAvailability(
    chain.name,
    aged,
    chain.settings.unavailableAfterMs ?? chainSettingDefaults.unavailableAfterMs,
  )
  if (!verdict.ready) throw new TollgateError('CHAIN_UNAVAILABLE', verdict.message, 'chain')
}
