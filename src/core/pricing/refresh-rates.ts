import {
  checkRateQuote,
  type DriverLogger,
  mapLimit,
  type PricingConfig,
  type RateQuote,
} from '@tollgate/sdk'
import { lte } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { rates } from '../../db/schema/index.ts'
import type { RateRegistry } from '../../plugins/registry.ts'
import { errorCode } from '../errors.ts'
import { legRule, parsePairKey, resolveRate, ruleFor } from './rules.ts'

export type RatesContext = { db: Db; rates: RateRegistry; pricing: PricingConfig; log: DriverLogger }

/** What one refresh did: pairs stored, pairs without a rate (and why), providers that failed (and how). */
export type RatesRefresh = {
  stored: string[]
  unavailable: Array<{ pair: string; reason: string }>
  failed: Array<{ provider: string; code: string }>
}

/**
 * Which pairs each provider is asked: every pair whose rule names it, and for a `via` pair the rule of each leg
 * (the leg's own, or its inverse's: the one `resolveRate` reads).
 */
function pairsByProvider(pricing: PricingConfig): Map<string, Set<string>> {
  const asked = new Map<string, Set<string>>()
  const seen = new Set<string>()
  const visit = (pair: string) => {
    if (seen.has(pair)) return
    seen.add(pair)
    const rule = ruleFor(pair, pricing)
    const p = parsePairKey(pair)
    if (!rule || !p || rule.pin !== undefined) return
    if (rule.via !== undefined) {
      for (const [base, quote] of [
        [p.base, rule.via],
        [rule.via, p.quote],
      ] as const) {
        const leg = legRule(base, quote, pricing)
        if (leg) visit(leg.key)
      }
      return
    }
    for (const provider of rule.sources ?? []) {
      const set = asked.get(provider) ?? new Set<string>()
      set.add(pair)
      asked.set(provider, set)
    }
  }
  for (const pair of Object.keys(pricing.pairs)) visit(pair)
  return asked
}

/**
 * Asks every rate provider the pairs its rules name (all at once, each within `timeoutMs`), resolves every
 * configured pair by its rule (fallback or median, maximum age, the outlier guard, spread, pins, bridges) and
 * stores the pairs that have a rate. A pair without one keeps its last stored rate, which ages until prices in
 * it are refused; an outlier is dropped with a warning; a provider that fails is logged and the others decide.
 *
 * @example
 * const { stored, unavailable } = await refreshRates({ db, rates: providers, pricing, log })
 */
export async function refreshRates(
  ctx: RatesContext,
  options: { now?: Date; timeoutMs?: number } = {},
): Promise<RatesRefresh> {
  const now = options.now ?? new Date()
  const result: RatesRefresh = { stored: [], unavailable: [], failed: [] }
  const quotesBySource = new Map<string, RateQuote[]>()
  const asked = [...pairsByProvider(ctx.pricing)]
  await mapLimit(asked, 8, async ([name, pairs]) => {
    const loaded = ctx.rates.get(name)
    if (!loaded) return
    try {
      const answered = await loaded.provider.fetchRates(
        [...pairs].map((key) => parsePairKey(key)).filter((p) => p !== undefined),
        AbortSignal.timeout(options.timeoutMs ?? 10_000),
      )
      const good: RateQuote[] = []
      for (const quote of answered)
        try {
          good.push(checkRateQuote(quote, now))
        } catch (err) {
          ctx.log.warn(
            { provider: name, code: errorCode(err) },
            'rates: a provider answered a bad quote; ignored',
          )
        }
      quotesBySource.set(name, good)
    } catch (err) {
      const code = errorCode(err) ?? 'RATE_PROVIDER_FAILED'
      result.failed.push({ provider: name, code })
      ctx.log.warn({ provider: name, code }, 'rates: a provider could not answer; the others decide')
    }
  })
  for (const pair of Object.keys(ctx.pricing.pairs)) {
    const resolved = resolveRate(pair, ctx.pricing, quotesBySource, now)
    for (const w of resolved.warnings)
      ctx.log.warn(
        { ...w },
        w.kind === 'outlier'
          ? 'rates: an outlier quote was ignored'
          : 'rates: an unreadable quote was ignored',
      )
    if (!resolved.ok) {
      result.unavailable.push({ pair, reason: resolved.reason })
      continue
    }
    const p = parsePairKey(pair)
    if (!p) continue
    const row = {
      base: p.base,
      quote: p.quote,
      rate: resolved.rate,
      method: resolved.method,
      sources: resolved.sources.map((s) => ({ provider: s.provider, rate: s.rate, at: s.at.toISOString() })),
      at: resolved.at,
      updatedAt: now,
    }
    // a rate never goes back in time: a slower run with older quotes does not replace a newer rate
    await ctx.db
      .insert(rates)
      .values(row)
      .onConflictDoUpdate({
        target: [rates.base, rates.quote],
        set: {
          rate: row.rate,
          method: row.method,
          sources: row.sources,
          at: row.at,
          updatedAt: row.updatedAt,
        },
        setWhere: lte(rates.at, row.at),
      })
    result.stored.push(pair)
  }
  return result
}
