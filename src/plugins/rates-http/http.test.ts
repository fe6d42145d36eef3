import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { type DriverLogger, type RateContext, rates } from '@tollgate/sdk'
import { driverRejection } from '@tollgate/sdk/testing'
import { type RatesEndpointStandIn, startRatesEndpoint } from '../../../test/stand-ins/rates/http.ts'
import type { Misbehavior } from '../../../test/stand-ins/rates/serve.ts'
import { loadRateProviders } from '../registry.ts'
import httpRates, { createHttpRatesProvider } from './index.ts'
import { httpRatesOptionsSchema } from './options.ts'

// The provider against a merchant's own rates endpoint (test/stand-ins/rates/http.ts): the documented JSON shape
// read strictly, credentials sent and never shown, and every way the endpoint can fail as a typed error.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const ctx: RateContext = { name: 'shop', log: silent }

const token = 'tok-3f9a0c1d2e4b5a6978'
const apiKey = 'shop-key-77aa88bb99cc'
let api: RatesEndpointStandIn
const provider = (options: Record<string, unknown> = {}, url = api.endpoint) =>
  createHttpRatesProvider(
    httpRatesOptionsSchema.parse({ url, bearerToken: token, headers: { 'X-Api-Key': apiKey }, ...options }),
    ctx,
  )
const pair = (text: string) => {
  const [base = '', quote = ''] = text.split('/')
  return { base, quote }
}
const recent = new Date(Math.floor(Date.now() / 1000) * 1000 - 30_000)
const entries = [
  { base: 'BTC', quote: 'USD', rate: '65000.12', at: recent.toISOString() },
  { base: 'ETH', quote: 'EUR', rate: '3140.21', at: '2026-12-04T10:00:00+01:00' },
  { base: 'USDT', quote: 'USD', rate: '1', at: recent.toISOString() },
]

beforeAll(() => {
  api = startRatesEndpoint({ bearerToken: token, header: { name: 'x-api-key', value: apiKey } })
  api.setRates(entries)
})
afterEach(() => {
  api.setRates(entries)
  api.misbehave(undefined)
  api.answerDatedAt(undefined)
  api.requests.length = 0
})
afterAll(() => api.stop())

describe('mapping answers to quotes', () => {
  test('default: each pair asked is its entry, rate and time exactly as the endpoint wrote them', async () => {
    const quotes = await provider().fetchRates([pair('BTC/USD'), pair('ETH/EUR')])
    expect(quotes).toEqual([
      { base: 'BTC', quote: 'USD', rate: '65000.12', at: recent },
      { base: 'ETH', quote: 'EUR', rate: '3140.21', at: new Date('2026-12-04T09:00:00Z') },
    ])
  })

  test('behavior: one GET of the URL, its query kept, with the bearer token and the headers of the options', async () => {
    await provider({}, `${api.endpoint}?shop=42`).fetchRates([pair('BTC/USD')])
    expect(api.requests).toHaveLength(1)
    const [request] = api.requests
    expect(request?.method).toBe('GET')
    expect(request?.path).toBe('/api/rates?shop=42')
    expect(request?.headers.authorization).toBe(`Bearer ${token}`)
    expect(request?.headers['x-api-key']).toBe(apiKey)
    expect(request?.headers.accept).toBe('application/json')
  })

  test('behavior: a pair the answer lacks is left out; entries not asked for are ignored; no pairs, no request', async () => {
    const quotes = await provider().fetchRates([pair('USD/BTC'), pair('USDT/USD'), pair('TRX/USD')])
    expect(quotes.map((q) => `${q.base}/${q.quote} ${q.rate}`)).toEqual(['USDT/USD 1'])
    api.requests.length = 0
    expect(await provider().fetchRates([])).toEqual([])
    expect(api.requests).toEqual([])
  })

  test('behavior: stale entries are reported through at, whatever the Date header says', async () => {
    api.setRates([{ base: 'BTC', quote: 'USD', rate: '61000', at: '2026-11-30T00:00:00Z' }])
    api.answerDatedAt(new Date())
    const [quote] = await provider().fetchRates([pair('BTC/USD')])
    expect(quote?.at).toEqual(new Date('2026-11-30T00:00:00Z'))
  })
})

describe('failures', () => {
  const fetchBtc = (options: Record<string, unknown> = {}, signal?: AbortSignal) =>
    provider(options).fetchRates([pair('BTC/USD')], signal)

  test('error: 429 is the retryable RATE_LIMITED with the Retry-After seconds', async () => {
    api.misbehave({ kind: 'rate-limited', retryAfter: '20' })
    const err = await driverRejection(fetchBtc())
    expect(err).toMatchObject({ code: 'RATE_LIMITED', retryable: true })
    expect(err.message).toBe(
      `GET ${api.endpoint}: HTTP 429, rate limited (retry after 20 s): too many requests`,
    )
  })

  test('error: 5xx, a refused connection and a hang are retryable (RATE_UNAVAILABLE, RATE_TIMEOUT)', async () => {
    for (const status of [500, 502, 503]) {
      api.misbehave({ kind: 'status', status })
      expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
    }
    api.misbehave({ kind: 'hang' })
    expect(await driverRejection(fetchBtc({ timeoutMs: 200 }))).toMatchObject({
      code: 'RATE_TIMEOUT',
      retryable: true,
    })
    const gone = startRatesEndpoint()
    await gone.stop()
    const refused = await driverRejection(provider({}, gone.endpoint).fetchRates([pair('BTC/USD')]))
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

  test('error: missing or wrong credentials are the non-retryable RATE_AUTH', async () => {
    const noToken = await driverRejection(fetchBtc({ bearerToken: undefined }))
    expect(noToken).toMatchObject({ code: 'RATE_AUTH', retryable: false })
    expect(noToken.message).toBe(`GET ${api.endpoint}: HTTP 401, the credentials were refused: unauthorized`)
    expect(await driverRejection(fetchBtc({ headers: {} }))).toMatchObject({ code: 'RATE_AUTH' })
    api.misbehave({ kind: 'status', status: 403 })
    expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_AUTH', retryable: false })
  })

  test('error: the token, header values and the query never show in a message, even when the endpoint echoes them', async () => {
    api.misbehave({
      kind: 'status',
      status: 401,
      body: JSON.stringify({ error: `token ${token} with key ${apiKey} refused for ?shop=secret-7` }),
    })
    const err = await driverRejection(
      provider({}, `${api.endpoint}?shop=secret-7`).fetchRates([pair('BTC/USD')]),
    )
    expect(err).toMatchObject({ code: 'RATE_AUTH', retryable: false })
    expect(err.message).toBe(
      `GET ${api.endpoint}: HTTP 401, the credentials were refused: token [redacted] with key [redacted] refused for ?[redacted]`,
    )
  })

  test('error: garbage and every departure from the documented shape are RATE_BAD_ANSWER', async () => {
    const entry = { base: 'BTC', quote: 'USD', rate: '65000.12', at: '2026-12-04T10:00:00Z' }
    const future = new Date(Date.now() + 3_600_000).toISOString()
    const bad: Array<[Misbehavior, string]> = [
      [{ kind: 'garbage' }, 'not JSON'],
      [{ kind: 'body', body: [entry] }, 'the body'],
      [{ kind: 'body', body: { rates: entry } }, 'rates'],
      [
        { kind: 'body', body: { rates: [{ ...entry, rate: 65000.12 }] } },
        'rates.0.rate: must be a decimal string',
      ],
      [
        { kind: 'body', body: { rates: [{ ...entry, base: 'btc' }] } },
        'rates.0.base: must be a currency code',
      ],
      [
        { kind: 'body', body: { rates: [{ ...entry, at: '2026-12-04T10:00:00' }] } },
        'rates.0.at: must be an ISO',
      ],
      [{ kind: 'body', body: { rates: [{ ...entry, at: 1733306400 }] } }, 'rates.0.at'],
      [{ kind: 'body', body: { rates: [{ ...entry, quote: undefined }] } }, 'rates.0.quote'],
      [{ kind: 'body', body: { rates: [entry, { ...entry, rate: '1' }] } }, 'BTC/USD is in the answer twice'],
      [{ kind: 'body', body: { rates: [{ ...entry, rate: '6.5e4' }] } }, 'plain decimal'],
      [{ kind: 'body', body: { rates: [{ ...entry, rate: '-1' }] } }, 'plain decimal'],
      [{ kind: 'body', body: { rates: [{ ...entry, at: future }] } }, 'dated in the future'],
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

  test('error: another 4xx is the non-retryable RATE_REJECTED', async () => {
    const err = await driverRejection(provider({}, `${api.url}/api/other`).fetchRates([pair('BTC/USD')]))
    expect(err).toMatchObject({ code: 'RATE_REJECTED', retryable: false })
    expect(err.message).toBe(`GET ${api.url}/api/other: HTTP 404: not found`)
  })
})

describe('options', () => {
  const url = 'https://shop.example.com/api/rates'
  const paths = async (options: unknown) => {
    const result = await httpRates.options['~standard'].validate(options)
    return (result.issues ?? []).map((i) => (i.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)))
  }

  test('default: only url is needed; no credentials, 5 s and 1 MiB', async () => {
    const result = await httpRates.options['~standard'].validate({ url })
    expect(result.issues).toBeUndefined()
    expect((result as { value: unknown }).value).toEqual({
      url,
      headers: {},
      timeoutMs: 5000,
      maxResponseBytes: 1 << 20,
    })
    expect(httpRates).toMatchObject({ apiVersion: 1, name: 'rates-http' })
  })

  test('error: invalid options are refused, each at its field path', async () => {
    const refused: Array<[unknown, Array<Array<string | number>>]> = [
      [{}, [['url']]],
      [{ url: 'ftp://shop.example.com/rates' }, [['url']]],
      [{ url: 'https://user:pw@shop.example.com/rates' }, [['url']]],
      [{ url: 'https://shop.example.com/rates#now' }, [['url']]],
      [{ url, bearerToken: '' }, [['bearerToken']]],
      [{ url, bearerToken: 'two words' }, [['bearerToken']]],
      [{ url, headers: { 'Bad Header': 'x' } }, [['headers', 'Bad Header']]],
      [{ url, headers: { Host: 'elsewhere' } }, [['headers', 'Host']]],
      [{ url, headers: { 'X-Api-Key': 'line\nbreak' } }, [['headers', 'X-Api-Key']]],
      [{ url, bearerToken: 't', headers: { Authorization: 'Basic x' } }, [['headers', 'Authorization']]],
      [{ url, timeoutMs: 0 }, [['timeoutMs']]],
      [{ url, maxResponseBytes: 1 << 30 }, [['maxResponseBytes']]],
      [{ url, token: 't' }, [[]]],
    ]
    for (const [options, expected] of refused) expect(await paths(options)).toEqual(expected)
  })
})

describe('loading', () => {
  test('default: the plugin loads through loadRateProviders and answers from its options', async () => {
    const registry = await loadRateProviders(
      {
        chains: {},
        rates: {
          shop: rates(() => import('./index.ts'), {
            url: api.endpoint,
            bearerToken: token,
            headers: { 'X-Api-Key': apiKey },
          }),
        },
      },
      silent,
    )
    const quotes = await registry.get('shop')!.provider.fetchRates([pair('BTC/USD')])
    expect(quotes.map((q) => q.rate)).toEqual(['65000.12'])
  })
})
