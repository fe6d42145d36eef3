import {
  isCurrencyCode,
  type PricingConfig,
  type RatePair,
  type RateQuote,
  type RateRule,
} from '@tollgate/sdk'
import {
  applySpread,
  compare,
  decimalParse,
  distanceBps,
  divide,
  formatDecimal,
  formatSignificant,
  median,
  multiply,
  type Rational,
  rational,
} from './decimal.ts'
import type { UnavailableReason } from './errors.ts'

/**
 * The rate rules engine: which quotes make a pair's rate and how (fallback order or median, maximum age, the
 * outlier guard, spread, pin, bridges through another currency). Pure: the quotes and the time are arguments.
 */

/** The part of the pricing configuration that makes rates. */
export type PricingRules = Pick<PricingConfig, 'pairs' | 'defaults'>
/** Every provider's latest quotes, by provider name (`rates` in plugins.config.ts); any pairs, any order. */
export type QuotesBySource = ReadonlyMap<string, readonly RateQuote[]>

export const defaultMaxAgeSeconds = 600
export const defaultOutlierBps = 5000
/**
 * Significant digits a resolved rate's text keeps, rounded down (a lower rate is the merchant's favour: the
 * buyer pays more of the asset). The text is the rate: payments are priced from it, so a stored rate and the
 * amount computed from it always agree.
 */
export const rateSignificantDigits = 20

/** The ranges a rule's numbers must be in (whole numbers). `checkPricingConfig` names the field that is not. */
export const ruleLimits = {
  maxAgeSeconds: { min: 1, max: 604_800 },
  spreadBps: { min: 0, max: 9_999 },
  outlierBps: { min: 1, max: 1_000_000 },
} as const

export type RateMethod = 'fallback' | 'median' | 'pinned' | 'derived'
/** A quote a rate rests on: the provider, the pair it quoted (a bridge leg's, or its inverse), its text and time. */
export type RateSource = { provider: string; pair: string; rate: string; at: Date }
/** A quote that was seen but not used, and why. */
export type RateWarning =
  | {
      kind: 'outlier'
      pair: string
      provider: string
      rate: string
      at: Date
      /** The median of the other fresh sources' rates, and this one's distance from it in bps (both rounded). */
      medianOfOthers: string
      distanceBps: string
    }
  | { kind: 'unreadable'; pair: string; provider: string; rate: string }

/** A pair's rate, as `resolveRate` made it. */
export type ResolvedRate = {
  ok: true
  pair: string
  /** What one base costs in quote after the spread: a plain decimal, `rateSignificantDigits` kept, rounded down. */
  rate: string
  method: RateMethod
  /** The quotes used (none for a pin). */
  sources: RateSource[]
  /** The time of the oldest quote used (`now` when none is: a pin holds at any time). */
  at: Date
  /** The spread taken off (the pair's rule, else the defaults'; a bridge's legs take none of their own). */
  spreadBps: number
  warnings: RateWarning[]
}

/** Why a pair has no rate now. `leg` names the bridged pair that failed; `lastAt` the newest quote's time seen. */
export type RateUnavailable = {
  ok: false
  pair: string
  reason: UnavailableReason
  leg?: string
  lastAt?: Date
  warnings: RateWarning[]
}

const pairKeyPattern = /^([A-Z0-9]{2,10})\/([A-Z0-9]{2,10})$/

/**
 * The pair a `BASE/QUOTE` key names, or undefined for a malformed key (lower case, spaces, a pair of one code).
 *
 * @example
 * parsePairKey('BTC/USD') // { base: 'BTC', quote: 'USD' }
 * parsePairKey('btc-usd') // undefined
 */
export function parsePairKey(key: string): RatePair | undefined {
  const match = pairKeyPattern.exec(key)
  if (!match || match[1] === match[2]) return undefined
  return { base: match[1] as string, quote: match[2] as string }
}

const hasRule = (rules: PricingRules, key: string) => Object.hasOwn(rules.pairs, key)

/**
 * A pair's rule with every unset field taken from `defaults` (a field set to `undefined` counts as unset), or
 * undefined when the pair has no rule of its own: a pair without a rule has no rate.
 *
 * @example
 * ruleFor('BTC/USD', { defaults: { sources: ['kraken'], spreadBps: 50 }, pairs: { 'BTC/USD': { spreadBps: 0 } } })
 * // { sources: ['kraken'], spreadBps: 0 }
 */
export function ruleFor(pair: string, rules: PricingRules): RateRule | undefined {
  if (!hasRule(rules, pair)) return undefined
  const own = rules.pairs[pair] ?? {}
  const merged: Record<string, unknown> = {}
  for (const layer of [rules.defaults ?? {}, own])
    for (const [field, value] of Object.entries(layer)) if (value !== undefined) merged[field] = value
  return merged as RateRule
}

/**
 * The rule key a bridge leg `base/quote` resolves through: the leg's own rule when there is one, else its
 * inverse's (whose rate is then used as `1 / rate`), else undefined.
 *
 * @example
 * legRule('USD', 'EUR', { pairs: { 'EUR/USD': { sources: ['ecb'] } } }) // { key: 'EUR/USD', inverted: true }
 */
export function legRule(
  base: string,
  quote: string,
  rules: PricingRules,
): { key: string; inverted: boolean } | undefined {
  if (hasRule(rules, `${base}/${quote}`)) return { key: `${base}/${quote}`, inverted: false }
  if (hasRule(rules, `${quote}/${base}`)) return { key: `${quote}/${base}`, inverted: true }
  return undefined
}

const isWholeIn = (n: unknown, range: { min: number; max: number }): n is number =>
  typeof n === 'number' && Number.isInteger(n) && n >= range.min && n <= range.max

/** An exact rate before the spread, or why there is none (the pair is filled in by `resolveRate`). */
type Exact =
  | {
      ok: true
      value: Rational
      method: RateMethod
      sources: RateSource[]
      at?: Date
      warnings: RateWarning[]
    }
  | Failure
type Failure = { ok: false; reason: UnavailableReason; leg?: string; lastAt?: Date; warnings: RateWarning[] }

type Inputs = { rules: PricingRules; quotes: QuotesBySource; now: Date }

const fail = (
  reason: UnavailableReason,
  more: { lastAt?: Date; warnings?: RateWarning[] } = {},
): Failure => ({
  ok: false,
  reason,
  ...(more.lastAt === undefined ? {} : { lastAt: more.lastAt }),
  warnings: more.warnings ?? [],
})

const oldest = (times: Array<Date | undefined>): Date | undefined =>
  times.reduce<Date | undefined>(
    (min, t) => (t === undefined || (min !== undefined && min <= t) ? min : t),
    undefined,
  )

/**
 * A pair's rate from its rule and the providers' latest quotes, at `now`:
 *
 * - `pin`: the operator's fixed rate; no source is asked (a pin wins over `via` and `sources`).
 * - `via`: `BASE/VIA × VIA/QUOTE`, each leg made by its own rule (sources, mode, age, outlier guard, pin, via).
 *   A leg with no rule of its own uses its inverse's rule as `1 / rate` (`USD/EUR` from `EUR/USD`); with
 *   neither, the pair is unavailable (`no-rule`, `leg` naming it). A leg's own `spreadBps` is not taken: the
 *   spread is the requested pair's, taken once. A chain that comes back to a pair it is resolving is `via-cycle`.
 * - `sources`: each source's newest quote of the pair (exactly `BASE/QUOTE`; a source's inverse quote is not
 *   used). A quote older than `maxAgeSeconds` (default 600) is stale. With two or more fresh quotes, the outlier
 *   guard ignores, one at a time, the quote furthest from the median of the other remaining ones while that
 *   distance (relative to the median) is more than `outlierBps` (default 5000), and reports each in `warnings`;
 *   two that disagree are both ignored; with none left the pair is `sources-disagree`. Then
 *   `fallback` (the default) takes the first remaining source in the rule's order, `median` the exact median of
 *   all remaining (the mean of the two middle ones for an even count).
 *
 * The spread (`spreadBps`, default 0) is then taken off in the merchant's favour, pins and bridges included, and
 * the rate written with `rateSignificantDigits` significant digits, rounded down. `at` is the oldest quote used.
 *
 * @example
 * const quotes = new Map([['kraken', [{ base: 'BTC', quote: 'USD', rate: '97123.45', at: new Date() }]]])
 * resolveRate('BTC/USD', { pairs: { 'BTC/USD': { sources: ['kraken'] } } }, quotes, new Date())
 * // { ok: true, rate: '97123.45', method: 'fallback', sources: [{ provider: 'kraken', … }], … }
 */
export function resolveRate(
  pair: string,
  rules: PricingRules,
  quotesBySource: QuotesBySource,
  now: Date,
): ResolvedRate | RateUnavailable {
  const exact = resolvePair(pair, { rules, quotes: quotesBySource, now }, [])
  if (!exact.ok) return { ...exact, pair }
  const spreadBps = ruleFor(pair, rules)?.spreadBps ?? 0
  if (!isWholeIn(spreadBps, ruleLimits.spreadBps))
    return { ok: false, pair, reason: 'bad-rule', warnings: exact.warnings }
  return {
    ok: true,
    pair,
    rate: formatSignificant(applySpread(exact.value, spreadBps), rateSignificantDigits, 'floor'),
    method: exact.method,
    sources: exact.sources,
    at: exact.at ?? now,
    spreadBps,
    warnings: exact.warnings,
  }
}

/** The exact rate of a pair that has a rule (`stack`: the pairs whose bridges are being resolved). */
function resolvePair(key: string, inputs: Inputs, stack: readonly string[]): Exact {
  const rule = ruleFor(key, inputs.rules)
  const pair = parsePairKey(key)
  if (!rule || !pair) return fail('no-rule')
  if (rule.pin !== undefined) {
    const pin = decimalParse(rule.pin)
    return pin.ok
      ? { ok: true, value: pin.value, method: 'pinned', sources: [], warnings: [] }
      : fail('bad-rule')
  }
  if (rule.via !== undefined) return resolveBridge(pair, rule.via, inputs, [...stack, key])
  return resolveFromSources(key, pair, rule, inputs)
}

function resolveBridge(pair: RatePair, via: string, inputs: Inputs, stack: string[]): Exact {
  if (!isCurrencyCode(via) || via === pair.base || via === pair.quote) return fail('bad-rule')
  const legs: Exact[] = []
  for (const [base, quote] of [
    [pair.base, via],
    [via, pair.quote],
  ] as const) {
    const leg = resolveLeg(base, quote, inputs, stack)
    // the warnings of legs resolved before a failing one are kept with the failure
    if (!leg.ok) return { ...leg, warnings: [...legs.flatMap((l) => l.warnings), ...leg.warnings] }
    legs.push(leg)
  }
  const [first, second] = legs as [Exact & { ok: true }, Exact & { ok: true }]
  const at = oldest([first.at, second.at])
  return {
    ok: true,
    value: multiply(first.value, second.value),
    method: 'derived',
    sources: [...first.sources, ...second.sources],
    ...(at === undefined ? {} : { at }),
    warnings: [...first.warnings, ...second.warnings],
  }
}

function resolveLeg(base: string, quote: string, inputs: Inputs, stack: readonly string[]): Exact {
  const leg = `${base}/${quote}`
  const found = legRule(base, quote, inputs.rules)
  if (!found) return { ...fail('no-rule'), leg }
  if (stack.includes(found.key)) return { ...fail('via-cycle'), leg }
  const exact = resolvePair(found.key, inputs, stack)
  if (!exact.ok) return { ...exact, leg: exact.leg ?? leg }
  return found.inverted ? { ...exact, value: divide(rational(1n), exact.value) } : exact
}

/** A source's newest quote of the pair, read. */
type Seen = { provider: string; quote: RateQuote; value: Rational }

function resolveFromSources(key: string, pair: RatePair, rule: RateRule, inputs: Inputs): Exact {
  const maxAgeSeconds = rule.maxAgeSeconds ?? defaultMaxAgeSeconds
  const outlierBps = rule.outlierBps ?? defaultOutlierBps
  const mode = rule.mode ?? 'fallback'
  if (
    !isWholeIn(maxAgeSeconds, ruleLimits.maxAgeSeconds) ||
    !isWholeIn(outlierBps, ruleLimits.outlierBps) ||
    (mode !== 'fallback' && mode !== 'median') ||
    (rule.sources !== undefined && !Array.isArray(rule.sources))
  )
    return fail('bad-rule')
  const providers = [...new Set(rule.sources ?? [])]
  if (providers.length === 0) return fail('no-sources')

  const warnings: RateWarning[] = []
  const seen: Seen[] = []
  for (const provider of providers) {
    const quote = newestQuote(inputs.quotes.get(provider) ?? [], pair)
    if (!quote) continue
    const parsed = decimalParse(quote.rate)
    if (parsed.ok) seen.push({ provider, quote, value: parsed.value })
    else warnings.push({ kind: 'unreadable', pair: key, provider, rate: String(quote.rate).slice(0, 48) })
  }
  if (seen.length === 0) return fail('no-quotes', { warnings })
  const lastAt = seen.map((s) => s.quote.at).reduce((a, b) => (b > a ? b : a))
  const now = inputs.now.getTime()
  const fresh = seen.filter((s) => now - s.quote.at.getTime() <= maxAgeSeconds * 1000)
  if (fresh.length === 0) return fail('stale', { lastAt, warnings })

  const kept = withoutOutliers(key, fresh, outlierBps, warnings)
  if (kept.length === 0) return fail('sources-disagree', { lastAt, warnings })
  const used = mode === 'fallback' ? kept.slice(0, 1) : kept
  const at = oldest(used.map((s) => s.quote.at)) as Date
  return {
    ok: true,
    value: mode === 'fallback' ? (used[0] as Seen).value : median(used.map((s) => s.value)),
    method: mode,
    sources: used.map((s) => ({ provider: s.provider, pair: key, rate: s.quote.rate, at: s.quote.at })),
    at,
    warnings,
  }
}

/** The newest quote of exactly `pair` in a provider's list (one with an invalid time is never newest). */
function newestQuote(quotes: readonly RateQuote[], pair: RatePair): RateQuote | undefined {
  let newest: RateQuote | undefined
  for (const q of quotes) {
    if (q.base !== pair.base || q.quote !== pair.quote || !(q.at instanceof Date)) continue
    if (Number.isNaN(q.at.getTime())) continue
    if (!newest || q.at > newest.at) newest = q
  }
  return newest
}

/**
 * The fresh quotes, in the rule's order, without the outliers. Each round judges every remaining quote against
 * the median of the other remaining ones and ignores the furthest (the first in the rule's order on a tie) when
 * it is further than `outlierBps`; rounds repeat until every remaining quote is within the limit. One at a time,
 * because a wild quote drags the median of the others for everyone else (with three sources, the others of a
 * good one are the other good one and the wild one). When the last two disagree, both are ignored: neither is
 * corroborated, and which is right cannot be told. With one fresh quote there is nothing to compare: it is kept.
 */
function withoutOutliers(key: string, fresh: Seen[], outlierBps: number, warnings: RateWarning[]): Seen[] {
  const limit = rational(BigInt(outlierBps))
  let remaining = fresh
  while (remaining.length >= 2) {
    const judged = remaining.map((s, i) => {
      const reference = median(remaining.filter((_, j) => j !== i).map((o) => o.value))
      return { s, reference, distance: distanceBps(s.value, reference) }
    })
    const worst = judged.reduce((a, b) => (compare(b.distance, a.distance) > 0 ? b : a))
    if (compare(worst.distance, limit) <= 0) break
    const ignored = remaining.length === 2 ? judged : [worst]
    for (const { s, reference, distance } of ignored)
      warnings.push({
        kind: 'outlier',
        pair: key,
        provider: s.provider,
        rate: s.quote.rate,
        at: s.quote.at,
        medianOfOthers: formatSignificant(reference, rateSignificantDigits),
        distanceBps: formatDecimal(distance, 2),
      })
    remaining = remaining.filter((s) => !ignored.some((i) => i.s === s))
  }
  return remaining
}
