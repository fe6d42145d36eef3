import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from 'bun:test'
import { type DriverLogger, type RateContext, rates } from '@tollgate/sdk'
import { retryAfterSeconds } from '@tollgate/sdk/http'
import { driverRejection } from '@tollgate/sdk/testing'
import { type CoinbaseStandIn, startCoinbase } from '../../../test/stand-ins/rates/coinbase.ts'
import { loadRateProviders } from '../registry.ts'
import coinbase, { createCoinbaseProvider } from './index.ts'
import { coinbaseOptionsSchema } from './options.ts'

// The provider against a stand-in of Coinbase's public exchange rates endpoint (test/stand-ins/rates/coinbase.ts):
// every mapping of an answer to quotes, and every way the API can fail, as the typed error a caller retries or not.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const ctx: RateContext = { name: 'coinbase', log: silent }

let api: CoinbaseStandIn
const provider = (options: Record<string, unknown> = {}) =>
  createCoinbaseProvider(coinbaseOptionsSchema.parse({ baseUrl: api.url, ...options }), ctx)
const pair = (text: string) => {
  const [base = '', quote = ''] = text.split('/')
  return { base, quote }
}
/** A time the Date header can carry exactly (whole seconds). */
const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000)

beforeAll(() => {
  api = startCoinbase()
})
afterEach(() => {
  setSystemTime()
  api.resetRates()
  api.misbehave(undefined)
  api.answerDatedAt(undefined)
  api.requests.length = 0
})
afterAll(() => api.stop())

describe('mapping answers to quotes', () => {
  test('default: each pair is the base currency’s rate in the quote, as Coinbase wrote it, dated by the Date header', async () => {
    const sent = wholeSeconds(Date.now() - 3000)
    api.answerDatedAt(sent)
    const quotes = await provider().fetchRates([pair('BTC/USD'), pair('ETH/EUR'), pair('BTC/EUR')])
    expect(quotes).toEqual([
      { base: 'BTC', quote: 'USD', rate: '65000.12', at: sent },
      { base: 'ETH', quote: 'EUR', rate: '3140.21', at: sent },
      { base: 'BTC', quote: 'EUR', rate: '60012.5', at: sent },
    ])
  })

  test('behavior: one request per base currency, the base in the currency parameter, no key sent', async () => {
    await provider().fetchRates([pair('BTC/USD'), pair('BTC/EUR'), pair('USDT/USD'), pair('BTC/USD')])
    expect(api.requests.map((r) => r.path).sort()).toEqual([
      '/v2/exchange-rates?currency=BTC',
      '/v2/exchange-rates?currency=USDT',
    ])
    for (const r of api.requests) {
      expect(r.method).toBe('GET')
      expect(r.headers.authorization).toBeUndefined()
    }
  })

  test('behavior: a base Coinbase does not know and a quote missing from its rates are left out, never guessed', async () => {
    const quotes = await provider().fetchRates([pair('FOO/USD'), pair('BTC/XYZ'), pair('USDT/USD')])
    expect(quotes.map((q) => [q.base, q.quote, q.rate])).toEqual([['USDT', 'USD', '1.0002']])
    // no inverse is made up from USD's own rates either
    expect(await provider().fetchRates([pair('EUR/USD')])).toEqual([])
    expect(api.requests.map((r) => r.path)).toContain('/v2/exchange-rates?currency=FOO')
  })

  test('args: currencies maps a gateway code to Coinbase’s, on either side of a pair', async () => {
    api.setRates('POL', { USD: '0.4512', POL: '1.0' })
    api.setRates('BTC', { USD: '65000.12', POL: '144060.3' })
    const quotes = await provider({ currencies: { MATIC: 'POL' } }).fetchRates([
      pair('MATIC/USD'),
      pair('BTC/MATIC'),
    ])
    expect(quotes.map((q) => [q.base, q.quote, q.rate])).toEqual([
      ['MATIC', 'USD', '0.4512'],
      ['BTC', 'MATIC', '144060.3'],
    ])
    expect(api.requests.map((r) => r.path).sort()).toEqual([
      '/v2/exchange-rates?currency=BTC',
      '/v2/exchange-rates?currency=POL',
    ])
  })

  test('behavior: a stale answer (an old Date header, from a cache) is reported as old through at', async () => {
    const old = new Date('2026-12-04T09:00:00Z')
    api.answerDatedAt(old)
    const [quote] = await provider().fetchRates([pair('BTC/USD')])
    expect(quote?.at).toEqual(old)
  })

  test('behavior: without a readable Date header a quote is dated by its arrival', async () => {
    const now = new Date('2026-12-04T10:00:00Z')
    setSystemTime(now)
    api.answerDatedAt(new Date(Number.NaN))
    const [quote] = await provider().fetchRates([pair('BTC/USD')])
    expect(quote?.at).toEqual(now)
  })

  test('behavior: no pairs, no request; a malformed pair is refused before anything is sent', async () => {
    expect(await provider().fetchRates([])).toEqual([])
    const err = await driverRejection(provider().fetchRates([pair('btc/usd')]))
    expect(err).toMatchObject({ code: 'RATE_BAD_REQUEST', retryable: false })
    expect(await driverRejection(provider().fetchRates([pair('BTC/BTC')]))).toMatchObject({
      code: 'RATE_BAD_REQUEST',
    })
    const missing = [undefined] as unknown as Parameters<ReturnType<typeof provider>['fetchRates']>[0]
    expect(await driverRejection(provider().fetchRates(missing))).toMatchObject({ code: 'RATE_BAD_REQUEST' })
    expect(api.requests).toEqual([])
  })
})

describe('failures', () => {
  const fetchBtc = (options: Record<string, unknown> = {}, signal?: AbortSignal) =>
    provider(options).fetchRates([pair('BTC/USD')], signal)

  test('error: 429 is the retryable RATE_LIMITED, with the Retry-After seconds and Coinbase’s message', async () => {
    api.misbehave({ kind: 'rate-limited', retryAfter: '30' })
    const err = await driverRejection(fetchBtc())
    expect(err).toMatchObject({ code: 'RATE_LIMITED', retryable: true })
    expect(err.message).toBe(
      'GET /v2/exchange-rates?currency=BTC: HTTP 429, rate limited (retry after 30 s): rate_limit_exceeded: Too many requests',
    )
    api.misbehave({ kind: 'rate-limited' })
    expect((await driverRejection(fetchBtc())).message).toContain('no Retry-After given')
  })

  test('error: 5xx, a refused connection and a hang are retryable (RATE_UNAVAILABLE, RATE_TIMEOUT)', async () => {
    for (const status of [500, 502, 503]) {
      api.misbehave({ kind: 'status', status })
      expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
    }
    api.misbehave({ kind: 'status', status: 408 })
    expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_TIMEOUT', retryable: true })
    api.misbehave({ kind: 'hang' })
    const hung = await driverRejection(fetchBtc({ timeoutMs: 200 }))
    expect(hung).toMatchObject({ code: 'RATE_TIMEOUT', retryable: true })
    expect(hung.message).toBe('GET /v2/exchange-rates?currency=BTC: no complete answer within 200 ms')
    const gone = startCoinbase()
    await gone.stop()
    const refused = await driverRejection(
      createCoinbaseProvider(coinbaseOptionsSchema.parse({ baseUrl: gone.url }), ctx).fetchRates([
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

  test('error: 401 and 403 are the non-retryable RATE_AUTH; another 4xx is RATE_REJECTED', async () => {
    for (const status of [401, 403]) {
      api.misbehave({ kind: 'status', status })
      expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_AUTH', retryable: false })
    }
    api.misbehave({ kind: 'status', status: 404 })
    expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_REJECTED', retryable: false })
    api.misbehave({
      kind: 'body',
      status: 400,
      body: { errors: [{ id: 'param_required', message: 'currency is malformed' }] },
    })
    const refused = await driverRejection(fetchBtc())
    expect(refused).toMatchObject({ code: 'RATE_REJECTED', retryable: false })
    expect(refused.message).toContain('currency is malformed')
    api.misbehave({ kind: 'body', status: 400, body: { errors: 'Invalid currency (BTC)' } })
    expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_REJECTED', retryable: false })
  })

  test('error: garbage, another shape, another base and a rate that is not a plain decimal are RATE_BAD_ANSWER', async () => {
    const bad: Array<[Parameters<CoinbaseStandIn['misbehave']>[0], string]> = [
      [{ kind: 'garbage' }, 'not JSON'],
      [{ kind: 'body', body: { data: { currency: 'BTC', rates: [65000] } } }, 'data.rates'],
      [{ kind: 'body', body: { errors: [] } }, 'data'],
      [
        { kind: 'body', body: { data: { currency: 'ETH', rates: { USD: '3400.55' } } } },
        'when asked for BTC',
      ],
      [{ kind: 'body', body: { data: { currency: 'BTC', rates: { USD: '6.5e4' } } } }, 'plain decimal'],
      [{ kind: 'body', body: { data: { currency: 'BTC', rates: { USD: '0.00' } } } }, 'plain decimal'],
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

  test('error: one base failing fails the whole fetch (no partial answer that reads as unknown pairs)', async () => {
    api.misbehave({ kind: 'status', status: 503 }, (path) => path.endsWith('currency=ETH'))
    const err = await driverRejection(provider().fetchRates([pair('BTC/USD'), pair('ETH/USD')]))
    expect(err).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
    expect(api.requests.map((r) => r.path).sort()).toEqual([
      '/v2/exchange-rates?currency=BTC',
      '/v2/exchange-rates?currency=ETH',
    ])
  })

  test('behavior: Retry-After is read as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-04T10:00:00Z')
    expect(retryAfterSeconds('120', now)).toBe(120)
    expect(retryAfterSeconds('Fri, 04 Dec 2026 10:01:30 GMT', now)).toBe(90)
    expect(retryAfterSeconds('Fri, 04 Dec 2026 09:00:00 GMT', now)).toBe(0)
    expect(retryAfterSeconds('soon', now)).toBeUndefined()
    expect(retryAfterSeconds(null, now)).toBeUndefined()
  })
})

describe('options', () => {
  const paths = async (options: unknown) => {
    const result = await coinbase.options['~standard'].validate(options)
    return (result.issues ?? []).map((i) => (i.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)))
  }

  test('default: nothing is needed; the public URL, 5 s and 1 MiB', async () => {
    const result = await coinbase.options['~standard'].validate({})
    expect(result.issues).toBeUndefined()
    expect((result as { value: unknown }).value).toEqual({
      baseUrl: 'https://api.coinbase.com',
      currencies: {},
      timeoutMs: 5000,
      maxResponseBytes: 1 << 20,
    })
    expect(coinbase).toMatchObject({ apiVersion: 1, name: 'rates-coinbase' })
  })

  test('error: invalid options are refused, each at its field path', async () => {
    const refused: Array<[unknown, Array<Array<string | number>>]> = [
      [{ baseUrl: 'ftp://api.coinbase.com' }, [['baseUrl']]],
      [{ baseUrl: 'api.coinbase.com' }, [['baseUrl']]],
      [{ baseUrl: 'https://user:secret@api.coinbase.com' }, [['baseUrl']]],
      [{ baseUrl: 'https://api.coinbase.com/?currency=BTC' }, [['baseUrl']]],
      [{ currencies: { matic: 'POL' } }, [['currencies', 'matic']]],
      [{ currencies: { MATIC: 'pol' } }, [['currencies', 'MATIC']]],
      [{ timeoutMs: 0 }, [['timeoutMs']]],
      [{ timeoutMs: 1.5 }, [['timeoutMs']]],
      [{ maxResponseBytes: 1 << 30 }, [['maxResponseBytes']]],
      [{ apiKey: 'k3y' }, [[]]],
    ]
    for (const [options, expected] of refused) expect(await paths(options)).toEqual(expected)
  })
})

describe('loading', () => {
  test('default: the plugin loads through loadRateProviders and answers from its options', async () => {
    const registry = await loadRateProviders(
      { chains: {}, rates: { coinbase: rates(() => import('./index.ts'), { baseUrl: api.url }) } },
      silent,
    )
    const loaded = registry.get('coinbase')!
    expect(loaded.module).toBe('./index.ts')
    expect((await loaded.provider.fetchRates([pair('BTC/USD')])).map((q) => q.rate)).toEqual(['65000.12'])
  })
})
