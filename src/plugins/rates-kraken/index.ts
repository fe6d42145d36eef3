import {
  checkedQuote,
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
import { readTicker } from './answer.ts'
import { krakenErrorMessage } from './client.ts'
import { resultKeys } from './markets.ts'
import { type KrakenOptions, krakenOptionsSchema } from './options.ts'

/** The endpoint's path under the base URL. */
const tickerPath = '/0/public/Ticker'
/** Markets asked one by one at once, after a request for several failed on an unknown one. */
const parallelRequests = 4

/** A market as the request names it, with the Kraken codes of its assets. */
type Market = { name: string; base: string; quote: string }
/** Last prices by market name and when Kraken answered. */
type Prices = { byName: Map<string, string>; at: Date; what: string }

/**
 * The rate provider for Kraken's public ticker (`GET /0/public/Ticker?pair=XBTUSD,ETHEUR`, no key): one request
 * for every pair asked, each pair's rate the market's last trade price (`c[0]`), exactly as Kraken wrote it.
 * Gateway codes become Kraken's through `assets` (BTC is XBT); the answer's keys (`XXBTZUSD`) are matched back to
 * the markets asked. Kraken fails a whole request for one pair it does not list (`EQuery:Unknown asset pair`):
 * the markets are then asked one by one, and those Kraken does not list are left out. The ticker carries no time:
 * quotes are dated by the response's `Date` header, else by its arrival.
 *
 * @example
 * const kraken = createKrakenProvider(krakenOptionsSchema.parse({}), ctx)
 * await kraken.fetchRates([{ base: 'BTC', quote: 'USD' }])
 * // [{ base: 'BTC', quote: 'USD', rate: '65000.10000', at: 2026-12-04T10:00:00.000Z }]
 */
export function createKrakenProvider(options: KrakenOptions, ctx: RateContext): RateProvider {
  // the path starts with a slash; a base URL given with a trailing one would double it
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const krakenCode = (code: string) => options.assets[code] ?? code

  /** Asks for `markets` in one request; undefined when Kraken refused it for a pair it does not list. */
  async function ticker(markets: readonly Market[], signal?: AbortSignal): Promise<Prices | undefined> {
    const query = `pair=${markets.map((m) => m.name).join(',')}`
    const what = `GET ${tickerPath}?${query}`
    const answer = await requestJson(`${baseUrl}${tickerPath}?${query}`, {
      timeoutMs: options.timeoutMs,
      maxResponseBytes: options.maxResponseBytes,
      signal,
      codePrefix: 'RATE',
      what,
      service: 'Kraken',
      errorMessage: krakenErrorMessage,
    })
    const read = readTicker(answer.body, what)
    if (read.kind === 'unknown-pair') return undefined
    const keys = resultKeys(markets, [...read.prices.keys()])
    const byName = new Map([...keys].map(([name, key]) => [name, read.prices.get(key) as string]))
    return { byName, at: answer.answeredAt, what }
  }

  async function fetchRates(pairs: readonly RatePair[], signal?: AbortSignal): Promise<RateQuote[]> {
    const asked = distinctPairs(pairs).map((pair) => {
      const base = krakenCode(pair.base)
      const quote = krakenCode(pair.quote)
      return { pair, market: { name: `${base}${quote}`, base, quote } }
    })
    if (asked.length === 0) return []
    const markets = [...new Map(asked.map((a) => [a.market.name, a.market])).values()]
    const together = await ticker(markets, signal)
    // one unknown pair sinks the whole request: ask each market alone, and leave out the ones Kraken does not list
    const answers = together
      ? [together]
      : markets.length === 1
        ? []
        : (await mapLimit(markets, parallelRequests, (m) => ticker([m], signal))).filter(
            (p) => p !== undefined,
          )
    const quotes: RateQuote[] = []
    for (const { pair, market } of asked) {
      const answer = answers.find((a) => a.byName.has(market.name))
      if (!answer) continue
      const rate = answer.byName.get(market.name) as string
      quotes.push(checkedQuote({ base: pair.base, quote: pair.quote, rate, at: answer.at }, answer.what))
    }
    ctx.log.debug({ asked: asked.length, answered: quotes.length }, 'rates fetched from Kraken')
    return quotes
  }

  return { fetchRates }
}

export default defineRateProvider({
  apiVersion: SDK_API_VERSION,
  name: 'rates-kraken',
  options: krakenOptionsSchema,
  create: (options, ctx) => createKrakenProvider(options, ctx),
})
