import { isCurrencyCode, type PricingConfig } from '@tollgate/sdk'
import { decimalParse } from './decimal.ts'
import { PricingConfigError, type PricingConfigProblem } from './errors.ts'
import { legRule, parsePairKey, ruleFor, ruleLimits } from './rules.ts'

const pricingKeys = ['pairs', 'defaults', 'refreshSeconds', 'rateLockSeconds']
const ruleKeys = ['sources', 'mode', 'maxAgeSeconds', 'spreadBps', 'outlierBps', 'pin', 'via']
const secondsLimit = { min: 1, max: 86_400 }

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const pairPath = (key: string) => `pricing.pairs[${JSON.stringify(key)}]`
/** A value as a message may quote it: short, and never an object's whole text. */
const shown = (v: unknown) =>
  typeof v === 'string' ? JSON.stringify(v.slice(0, 48)) : typeof v === 'number' ? String(v) : typeof v

/**
 * Checks the `pricing` section of plugins.config.ts against the rate providers configured under `rates`, and
 * answers it typed, or throws a `PricingConfigError` (permanent, `PRICING_CONFIG_INVALID`) listing every
 * problem with its field path (`pricing.pairs["BTC/USD"].sources[1]`). Refused:
 *
 * - unknown keys, in `pricing` and in any rule;
 * - pair keys that are not `BASE/QUOTE` of two different codes (`BTC/USD`, upper case, 2 to 10 letters or digits);
 * - sources that are not a non-empty list of distinct names under `rates`; a `mode` other than fallback or median;
 * - numbers that are not whole numbers in range: `maxAgeSeconds` 1..604800, `spreadBps` 0..9999, `outlierBps`
 *   1..1000000, `refreshSeconds` and `rateLockSeconds` 1..86400;
 * - a `pin` that is not a positive plain decimal; a `via` that is not a code, or is the pair's base or quote;
 * - `pin` or `via` in `defaults` (they describe one pair), and a pair rule with two of `pin`, `via`, `sources`
 *   (only one of them would be used);
 * - a pair with nothing to make its rate from (no pin, no via, and no sources of its own or in `defaults`);
 * - a `via` leg with no rule of its own nor an inverse rule, and `via` chains that come back to their pair.
 *
 * @example
 * const pricing = checkPricingConfig(config.pricing, Object.keys(config.rates ?? {}))
 */
export function checkPricingConfig(config: unknown, providerNames: readonly string[]): PricingConfig {
  const problems: PricingConfigProblem[] = []
  const problem = (path: string, message: string) => problems.push({ path, message })
  if (!isObject(config)) throw new PricingConfigError([{ path: 'pricing', message: 'must be an object' }])

  for (const key of Object.keys(config))
    if (!pricingKeys.includes(key))
      problem(`pricing.${key}`, `unknown key (known: ${pricingKeys.join(', ')})`)
  for (const field of ['refreshSeconds', 'rateLockSeconds'] as const)
    checkWhole(config[field], `pricing.${field}`, secondsLimit, problem)
  if (config.defaults !== undefined) {
    if (!isObject(config.defaults)) problem('pricing.defaults', 'must be an object')
    else {
      checkRule(config.defaults, 'pricing.defaults', undefined, providerNames, problem)
      for (const field of ['pin', 'via'] as const)
        if (config.defaults[field] !== undefined)
          problem(`pricing.defaults.${field}`, `${field} belongs to one pair's rule, not to the defaults`)
    }
  }
  if (!isObject(config.pairs)) {
    problem('pricing.pairs', 'must be an object of rules by pair ("BTC/USD": { … })')
    throw new PricingConfigError(problems)
  }

  const goodKeys: string[] = []
  for (const [key, rule] of Object.entries(config.pairs)) {
    const pair = parsePairKey(key)
    if (!pair) problem(pairPath(key), 'must be BASE/QUOTE of two different codes, such as "BTC/USD"')
    if (!isObject(rule)) problem(pairPath(key), 'must be an object (a rule)')
    if (!pair || !isObject(rule)) continue
    const before = problems.length
    checkRule(rule, pairPath(key), pair, providerNames, problem)
    const set = (['pin', 'via', 'sources'] as const).filter((f) => rule[f] !== undefined)
    if (set.length > 1)
      problem(
        pairPath(key),
        `sets ${set.join(' and ')}: a rule makes its rate from one of pin, via or sources`,
      )
    if (problems.length === before) goodKeys.push(key)
  }

  // what can only be judged across rules, once every rule reads well
  if (problems.length === 0) {
    const pricing = config as unknown as PricingConfig
    for (const key of goodKeys) checkSourcesAndLegs(key, pricing, problem)
    for (const key of goodKeys) {
      const cycle = viaCycle(key, pricing)
      if (cycle) problem(`${pairPath(key)}.via`, `the via chain comes back to the pair: ${cycle.join(' → ')}`)
    }
  }
  if (problems.length > 0) throw new PricingConfigError(problems)
  return config as unknown as PricingConfig
}

type Report = (path: string, message: string) => void

function checkWhole(value: unknown, path: string, range: { min: number; max: number }, problem: Report) {
  if (value === undefined) return
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max)
    problem(path, `must be a whole number from ${range.min} to ${range.max}, got ${shown(value)}`)
}

function checkRule(
  rule: Record<string, unknown>,
  path: string,
  pair: { base: string; quote: string } | undefined,
  providerNames: readonly string[],
  problem: Report,
) {
  for (const key of Object.keys(rule))
    if (!ruleKeys.includes(key)) problem(`${path}.${key}`, `unknown key (known: ${ruleKeys.join(', ')})`)
  const { sources, mode, pin, via } = rule
  if (sources !== undefined) {
    if (!Array.isArray(sources) || sources.length === 0)
      problem(`${path}.sources`, 'must be a non-empty list of rate provider names')
    else
      sources.forEach((name, i) => {
        if (typeof name !== 'string' || !providerNames.includes(name))
          problem(
            `${path}.sources[${i}]`,
            `unknown rate provider ${shown(name)} (configured under rates: ${providerNames.join(', ') || 'none'})`,
          )
        else if (sources.indexOf(name) !== i)
          problem(`${path}.sources[${i}]`, `${shown(name)} is listed twice`)
      })
  }
  if (mode !== undefined && mode !== 'fallback' && mode !== 'median')
    problem(`${path}.mode`, `must be "fallback" or "median", got ${shown(mode)}`)
  for (const field of ['maxAgeSeconds', 'spreadBps', 'outlierBps'] as const)
    checkWhole(rule[field], `${path}.${field}`, ruleLimits[field], problem)
  if (pin !== undefined) {
    const parsed = decimalParse(pin)
    if (!parsed.ok)
      problem(`${path}.pin`, `must be a positive plain decimal string such as "1": it ${parsed.reason}`)
  }
  if (via !== undefined) {
    if (!isCurrencyCode(via))
      problem(`${path}.via`, `must be a currency code such as "USD", got ${shown(via)}`)
    else if (pair && (via === pair.base || via === pair.quote))
      problem(`${path}.via`, `must differ from the pair's base and quote, got ${shown(via)}`)
  }
}

/** A pair must have something to make its rate from; each leg of its bridge must have a rule. */
function checkSourcesAndLegs(key: string, pricing: PricingConfig, problem: Report) {
  const rule = ruleFor(key, pricing)
  const pair = parsePairKey(key)
  if (!rule || !pair) return
  if (rule.pin !== undefined) return
  if (rule.via === undefined) {
    if (rule.sources === undefined)
      problem(
        pairPath(key),
        'has nothing to make its rate from: set sources (here or in defaults), pin or via',
      )
    return
  }
  for (const [base, quote] of [
    [pair.base, rule.via],
    [rule.via, pair.quote],
  ])
    if (!legRule(base as string, quote as string, pricing))
      problem(`${pairPath(key)}.via`, `no rule for the leg ${base}/${quote} (nor for ${quote}/${base})`)
}

/** The rule keys a pair's rate is made from: its bridge's legs (each leg's rule or its inverse's). */
function legKeys(key: string, pricing: PricingConfig): string[] {
  const rule = ruleFor(key, pricing)
  const pair = parsePairKey(key)
  if (!rule || !pair || rule.pin !== undefined || rule.via === undefined) return []
  return [legRule(pair.base, rule.via, pricing)?.key, legRule(rule.via, pair.quote, pricing)?.key].filter(
    (k): k is string => k !== undefined,
  )
}

/** A via chain from `start` back to `start` (as the keys along it), or undefined. */
function viaCycle(start: string, pricing: PricingConfig): string[] | undefined {
  const visited = new Set<string>()
  const walk = (key: string, path: string[]): string[] | undefined => {
    for (const next of legKeys(key, pricing)) {
      if (next === start) return [...path, next]
      if (visited.has(next)) continue
      visited.add(next)
      const found = walk(next, [...path, next])
      if (found) return found
    }
    return undefined
  }
  return walk(start, [start])
}
