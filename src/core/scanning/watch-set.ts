import type { ChainDriver } from '@tollgate/sdk'
import { and, eq, gt, gte, inArray, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { customerAddresses, payments } from '../../db/schema/index.ts'
import { type CompactKeySet, createKeySet } from './key-set.ts'

/**
 * The addresses a chain's scanner looks for, keyed by the driver's `addressKey`, mapped to their payment.
 * Kept in memory (1M addresses ≈ 130 MB) and refreshed incrementally from the database.
 */
export type WatchSet = {
  chain: string
  byKey: Map<string, string>
  /**
   * Addresses issued for payments on the chain's address siblings (other chains deriving the same addresses, see
   * `addressSiblings`), mapped to their payment: what arrives there on this chain is a wrong-network deposit.
   */
  elsewhere: Map<string, string>
  siblings: readonly string[]
  /** Newest `created_at` loaded so far. */
  newest: Date
  rebuiltAt: number
  /**
   * Keys of the customer addresses of the chain's address family (the chain and its siblings: one key is one
   * address on all of them), possibly millions, kept as sorted packed bytes rather than a `Map` (10M EVM keys ≈
   * 200 MB instead of over 1 GB), shared by the family's watch sets in one process. A filter in front of the
   * database: the addresses themselves are read for the few transfers that hit it. A key of a sibling's customer
   * address hit on this chain is a wrong-network deposit.
   */
  customers: CompactKeySet
  /** Where `customers` comes from: the family's shared keys. */
  customerKeys: CustomerKeys
}

/** A family's customer address keys (permanent: never dropped, never rebuilt) and how far they are loaded. */
export type CustomerKeys = {
  /** The family: its chain names, sorted, joined. */
  family: string
  set: CompactKeySet
  /** Newest customer address `created_at` loaded so far. */
  newest: Date
  /** The load under way, if any: a scan that finds one waits for it instead of reading the same rows again. */
  loading?: Promise<void>
}

/** The families' customer keys a scanner process holds, by family (its chain names, sorted, joined). */
export type CustomerKeyRegistry = Map<string, CustomerKeys>

/** Customer addresses read per query while loading (the first load of a large set reads them all). */
const customerPage = 100_000

/**
 * Adds the family's customer addresses created since the last load (all of them the first time), a page at a
 * time: a page's strings are dropped once packed, so loading millions never holds them all at once.
 */
async function loadCustomerKeys(
  ctx: { db: Db },
  family: readonly string[],
  keys: CustomerKeys,
): Promise<void> {
  let since = new Date(keys.newest.getTime() - commitSkewMs)
  let afterId = ''
  for (;;) {
    const rows = await ctx.db
      .select({
        id: customerAddresses.id,
        key: customerAddresses.addressKey,
        createdAt: customerAddresses.createdAt,
      })
      .from(customerAddresses)
      .where(
        and(
          inArray(customerAddresses.chain, [...family]),
          or(
            gt(customerAddresses.createdAt, since),
            and(eq(customerAddresses.createdAt, since), gt(customerAddresses.id, afterId)),
          ),
        ),
      )
      .orderBy(customerAddresses.createdAt, customerAddresses.id)
      .limit(customerPage)
    if (keys.set.size === 0) keys.set = createKeySet(rows.map((r) => r.key))
    else for (const r of rows) keys.set.add(r.key)
    const last = rows.at(-1)
    if (last && last.createdAt > keys.newest) keys.newest = last.createdAt
    if (!last || rows.length < customerPage) break
    since = last.createdAt
    afterId = last.id
  }
}

const noCustomerKeys = (family: string): CustomerKeys => ({
  family,
  set: createKeySet(),
  newest: new Date(0),
})

/**
 * The family's keys, brought up to date: the registry's (shared by the family's watch sets), else the watch set's
 * own while its family is the same. A scan that finds a load under way waits for it (the next refresh reads on from
 * where it got), so two chains of a family never read the same rows at once.
 */
async function familyCustomerKeys(
  ctx: { db: Db },
  family: readonly string[],
  registry: CustomerKeyRegistry | undefined,
  previous: CustomerKeys | undefined,
): Promise<CustomerKeys> {
  const name = [...family].sort().join(',')
  const shared =
    registry?.get(name) ?? (previous?.family === name ? previous : undefined) ?? noCustomerKeys(name)
  registry?.set(name, shared)
  if (shared.loading) await shared.loading
  else {
    shared.loading = loadCustomerKeys(ctx, family, shared).finally(() => {
      shared.loading = undefined
    })
    await shared.loading
  }
  return shared
}

/** Payments still watched: open ones, and settled ones inside the monitoring window. */
function watchedCondition(chains: string[], now: Date, monitoringWindowMs: number) {
  const windowStart = new Date(now.getTime() - monitoringWindowMs)
  return and(
    inArray(payments.chain, chains),
    or(
      inArray(payments.status, ['PENDING', 'PARTIALLY_PAID', 'PROCESSING', 'HELD']),
      // a canceled payment stays watched like an expired one: funds sent anyway land as an exception, never lost
      and(
        inArray(payments.status, ['EXPIRED', 'UNDERPAID', 'CANCELED']),
        gt(payments.expiresAt, windowStart),
      ),
      and(eq(payments.status, 'COMPLETED'), gt(payments.completedAt, windowStart)),
    ),
  )
}

/** Creation commits can land out of `created_at` order; re-reading this much overlap never misses one. */
const commitSkewMs = 60_000

/**
 * Brings a watch set up to date: adds payments created since the last refresh and, every `rebuildEveryMs`,
 * rebuilds from scratch so that payments past their monitoring window drop out. With `siblings`, the payments of
 * those chains are watched too, as wrong-network deposits (`elsewhere`); a key of the chain's own payments wins.
 *
 * @example
 * ws = await refreshWatchSet({ db }, driver, ws ?? 'ethereum', { monitoringWindowMs: 86_400_000, siblings: ['bsc'] })
 */
export async function refreshWatchSet(
  ctx: { db: Db },
  driver: Pick<ChainDriver, 'addressKey'>,
  current: WatchSet | string,
  options: {
    monitoringWindowMs: number
    rebuildEveryMs?: number
    now?: Date
    siblings?: readonly string[]
    /** The scanner's shared customer keys per family (without it, the watch set keeps its own). */
    customerKeys?: CustomerKeyRegistry
  },
): Promise<WatchSet> {
  const now = options.now ?? new Date()
  const siblings = options.siblings ?? []
  const rebuild =
    typeof current === 'string' ||
    now.getTime() - current.rebuiltAt > (options.rebuildEveryMs ?? 600_000) ||
    current.siblings.join() !== siblings.join()
  const chain = typeof current === 'string' ? current : current.chain
  const ws: WatchSet = rebuild
    ? {
        chain,
        byKey: new Map(),
        elsewhere: new Map(),
        siblings,
        newest: new Date(0),
        rebuiltAt: now.getTime(),
        // permanent: what a rebuild of the payments' part finds loaded stays
        customers: typeof current === 'string' ? createKeySet() : current.customers,
        customerKeys: typeof current === 'string' ? noCustomerKeys('') : current.customerKeys,
      }
    : (current as WatchSet)
  const since = new Date(ws.newest.getTime() - commitSkewMs)
  const chains = [chain, ...siblings]
  const condition = rebuild
    ? watchedCondition(chains, now, options.monitoringWindowMs)
    : and(inArray(payments.chain, chains), gte(payments.createdAt, since))
  const rows = await ctx.db
    .select({
      id: payments.id,
      chain: payments.chain,
      address: payments.address,
      createdAt: payments.createdAt,
    })
    .from(payments)
    .where(condition)
    .orderBy(sql`${payments.createdAt}`)
  for (const row of rows) {
    const key = driver.addressKey(row.address)
    if (row.chain === chain) {
      ws.byKey.set(key, row.id)
      ws.elsewhere.delete(key)
    } else if (!ws.byKey.has(key)) ws.elsewhere.set(key, row.id)
    if (row.createdAt > ws.newest) ws.newest = row.createdAt
  }
  ws.customerKeys = await familyCustomerKeys(ctx, chains, options.customerKeys, ws.customerKeys)
  ws.customers = ws.customerKeys.set
  return ws
}
