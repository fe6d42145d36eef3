import {
  checkedQuote,
  DriverError,
  defineRateProvider,
  distinctPairs,
  mapLimit,
  type RateContext,
  type RatePair,
  type RateProvider,
  type RateQuote,
  SDK_API_VERSION,
} from '@tollgate/sdk'
import { requestJson } from '@tollgate/sdk/http'
import { readExchangeRates } from './answer.ts'
import { coinbaseErrorMessage } from './client.ts'
import { type CoinbaseOptions, coinbaseOptionsSchema } from './options.ts'

/** The endpoint's path under the base URL. */
const ratesPath = '/v2/exchange-rates'
/** Bases asked at once: a request per base, a few in flight, well inside the public rate limit. */
const parallelRequests = 4

/** What Coinbase answered for one base: its rates by Coinbase code, and when; undefined when it does not know it. */
type BaseRates = { rates: Record<string, string>; at: Date; what: string } | undefined

/**
 * The rate provider for Coinbase's public exchange rates (`GET /v2/exchange-rates?currency=BTC`, no key): one
 * request per base currency asked, each answering what one unit of the base costs in every currency Coinbase
 * lists, as decimal strings. A pair's rate is the quote currency's entry, exactly as Coinbase wrote it; a base
 * Coinbase does not know (its 400 "Invalid currency") or a quote missing from its rates is left out. The answer
 * carries no time of its own: a quote is dated by the response's `Date` header, else by its arrival. Any failed
 * request fails the whole fetch (a partial answer would read as pairs Coinbase does not know).
 *
 * @example
 * const coinbase = createCoinbaseProvider(coinbaseOptionsSchema.parse({}), ctx)
 * await coinbase.fetchRates([{ base: 'BTC', quote: 'USD' }])
 * // [{ base: 'BTC', quote: 'USD', rate: '65000.12', at: 2026-12-04T10:00:00.000Z }]
 */
export function createCoinbaseProvider(options: CoinbaseOptions, ctx: RateContext): RateProvider {
  // the path starts with a slash; a base URL given with a trailing one would double it
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const coinbaseCode = (code: string) => options.currencies[code] ?? code

  async function ratesOf(base: string, signal?: AbortSignal): Promise<BaseRates> {
    const currency = coinbaseCode(base)
    const what = `GET ${ratesPath}?currency=${currency}`
    const answer = await requestJson(`${baseUrl}${ratesPath}?currency=${currency}`, {
      timeoutMs: options.timeoutMs,
      maxResponseBytes: options.maxResponseBytes,
      signal,
      codePrefix: 'RATE',
      what,
      service: 'Coinbase',
      accept: [400],
      errorMessage: coinbaseErrorMessage,
    })
    if (answer.status === 400) {
      // the documented answer for a currency Coinbase does not list; any other 400 is a refusal
      const listed = (answer.body as { errors?: unknown } | null)?.errors
      const errors: Array<{ id?: unknown; message?: unknown }> = Array.isArray(listed) ? listed : []
      const said = errors.map((e) => String(e?.message ?? e?.id)).join('; ')
      if (errors.some((e) => e?.id === 'invalid_request' && /^Invalid currency/.test(String(e?.message))))
        return undefined
      throw new DriverError('RATE_REJECTED', `${what}: HTTP 400${said ? `: ${said.slice(0, 200)}` : ''}`, {
        retryable: false,
      })
    }
    return { rates: readExchangeRates(answer.body, currency, what), at: answer.answeredAt, what }
  }

  async function fetchRates(pairs: readonly RatePair[], signal?: AbortSignal): Promise<RateQuote[]> {
    const asked = distinctPairs(pairs)
    const bases = [...new Set(asked.map((p) => p.base))]
    const answers = new Map(
      await mapLimit(bases, parallelRequests, async (base) => [base, await ratesOf(base, signal)] as const),
    )
    const quotes: RateQuote[] = []
    for (const pair of asked) {
      const answer = answers.get(pair.base)
      const code = coinbaseCode(pair.quote)
      const rate = answer && Object.hasOwn(answer.rates, code) ? answer.rates[code] : undefined
      if (!answer || rate === undefined) continue
      quotes.push(checkedQuote({ base: pair.base, quote: pair.quote, rate, at: answer.at }, answer.what))
    }
    ctx.log.debug({ asked: asked.length, answered: quotes.length }, 'rates fetched from Coinbase')
    return quotes
  }

  return { fetchRates }
}

export default defineRateProvider({
  apiVersion: SDK_API_VERSION,
  name: 'rates-coinbase',
  options: coinbaseOptionsSchema,
  create: (options, ctx) => createCoinbaseProvider(options, ctx),
})
