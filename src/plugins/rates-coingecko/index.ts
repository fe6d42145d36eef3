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
import { readPrices } from './answer.ts'
import { coinGeckoErrorMessage } from './client.ts'
import { type CoinGeckoOptions, coinGeckoOptionsSchema } from './options.ts'

/** The endpoint's path under the base URL. */
const pricePath = '/api/v3/simple/price'

/**
 * The rate provider for CoinGecko's simple price endpoint (`GET /api/v3/simple/price?ids=bitcoin,ethereum&
 * vs_currencies=usd,eur&include_last_updated_at=true`): one request for every pair asked, the bases by their
 * coin ids (`coinIds`), the quotes as lowercase `vs_currencies`. Prices come as JSON numbers and are read as the
 * exact decimal CoinGecko wrote (`decimalOfJsonNumber`; no `precision=full`, whose 18 digits a double cannot
 * carry); each quote is dated by the coin's `last_updated_at`, else the response's `Date` header, else its
 * arrival. A base without a coin id, or a coin or currency CoinGecko leaves out of its answer, is left out. A key
 * goes in `x-cg-demo-api-key` or `x-cg-pro-api-key` by plan, and never into a message.
 *
 * @example
 * const gecko = createCoinGeckoProvider(coinGeckoOptionsSchema.parse({}), ctx)
 * await gecko.fetchRates([{ base: 'BTC', quote: 'USD' }])
 * // [{ base: 'BTC', quote: 'USD', rate: '65000.12', at: 2026-12-04T09:59:40.000Z }]
 */
export function createCoinGeckoProvider(options: CoinGeckoOptions, ctx: RateContext): RateProvider {
  // the path starts with a slash; a base URL given with a trailing one would double it
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const headers: Record<string, string> =
    options.apiKey === undefined
      ? {}
      : { [options.plan === 'pro' ? 'x-cg-pro-api-key' : 'x-cg-demo-api-key']: options.apiKey }
  const secrets = options.apiKey === undefined ? [] : [options.apiKey]

  async function fetchRates(pairs: readonly RatePair[], signal?: AbortSignal): Promise<RateQuote[]> {
    const asked = distinctPairs(pairs).flatMap((pair) => {
      const id = options.coinIds[pair.base]
      return id === undefined ? [] : [{ pair, id, vs: pair.quote.toLowerCase() }]
    })
    if (asked.length === 0) return []
    const ids = [...new Set(asked.map((a) => a.id))].join(',')
    const vs = [...new Set(asked.map((a) => a.vs))].join(',')
    const query = `ids=${ids}&vs_currencies=${vs}&include_last_updated_at=true`
    const what = `GET ${pricePath}?${query}`
    const answer = await requestJson(`${baseUrl}${pricePath}?${query}`, {
      headers,
      timeoutMs: options.timeoutMs,
      maxResponseBytes: options.maxResponseBytes,
      signal,
      codePrefix: 'RATE',
      what,
      service: 'CoinGecko',
      errorMessage: coinGeckoErrorMessage,
      secrets,
    })
    const price = readPrices(answer.body, what)
    const quotes: RateQuote[] = []
    for (const { pair, id, vs: currency } of asked) {
      const found = price(id, currency)
      if (!found) continue
      const at = found.updatedAt ?? answer.answeredAt
      quotes.push(checkedQuote({ base: pair.base, quote: pair.quote, rate: found.rate, at }, what))
    }
    ctx.log.debug({ asked: asked.length, answered: quotes.length }, 'rates fetched from CoinGecko')
    return quotes
  }

  return {
    fetchRates: (pairs, signal) =>
      // every message passes here: the key is blanked out of whatever the API put into one
      fetchRates(pairs, signal).catch((err: unknown) => {
        throw withoutSecrets(err, secrets)
      }),
  }
}

export default defineRateProvider({
  apiVersion: SDK_API_VERSION,
  name: 'rates-coingecko',
  options: coinGeckoOptionsSchema,
  create: (options, ctx) => createCoinGeckoProvider(options, ctx),
})
