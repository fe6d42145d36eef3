import { DriverError } from './errors.ts'
import type { DriverLogger, OptionsSchema } from './types.ts'

/**
 * The rate provider contract: a provider answers prices of currency pairs from one source (an exchange's ticker,
 * an aggregator, the operator's own numbers). The gateway decides which source counts for which pair (fallback
 * order, median, maximum age, spread, bridges); a provider only reports what its source says, exactly.
 */

/**
 * A currency or asset code: an ISO 4217 fiat code (`USD`, `EUR`) or an asset symbol (`BTC`, `ETH`, `USDT`),
 * upper case letters and digits, 2 to 10 of them.
 */
export type CurrencyCode = string

/** `base/quote`: what one `base` costs in `quote` (`BTC/USD` = 65000 means one bitcoin costs 65,000 dollars). */
export type RatePair = { base: CurrencyCode; quote: CurrencyCode }

/** One price a source reported. */
export type RateQuote = {
  base: CurrencyCode
  quote: CurrencyCode
  /**
   * What one `base` costs in `quote`: a plain positive decimal string (`"65432.10"`), never a float. A source that
   * answers JSON numbers is read through `decimalOfJsonNumber`.
   */
  rate: string
  /** When the source observed the price (its own timestamp where it gives one, else when it answered). */
  at: Date
}

/** What the gateway hands a rate provider factory. Providers never see the database, queues or keys. */
export type RateContext = {
  /** The provider's name in `plugins.config.ts`. */
  name: string
  log: DriverLogger
}

/** A rate provider: a plain object made by a plugin's `create`. */
export type RateProvider = {
  /**
   * Prices for the pairs asked, as the source reports them; pairs it does not know are left out (never guessed).
   * Rejects with a `DriverError` when the source cannot answer (`retryable` for timeouts, 5xx, 429).
   */
  fetchRates(pairs: readonly RatePair[], signal?: AbortSignal): Promise<RateQuote[]>
  close?(): Promise<void>
}

/** What a rate provider module exports by default. */
export type RateProviderDefinition<Options = unknown> = {
  apiVersion: number
  /** The plugin's name, for messages (`rates-kraken`, `@acme/tollgate-rates`). */
  name: string
  options: OptionsSchema<Options>
  create(options: Options, ctx: RateContext): RateProvider | Promise<RateProvider>
}

/**
 * Declares a rate provider plugin. The module's default export must be the result.
 *
 * @example
 * export default defineRateProvider({
 *   apiVersion: SDK_API_VERSION,
 *   name: 'rates-kraken',
 *   options: krakenOptionsSchema,
 *   create: (options, ctx) => createKrakenProvider(options, ctx),
 * })
 */
export function defineRateProvider<Options>(
  definition: RateProviderDefinition<Options>,
): RateProviderDefinition<Options> {
  return definition
}

const codePattern = /^[A-Z0-9]{2,10}$/
/** A positive plain decimal of at most 40 digits in all. */
const ratePattern = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/
const bad = (message: string) => new DriverError('RATE_BAD_QUOTE', message, { retryable: false })

/**
 * Whether `code` is a currency or asset code as the gateway writes them (`USD`, `BTC`, `USDT`).
 *
 * @example
 * isCurrencyCode('usd') // false
 */
export const isCurrencyCode = (code: unknown): code is CurrencyCode =>
  typeof code === 'string' && codePattern.test(code)

/**
 * Checks a quote from a provider before the gateway keeps it: known codes, a positive plain decimal rate of at
 * most 40 digits, a valid time not more than 5 minutes ahead of `now`. Throws a non-retryable `RATE_BAD_QUOTE`
 * `DriverError` otherwise; returns the quote typed.
 *
 * @example
 * const quote = checkRateQuote({ base: 'BTC', quote: 'USD', rate: '65000.5', at: new Date() })
 */
export function checkRateQuote(value: unknown, now: Date = new Date()): RateQuote {
  if (typeof value !== 'object' || value === null) throw bad('a quote must be an object')
  const q = value as Record<string, unknown>
  if (!isCurrencyCode(q.base) || !isCurrencyCode(q.quote))
    throw bad('base and quote must be currency codes such as BTC and USD')
  if (q.base === q.quote) throw bad(`${q.base}/${q.quote} is not a pair`)
  if (typeof q.rate !== 'string' || q.rate.length > 41 || !ratePattern.test(q.rate) || !/[1-9]/.test(q.rate))
    throw bad(
      `${q.base}/${q.quote}: the rate must be a positive plain decimal string, got ${typeof q.rate === 'string' ? JSON.stringify(q.rate.slice(0, 48)) : typeof q.rate}`,
    )
  if (!(q.at instanceof Date) || Number.isNaN(q.at.getTime()))
    throw bad(`${q.base}/${q.quote}: at must be a Date`)
  if (q.at.getTime() > now.getTime() + 5 * 60_000)
    throw bad(`${q.base}/${q.quote}: the quote is dated in the future`)
  return q as RateQuote
}

/**
 * The exact decimal a JSON number was written as, for sources that answer prices as numbers: JavaScript prints
 * the shortest decimal that reads back as the same double, which is the source's own text for any price of up to
 * 15 significant digits. Throws `RATE_BAD_QUOTE` for what is not a positive finite number.
 *
 * @example
 * decimalOfJsonNumber(65432.1) // '65432.1'
 * decimalOfJsonNumber(1.5e-7)  // '0.00000015'
 */
export function decimalOfJsonNumber(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)
    throw bad(`not a positive number: ${String(n).slice(0, 32)}`)
  const text = String(n)
  const exp = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text)
  if (!exp) return text
  const [, whole = '', fraction = '', power = '0'] = exp
  const digits = whole + fraction
  const point = whole.length + Number(power)
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`.replace(/0+$/, '')
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length)
  return `${digits.slice(0, point)}.${digits.slice(point)}`
}

/**
 * The distinct pairs of a request, each checked: codes such as `BTC` and `USD`, two different ones. A malformed
 * pair is refused with the non-retryable `RATE_BAD_REQUEST` before anything is sent; the first of equal pairs is
 * kept, in the order asked.
 *
 * @example
 * distinctPairs([{ base: 'BTC', quote: 'USD' }, { base: 'BTC', quote: 'USD' }]) // [{ base: 'BTC', quote: 'USD' }]
 */
export function distinctPairs(pairs: readonly RatePair[]): RatePair[] {
  const seen = new Map<string, RatePair>()
  for (const pair of pairs) {
    if (!isCurrencyCode(pair?.base) || !isCurrencyCode(pair?.quote) || pair.base === pair.quote)
      throw new DriverError(
        'RATE_BAD_REQUEST',
        `not a currency pair: ${String(JSON.stringify(pair)).slice(0, 80)} (codes such as BTC and USD, two different ones)`,
        { retryable: false },
      )
    seen.set(`${pair.base}/${pair.quote}`, { base: pair.base, quote: pair.quote })
  }
  return [...seen.values()]
}

/**
 * A quote from a source, checked as the gateway checks it (`checkRateQuote`); one that fails is the source's bad
 * answer, the non-retryable `RATE_BAD_ANSWER` named by `what` (the request it came from).
 *
 * @example
 * checkedQuote({ base: 'BTC', quote: 'USD', rate: '65000.12', at }, 'GET /v2/exchange-rates?currency=BTC')
 */
export function checkedQuote(quote: RateQuote, what: string): RateQuote {
  try {
    return checkRateQuote(quote)
  } catch (err) {
    throw new DriverError('RATE_BAD_ANSWER', `${what}: ${err instanceof Error ? err.message : String(err)}`, {
      retryable: false,
    })
  }
}
