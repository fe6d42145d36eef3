import {
  checkedQuote,
  defineRateProvider,
  distinctPairs,
  type RateContext,
  type RatePair,
  type RateProvider,
  type RateQuote,
  SDK_API_VERSION,
} from '@tollgate/sdk'
import { requestJson, withoutSecrets } from '@tollgate/sdk/http'
import { readRates } from './answer.ts'
import { endpointErrorMessage } from './client.ts'
import { type HttpRatesOptions, httpRatesOptionsSchema } from './options.ts'

/**
 * The rate provider for a merchant's own rates endpoint: `GET <url>` (with the bearer token and headers of the
 * options) answers `{"rates": [{"base": "BTC", "quote": "USD", "rate": "65000.12", "at":
 * "2026-12-04T10:00:00Z"}]}`. Each pair asked is the entry for it, rate and time exactly as the endpoint wrote
 * them; a pair the answer lacks is left out, entries not asked for are ignored. Messages name the endpoint
 * without its query, and never hold the token or a header value.
 *
 * @example
 * const own = createHttpRatesProvider(httpRatesOptionsSchema.parse({ url: 'https://shop.example.com/api/rates' }), ctx)
 * await own.fetchRates([{ base: 'BTC', quote: 'USD' }])
 * // [{ base: 'BTC', quote: 'USD', rate: '65000.12', at: 2026-12-04T10:00:00.000Z }]
 */
export function createHttpRatesProvider(options: HttpRatesOptions, ctx: RateContext): RateProvider {
  const headers: Record<string, string> = {
    ...options.headers,
    ...(options.bearerToken === undefined ? {} : { Authorization: `Bearer ${options.bearerToken}` }),
  }
  // a query may carry a key of its own: messages name the endpoint without it, and a network error's text that
  // quotes the URL has it blanked out
  const endpoint = new URL(options.url)
  const secrets = [
    ...(options.bearerToken === undefined ? [] : [options.bearerToken]),
    ...Object.values(options.headers),
    ...(endpoint.search.length > 1 ? [endpoint.search.slice(1)] : []),
  ]
  const what = `GET ${endpoint.origin}${endpoint.pathname}`

  async function fetchRates(pairs: readonly RatePair[], signal?: AbortSignal): Promise<RateQuote[]> {
    const asked = distinctPairs(pairs)
    if (asked.length === 0) return []
    const answer = await requestJson(options.url, {
      headers,
      timeoutMs: options.timeoutMs,
      maxResponseBytes: options.maxResponseBytes,
      signal,
      codePrefix: 'RATE',
      what,
      service: 'the rates endpoint',
      errorMessage: endpointErrorMessage,
      secrets,
    })
    const given = readRates(answer.body, what)
    const quotes = asked.flatMap((pair) => {
      const quote = given.get(`${pair.base}/${pair.quote}`)
      return quote ? [checkedQuote(quote, what)] : []
    })
    ctx.log.debug({ asked: asked.length, answered: quotes.length }, 'rates fetched from the rates endpoint')
    return quotes
  }

  return {
    fetchRates: (pairs, signal) =>
      // every message passes here: credentials are blanked out of whatever the endpoint put into one
      fetchRates(pairs, signal).catch((err: unknown) => {
        throw withoutSecrets(err, secrets)
      }),
  }
}

export default defineRateProvider({
  apiVersion: SDK_API_VERSION,
  name: 'rates-http',
  options: httpRatesOptionsSchema,
  create: (options, ctx) => createHttpRatesProvider(options, ctx),
})
