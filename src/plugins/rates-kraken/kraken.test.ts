import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { type DriverLogger, type RateContext, rates } from '@tollgate/sdk'
import { driverRejection } from '@tollgate/sdk/testing'
import { type KrakenStandIn, startKraken } from '../../../test/stand-ins/rates/kraken.ts'
import type { Misbehavior } from '../../../test/stand-ins/rates/serve.ts'
import { loadRateProviders } from '../registry.ts'
import kraken, { createKrakenProvider } from './index.ts'
import { resultKeys } from './markets.ts'
import { krakenOptionsSchema } from './options.ts'

// The provider against a stand-in of Kraken's public ticker (test/stand-ins/rates/kraken.ts): Kraken's names for
// assets and markets mapped both ways, unknown pairs left out, and every way the API can fail as a typed error.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const ctx: RateContext = { name: 'kraken', log: silent }

let api: KrakenStandIn
const provider = (options: Record<string, unknown> = {}) =>
  createKrakenProvider(krakenOptionsSchema.parse({ baseUrl: api.url, ...options }), ctx)
const pair = (text: string) => {
  const [base = '', quote = ''] = text.split('/')
  return { base, quote }
}
const rows = (quotes: Array<{ base: string; quote: string; rate: string }>) =>
  quotes.map((q) => `${q.base}/${q.quote} ${q.rate}`)
/** A time the Date header can carry exactly (whole seconds). */
const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000)

beforeAll(() => {
  api = startKraken()
})
afterEach(() => {
  api.resetMarkets()
  api.misbehave(undefined)
  api.answerDatedAt(undefined)
  api.requests.length = 0
})
afterAll(() => api.stop())

describe('mapping answers to quotes', () => {
  test('default: one request names every market (XBT for BTC); the last trade price is each rate, dated by the Date header', async () => {
    const sent = wholeSeconds(Date.now() - 2000)
    api.answerDatedAt(sent)
    const quotes = await provider().fetchRates([pair('BTC/USD'), pair('ETH/EUR')])
    expect(quotes).toEqual([
      { base: 'BTC', quote: 'USD', rate: '65000.10000', at: sent },
      { base: 'ETH', quote: 'EUR', rate: '3140.18000', at: sent },
    ])
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /0/public/Ticker?pair=XBTUSD,ETHEUR',
    ])
  })

  test('behavior: every naming of result keys maps back: X/Z-prefixed legacy, mixed and plain', async () => {
    const quotes = await provider().fetchRates(
      ['USDT/USD', 'USDC/USD', 'BTC/USDT', 'ETH/BTC', 'DOGE/USD', 'TRX/USD', 'BTC/EUR'].map(pair),
    )
    expect(rows(quotes)).toEqual([
      'USDT/USD 1.00020000',
      'USDC/USD 0.99990000',
      'BTC/USDT 65004.20000',
      'ETH/BTC 0.05231000',
      'DOGE/USD 0.1623140',
      'TRX/USD 0.198700',
      'BTC/EUR 60011.90000',
    ])
    expect(api.requests.map((r) => r.path)).toEqual([
      '/0/public/Ticker?pair=USDTUSD,USDCUSD,XBTUSDT,ETHXBT,XDGUSD,TRXUSD,XBTEUR',
    ])
  })

  test('args: assets adds Kraken codes for gateway codes, keeping the defaults', async () => {
    api.setMarket('POLUSD', 'POLUSD', '0.45110000')
    const quotes = await provider({ assets: { MATIC: 'POL' } }).fetchRates([
      pair('MATIC/USD'),
      pair('BTC/USD'),
    ])
    expect(rows(quotes)).toEqual(['MATIC/USD 0.45110000', 'BTC/USD 65000.10000'])
    expect(api.requests.map((r) => r.path)).toEqual(['/0/public/Ticker?pair=POLUSD,XBTUSD'])
  })

  test('behavior: a pair Kraken does not list fails its request; the markets are asked one by one and it is left out', async () => {
    const quotes = await provider().fetchRates([pair('BTC/USD'), pair('BNB/USD'), pair('ETH/EUR')])
    expect(rows(quotes)).toEqual(['BTC/USD 65000.10000', 'ETH/EUR 3140.18000'])
    const [first, ...alone] = api.requests.map((r) => r.path)
    expect(first).toBe('/0/public/Ticker?pair=XBTUSD,BNBUSD,ETHEUR')
    expect(alone.sort()).toEqual([
      '/0/public/Ticker?pair=BNBUSD',
      '/0/public/Ticker?pair=ETHEUR',
      '/0/public/Ticker?pair=XBTUSD',
    ])
    api.requests.length = 0
    expect(await provider().fetchRates([pair('BNB/USD')])).toEqual([])
    expect(api.requests).toHaveLength(1)
  })

  test('behavior: a result key that is not the market asked for is not used', async () => {
    api.misbehave({
      kind: 'body',
      body: {
        error: [],
        result: { XXBTZEUR: { c: ['60011.90000', '0.1'] }, XBTUSDT: { c: ['65004.2', '1'] } },
      },
    })
    expect(await provider().fetchRates([pair('BTC/USD')])).toEqual([])
  })

  test('behavior: result keys are matched by asset, with the legacy X/Z only on 3-letter codes, never guessed', () => {
    const markets = [
      { name: 'XBTUSD', base: 'XBT', quote: 'USD' },
      { name: 'USDTUSD', base: 'USDT', quote: 'USD' },
      { name: 'ETHXBT', base: 'ETH', quote: 'XBT' },
    ]
    expect(resultKeys(markets, ['XXBTZUSD', 'USDTZUSD', 'XETHXXBT'])).toEqual(
      new Map([
        ['XBTUSD', 'XXBTZUSD'],
        ['USDTUSD', 'USDTZUSD'],
        ['ETHXBT', 'XETHXXBT'],
      ]),
    )
    // two keys for one market: neither is taken
    expect(resultKeys(markets.slice(0, 1), ['XBTUSD', 'XXBTZUSD'])).toEqual(new Map())
    expect(resultKeys(markets.slice(1, 2), ['XUSDTZUSD'])).toEqual(new Map())
  })

  test('behavior: a stale answer (an old Date header) is reported as old through at', async () => {
    const old = new Date('2026-12-04T09:00:00Z')
    api.answerDatedAt(old)
    const [quote] = await provider().fetchRates([pair('BTC/USD')])
    expect(quote?.at).toEqual(old)
  })

  test('behavior: no pairs, no request; a malformed pair is refused before anything is sent', async () => {
    expect(await provider().fetchRates([])).toEqual([])
    expect(await driverRejection(provider().fetchRates([pair('XBT/xbt')]))).toMatchObject({
      code: 'RATE_BAD_REQUEST',
      retryable: false,
    })
    expect(api.requests).toEqual([])
  })
})

describe('failures', () => {
  const fetchBtc = (options: Record<string, unknown> = {}, signal?: AbortSignal) =>
    provider(options).fetchRates([pair('BTC/USD'), pair('ETH/EUR')], signal)

  test('error: HTTP 429 is the retryable RATE_LIMITED with the Retry-After seconds', async () => {
    api.misbehave({ kind: 'rate-limited', retryAfter: '15' })
    const err = await driverRejection(fetchBtc())
    expect(err).toMatchObject({ code: 'RATE_LIMITED', retryable: true })
    expect(err.message).toBe(
      'GET /0/public/Ticker?pair=XBTUSD,ETHEUR: HTTP 429, rate limited (retry after 15 s): EGeneral:Too many requests',
    )
  })

  test('error: Kraken’s error strings (HTTP 200) map to typed errors', async () => {
    const cases: Array<[string, string, boolean]> = [
      ['EAPI:Rate limit exceeded', 'RATE_LIMITED', true],
      ['EGeneral:Too many requests', 'RATE_LIMITED', true],
      ['EService:Unavailable', 'RATE_UNAVAILABLE', true],
      ['EService:Busy', 'RATE_UNAVAILABLE', true],
      ['EGeneral:Internal error', 'RATE_UNAVAILABLE', true],
      ['EGeneral:Permission denied', 'RATE_AUTH', false],
      ['EGeneral:Invalid arguments', 'RATE_REJECTED', false],
    ]
    for (const [said, code, retryable] of cases) {
      api.misbehave({ kind: 'body', body: { error: [said] } })
      const err = await driverRejection(fetchBtc())
      expect(err).toMatchObject({ code, retryable })
      expect(err.message).toContain(`Kraken answered ${said}`)
    }
  })

  test('error: 5xx, a refused connection and a hang are retryable (RATE_UNAVAILABLE, RATE_TIMEOUT)', async () => {
    for (const status of [500, 502, 503, 520]) {
      api.misbehave({ kind: 'status', status })
      expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
    }
    api.misbehave({ kind: 'hang' })
    expect(await driverRejection(fetchBtc({ timeoutMs: 200 }))).toMatchObject({
      code: 'RATE_TIMEOUT',
      retryable: true,
    })
    const gone = startKraken()
    await gone.stop()
    const refused = await driverRejection(
      createKrakenProvider(krakenOptionsSchema.parse({ baseUrl: gone.url }), ctx).fetchRates([
        pair('BTC/USD'),
      ]),
    )
    expect(refused).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
  })

  test('error: the caller’s abort ends a hanging request as RATE_ABORTED', async () => {
    api.misbehave({ kind: 'hang' })
    const abort = new AbortController()
    const pending = driverRejection(fetchBtc({ timeoutMs: 60_000 }, abort.signal))
    await api.waitForRequests(1)
    abort.abort()
    expect(await pending).toMatchObject({ code: 'RATE_ABORTED', retryable: true })
  })

  test('error: 401 and 403 are the non-retryable RATE_AUTH', async () => {
    for (const status of [401, 403]) {
      api.misbehave({ kind: 'status', status, body: '<html>Access denied</html>' })
      expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_AUTH', retryable: false })
    }
  })

  test('error: garbage, another shape and a price that is not a plain decimal are RATE_BAD_ANSWER', async () => {
    const bad: Array<[Misbehavior, string]> = [
      [{ kind: 'garbage' }, 'not JSON'],
      [{ kind: 'body', body: { result: {} } }, 'error'],
      [{ kind: 'body', body: { error: [] } }, 'without result or error'],
      [{ kind: 'body', body: { error: [], result: { XXBTZUSD: { c: 65000.1 } } } }, 'result.XXBTZUSD.c'],
      [{ kind: 'body', body: { error: [], result: { XXBTZUSD: { c: ['-1', '0.1'] } } } }, 'plain decimal'],
      [{ kind: 'body', body: { error: [], result: { XXBTZUSD: { c: ['', '0.1'] } } } }, 'plain decimal'],
    ]
    for (const [behavior, said] of bad) {
      api.misbehave(behavior)
      const err = await driverRejection(fetchBtc())
      expect(err).toMatchObject({ code: 'RATE_BAD_ANSWER', retryable: false })
      expect(err.message).toContain(said)
    }
  })

  test('error: a body over maxResponseBytes is RATE_BAD_ANSWER, streamed or declared', async () => {
    for (const declareLength of [false, true]) {
      api.misbehave({ kind: 'huge', bytes: 4 << 20, declareLength })
      const err = await driverRejection(fetchBtc({ maxResponseBytes: 64 * 1024 }))
      expect(err).toMatchObject({ code: 'RATE_BAD_ANSWER', retryable: false })
      expect(err.message).toContain('over the 65536 bytes allowed')
    }
  })

  test('error: a market asked alone that fails fails the whole fetch', async () => {
    api.misbehave({ kind: 'status', status: 503 }, (path) => path.endsWith('pair=ETHEUR'))
    const err = await driverRejection(
      provider().fetchRates([pair('BTC/USD'), pair('BNB/USD'), pair('ETH/EUR')]),
    )
    expect(err).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
  })
})

describe('options', () => {
  const paths = async (options: unknown) => {
    const result = await kraken.options['~standard'].validate(options)
    return (result.issues ?? []).map((i) => (i.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)))
  }

  test('default: nothing is needed; the public URL, Kraken’s codes for BTC and DOGE, 5 s and 1 MiB', async () => {
    const result = await kraken.options['~standard'].validate({})
    expect(result.issues).toBeUndefined()
    expect((result as { value: unknown }).value).toEqual({
      baseUrl: 'https://api.kraken.com',
      assets: { BTC: 'XBT', DOGE: 'XDG' },
      timeoutMs: 5000,
      maxResponseBytes: 1 << 20,
    })
    expect(krakenOptionsSchema.parse({ assets: { BTC: 'XXBT', MATIC: 'POL' } }).assets).toEqual({
      BTC: 'XXBT',
      DOGE: 'XDG',
      MATIC: 'POL',
    })
    expect(kraken).toMatchObject({ apiVersion: 1, name: 'rates-kraken' })
  })

  test('error: invalid options are refused, each at its field path', async () => {
    const refused: Array<[unknown, Array<Array<string | number>>]> = [
      [{ baseUrl: 'ws://api.kraken.com' }, [['baseUrl']]],
      [{ baseUrl: 'https://api.kraken.com/#ticker' }, [['baseUrl']]],
      [{ assets: { btc: 'XBT' } }, [['assets', 'btc']]],
      [{ assets: { BTC: 'X-BT' } }, [['assets', 'BTC']]],
      [{ assets: ['XBT'] }, [['assets']]],
      [{ timeoutMs: -5 }, [['timeoutMs']]],
      [{ maxResponseBytes: 10 }, [['maxResponseBytes']]],
      [{ pairs: ['XBTUSD'] }, [[]]],
    ]
    for (const [options, expected] of refused) expect(await paths(options)).toEqual(expected)
  })
})

describe('loading', () => {
  test('default: the plugin loads through loadRateProviders and answers from its options', async () => {
    const registry = await loadRateProviders(
      { chains: {}, rates: { kraken: rates(() => import('./index.ts'), { baseUrl: api.url }) } },
      silent,
    )
    const { provider: loaded } = registry.get('kraken')!
    expect(rows(await loaded.fetchRates([pair('BTC/USD')]))).toEqual(['BTC/USD 65000.10000'])
  })
})
