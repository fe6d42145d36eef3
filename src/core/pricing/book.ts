import type { PricingConfig } from '@tollgate/sdk'
import type { Db } from '../../db/client.ts'
import { rates } from '../../db/schema/index.ts'
import { rateUnavailable } from './errors.ts'
import { defaultMaxAgeSeconds, parsePairKey, resolveRate, ruleFor } from './rules.ts'

/** A stored rate as the book serves it. */
export type BookRate = {
  pair: string
  rate: string
  method: string
  sources: Array<{ provider: string; rate: string; at: string }>
  /** The oldest source time the rate rests on. */
  at: Date
}

export type RateBook = {
  /** The pair's rate if it is fresh by its rule's `maxAgeSeconds`; else a `RATE_UNAVAILABLE` error (thrown). */
  quote(pair: string, now?: Date, field?: string): BookRate
  /** Every stored rate, fresh or not, with its age verdict (for the `rates` query). */
  all(now?: Date): Array<BookRate & { fresh: boolean }>
  /** Reads the rates table again now. */
  reload(): Promise<void>
  close(): void
  /** How long a payment's quoted amount holds, in seconds. */
  lockSeconds: number
}

/**
 * The latest good rate of every pair, from the database into memory: read at start and every `reloadMs` (the
 * rates job writes the table; the API never asks a provider on the request path). A rate older than its rule's
 * `maxAgeSeconds` is not served: pricing in that pair is refused with `RATE_UNAVAILABLE`, naming the pair and the
 * time of the rate it has.
 *
 * @example
 * const book = await openRateBook(db, pricing)
 * const { rate } = book.quote('BTC/USD') // throws RATE_UNAVAILABLE when stale
 */
export async function openRateBook(
  db: Db,
  pricing: PricingConfig,
  options: { reloadMs?: number; onError?: (err: unknown) => void } = {},
): Promise<RateBook> {
  let byPair = new Map<string, BookRate>()
  const reload = async () => {
    const rows = await db.select().from(rates)
    byPair = new Map(
      rows.map((r) => [
        `${r.base}/${r.quote}`,
        { pair: `${r.base}/${r.quote}`, rate: r.rate, method: r.method, sources: r.sources, at: r.at },
      ]),
    )
  }
  await reload()
  const timer = setInterval(() => reload().catch((err) => options.onError?.(err)), options.reloadMs ?? 2000)
  timer.unref?.()
  const freshFor = (pair: string, at: Date, now: Date) =>
    now.getTime() - at.getTime() <= (ruleFor(pair, pricing)?.maxAgeSeconds ?? defaultMaxAgeSeconds) * 1000
  return {
    lockSeconds: pricing.rateLockSeconds ?? 900,
    quote(pair, now = new Date(), field) {
      const rule = parsePairKey(pair) ? ruleFor(pair, pricing) : undefined
      if (!rule) throw rateUnavailable({ pair, reason: 'no-rule' }, field)
      // a pinned pair holds at any time and needs no source: answered here, spread and all
      if (rule.pin !== undefined) {
        const pinned = resolveRate(pair, pricing, new Map(), now)
        if (!pinned.ok) throw rateUnavailable(pinned, field)
        return { pair, rate: pinned.rate, method: pinned.method, sources: [], at: pinned.at }
      }
      const found = byPair.get(pair)
      if (!found) throw rateUnavailable({ pair, reason: 'no-quotes' }, field)
      if (!freshFor(pair, found.at, now))
        throw rateUnavailable({ pair, reason: 'stale', lastAt: found.at }, field)
      return found
    },
    all(now = new Date()) {
      return [...byPair.values()].map((r) => ({ ...r, fresh: freshFor(r.pair, r.at, now) }))
    },
    reload,
    close: () => clearInterval(timer),
  }
}
