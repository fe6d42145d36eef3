import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { type DriverLogger, type RateContext, rates } from '@tollgate/sdk'
import { driverRejection } from '@tollgate/sdk/testing'
import { type CoinGeckoStandIn, startCoinGecko } from '../../../test/stand-ins/rates/coingecko.ts'
import type { Misbehavior } from '../../../test/stand-ins/rates/serve.ts'
import { loadRateProviders } from '../registry.ts'
import coinGecko, { createCoinGeckoProvider } from './index.ts'
import { coinGeckoOptionsSchema } from './options.ts'

// The provider against a stand-in of CoinGecko's simple price endpoint (test/stand-ins/rates/coingecko.ts):
// symbols to coin ids, JSON numbers to exact decimals, CoinGecko's own update times, its keys by plan, and every
// way the API can fail as a typed error.

const logged: string[] = []
const log: DriverLogger = {
  debug: (obj, msg) => logged.push(`${JSON.stringify(obj)} ${msg}`),
  info: (obj, msg) => logged.push(`${JSON.stringify(obj)} ${msg}`),
  warn: (obj, msg) => logged.push(`${JSON.stringify(obj)} ${msg}`),
  error: (obj, msg) => logged.push(`${JSON.stringify(obj)} ${msg}`),
}
const ctx: RateContext = { name: 'coingecko', log }

let api: CoinGeckoStandIn
const provider = (options: Record<string, unknown> = {}, standIn = api) =>
  createCoinGeckoProvider(coinGeckoOptionsSchema.parse({ baseUrl: standIn.url, ...options }), ctx)
const pair = (text: string) => {
  const [base = '', quote = ''] = text.split('/')
  return { base, quote }
}
const rows = (quotes: Array<{ base: string; quote: string; rate: string }>) =>
  quotes.map((q) => `${q.base}/${q.quote} ${q.rate}`)
const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000)

beforeAll(() => {
  api = startCoinGecko({ apiKey: 'CG-demo-0123456789abcdefghij' })
})
afterEach(() => {
  api.reset()
  api.misbehave(undefined)
  api.answerDatedAt(undefined)
  api.requests.length = 0
})
afterAll(() => api.stop())

describe('mapping answers to quotes', () => {
  test('default: one documented request for all pairs; each price exactly as written, dated by its last_updated_at', async () => {
    const btcAt = wholeSeconds(Date.now() - 40_000)
    const ethAt = wholeSeconds(Date.now() - 70_000)
    api.setUpdatedAt('bitcoin', btcAt)
    api.setUpdatedAt('ethereum', ethAt)
    const quotes = await provider().fetchRates([pair('BTC/USD'), pair('ETH/EUR'), pair('BTC/EUR')])
    expect(quotes).toEqual([
      { base: 'BTC', quote: 'USD', rate: '65000.12', at: btcAt },
      { base: 'ETH', quote: 'EUR', rate: '3140.21', at: ethAt },
      { base: 'BTC', quote: 'EUR', rate: '60012.5', at: btcAt },
    ])
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/v3/simple/price?ids=bitcoin,ethereum&vs_currencies=usd,eur&include_last_updated_at=true',
    ])
  })

  test('default: the coin ids of BTC, ETH, USDT, USDC, TRX, BNB and POL are known without options', async () => {
    const quotes = await provider().fetchRates(
      ['USDT/USD', 'USDC/EUR', 'TRX/USD', 'BNB/USD', 'POL/USD', 'ETH/BTC'].map(pair),
    )
    expect(rows(quotes)).toEqual([
      'USDT/USD 1.0002',
      'USDC/EUR 0.92375',
      'TRX/USD 0.198712',
      'BNB/USD 612.4',
      'POL/USD 0.451203',
      'ETH/BTC 0.05231741',
    ])
    expect(api.requests[0]?.path).toBe(
      '/api/v3/simple/price?ids=tether,usd-coin,tron,binancecoin,polygon-ecosystem-token,ethereum&vs_currencies=usd,eur,btc&include_last_updated_at=true',
    )
  })

  test('args: coinIds adds and replaces ids; tiny prices written with an exponent come out as plain decimals', async () => {
    api.setPrice('matic-network', 'usd', 0.4498)
    const quotes = await provider({ coinIds: { SHIB: 'shiba-inu', POL: 'matic-network' } }).fetchRates([
      pair('SHIB/EUR'),
      pair('SHIB/USD'),
      pair('POL/USD'),
    ])
    expect(rows(quotes)).toEqual(['SHIB/EUR 0.00000015', 'SHIB/USD 0.00001523', 'POL/USD 0.4498'])
  })

  test('behavior: a base without a coin id is not asked; a coin or currency CoinGecko leaves out is left out', async () => {
    expect(await provider().fetchRates([pair('DOGE/USD')])).toEqual([])
    expect(api.requests).toEqual([])
    const quotes = await provider({ coinIds: { FOO: 'foo-coin' } }).fetchRates([
      pair('FOO/USD'),
      pair('BTC/XYZ'),
      pair('TRX/EUR'),
      pair('BTC/USD'),
    ])
    expect(rows(quotes)).toEqual(['BTC/USD 65000.12'])
    api.misbehave({ kind: 'body', body: { tron: { usd: null, last_updated_at: 1733306400 } } })
    expect(await provider().fetchRates([pair('TRX/USD')])).toEqual([])
  })

  test('behavior: stale data is reported through at: an old last_updated_at, or without one an old Date header', async () => {
    const old = new Date('2026-12-04T08:00:00Z')
    api.setUpdatedAt('bitcoin', old)
    const [quote] = await provider().fetchRates([pair('BTC/USD')])
    expect(quote?.at).toEqual(old)
    const cached = new Date('2026-12-04T09:30:00Z')
    api.answerDatedAt(cached)
    api.misbehave({ kind: 'body', body: { bitcoin: { usd: 65000.12 } } })
    const [undated] = await provider().fetchRates([pair('BTC/USD')])
    expect(undated?.at).toEqual(cached)
  })

  test('behavior: keyless asks send no key; a Demo key goes in x-cg-demo-api-key', async () => {
    await provider().fetchRates([pair('BTC/USD')])
    await provider({ apiKey: api.apiKey }).fetchRates([pair('BTC/USD')])
    const [keyless, demo] = api.requests
    expect(keyless?.headers['x-cg-demo-api-key']).toBeUndefined()
    expect(keyless?.headers['x-cg-pro-api-key']).toBeUndefined()
    expect(demo?.headers['x-cg-demo-api-key']).toBe(api.apiKey as string)
    expect(demo?.headers['x-cg-pro-api-key']).toBeUndefined()
  })

  test('behavior: the Pro plan sends its key in x-cg-pro-api-key; a key of the other plan is RATE_AUTH', async () => {
    const pro = startCoinGecko({ plan: 'pro', apiKey: 'CG-pro-abcdefghij0123456789' })
    try {
      const quotes = await provider({ plan: 'pro', apiKey: pro.apiKey }, pro).fetchRates([pair('BTC/USD')])
      expect(rows(quotes)).toEqual(['BTC/USD 65000.12'])
      expect(pro.requests[0]?.headers['x-cg-pro-api-key']).toBe(pro.apiKey as string)
      const demoOnPro = await driverRejection(
        provider({ plan: 'demo', apiKey: 'CG-demo-key' }, pro).fetchRates([pair('BTC/USD')]),
      )
      expect(demoOnPro).toMatchObject({ code: 'RATE_AUTH', retryable: false })
      expect(demoOnPro.message).toContain('10011 If you are using Demo API key')
      const proOnPublic = await driverRejection(
        provider({ plan: 'pro', apiKey: pro.apiKey }).fetchRates([pair('BTC/USD')]),
      )
      expect(proOnPublic.message).toContain('10010 If you are using Pro API key')
    } finally {
      await pro.stop()
    }
  })

  test('behavior: no pairs, no request; a malformed pair is refused before anything is sent', async () => {
    expect(await provider().fetchRates([])).toEqual([])
    expect(await driverRejection(provider().fetchRates([pair('BTC/')]))).toMatchObject({
      code: 'RATE_BAD_REQUEST',
      retryable: false,
    })
    expect(api.requests).toEqual([])
  })
})

describe('failures', () => {
  const fetchBtc = (options: Record<string, unknown> = {}, signal?: AbortSignal) =>
    provider(options).fetchRates([pair('BTC/USD')], signal)

  test('error: 429 is the retryable RATE_LIMITED, with Retry-After and CoinGecko’s documented body', async () => {
    api.misbehave({ kind: 'rate-limited', retryAfter: '60' })
    const err = await driverRejection(fetchBtc())
    expect(err).toMatchObject({ code: 'RATE_LIMITED', retryable: true })
    expect(err.message).toStartWith(
      "GET /api/v3/simple/price?ids=bitcoin&vs_currencies=usd&include_last_updated_at=true: HTTP 429, rate limited (retry after 60 s): 429 You've exceeded the Rate Limit.",
    )
  })

  test('error: 5xx, a refused connection and a hang are retryable (RATE_UNAVAILABLE, RATE_TIMEOUT)', async () => {
    for (const status of [500, 503]) {
      api.misbehave({ kind: 'status', status })
      expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
    }
    api.misbehave({ kind: 'status', status: 408 })
    expect(await driverRejection(fetchBtc())).toMatchObject({ code: 'RATE_TIMEOUT', retryable: true })
    api.misbehave({ kind: 'hang' })
    expect(await driverRejection(fetchBtc({ timeoutMs: 200 }))).toMatchObject({
      code: 'RATE_TIMEOUT',
      retryable: true,
    })
    const gone = startCoinGecko()
    await gone.stop()
    expect(await driverRejection(provider({}, gone).fetchRates([pair('BTC/USD')]))).toMatchObject({
      code: 'RATE_UNAVAILABLE',
      retryable: true,
    })
  })

  test('error: the caller’s abort ends a hanging request as RATE_ABORTED', async () => {
    api.misbehave({ kind: 'hang' })
    const abort = new AbortController()
    const pending = driverRejection(fetchBtc({ timeoutMs: 60_000 }, abort.signal))
    await api.waitForRequests(1)
    abort.abort()
    expect(await pending).toMatchObject({ code: 'RATE_ABORTED', retryable: true })
  })

  test('error: a wrong key is the non-retryable RATE_AUTH; 403 too; the key never shows in a message or a log', async () => {
    const key = 'CG-wrong-key-secret-42'
    const refused = await driverRejection(fetchBtc({ apiKey: key }))
    expect(refused).toMatchObject({ code: 'RATE_AUTH', retryable: false })
    expect(refused.message).toContain('10002 API Key Missing or invalid')
    api.misbehave({ kind: 'status', status: 403, body: JSON.stringify({ error: `key ${key} is blocked` }) })
    const echoed = await driverRejection(fetchBtc({ apiKey: key }))
    expect(echoed).toMatchObject({ code: 'RATE_AUTH', retryable: false })
    expect(echoed.message).toContain('key [redacted] is blocked')
    for (const text of [refused.message, echoed.message, String(echoed.cause ?? ''), ...logged])
      expect(text).not.toContain(key)
  })

  test('error: garbage, another shape, a price that is not a positive number and a bad or future time are RATE_BAD_ANSWER', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600
    const bad: Array<[Misbehavior, string]> = [
      [{ kind: 'garbage' }, 'not JSON'],
      [{ kind: 'body', body: [65000.12] }, 'the body'],
      [{ kind: 'body', body: { bitcoin: 65000.12 } }, 'bitcoin'],
      [{ kind: 'body', body: { bitcoin: { usd: '65000.12' } } }, 'bitcoin.usd is not a positive price'],
      [{ kind: 'body', body: { bitcoin: { usd: 0 } } }, 'bitcoin.usd is not a positive price'],
      [{ kind: 'body', body: { bitcoin: { usd: -1 } } }, 'bitcoin.usd is not a positive price'],
      [{ kind: 'body', body: { bitcoin: { usd: 1, last_updated_at: '1733306400' } } }, 'not unix seconds'],
      [{ kind: 'body', body: { bitcoin: { usd: 1, last_updated_at: 1733306400.5 } } }, 'not unix seconds'],
      [{ kind: 'body', body: { bitcoin: { usd: 1, last_updated_at: future } } }, 'dated in the future'],
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

  test('error: another 4xx is the non-retryable RATE_REJECTED with CoinGecko’s message', async () => {
    api.misbehave({ kind: 'body', status: 400, body: { error: 'invalid vs_currency' } })
    const err = await driverRejection(fetchBtc())
    expect(err).toMatchObject({ code: 'RATE_REJECTED', retryable: false })
    expect(err.message).toEndWith('HTTP 400: invalid vs_currency')
  })
})

describe('options', () => {
  const paths = async (options: unknown) => {
    const result = await coinGecko.options['~standard'].validate(options)
    return (result.issues ?? []).map((i) => (i.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)))
  }

  test('default: nothing is needed; the public URL, the default coin ids, 5 s and 1 MiB; Pro defaults to its URL', async () => {
    const result = await coinGecko.options['~standard'].validate({})
    expect(result.issues).toBeUndefined()
    expect((result as { value: unknown }).value).toEqual({
      baseUrl: 'https://api.coingecko.com',
      plan: 'demo',
      coinIds: {
        BTC: 'bitcoin',
        ETH: 'ethereum',
        USDT: 'tether',
        USDC: 'usd-coin',
        TRX: 'tron',
        BNB: 'binancecoin',
        POL: 'polygon-ecosystem-token',
      },
      timeoutMs: 5000,
      maxResponseBytes: 1 << 20,
    })
    expect(coinGeckoOptionsSchema.parse({ plan: 'pro', apiKey: 'k' }).baseUrl).toBe(
      'https://pro-api.coingecko.com',
    )
    expect(coinGecko).toMatchObject({ apiVersion: 1, name: 'rates-coingecko' })
  })

  test('error: invalid options are refused, each at its field path', async () => {
    const refused: Array<[unknown, Array<Array<string | number>>]> = [
      [{ plan: 'pro' }, [['apiKey']]],
      [{ plan: 'enterprise' }, [['plan']]],
      [{ apiKey: '' }, [['apiKey']]],
      [{ apiKey: 'has space' }, [['apiKey']]],
      [{ baseUrl: 'https://api.coingecko.com/?x_cg_demo_api_key=k' }, [['baseUrl']]],
      [{ coinIds: { SHIB: 'Shiba Inu' } }, [['coinIds', 'SHIB']]],
      [{ coinIds: { shib: 'shiba-inu' } }, [['coinIds', 'shib']]],
      [{ timeoutMs: 0 }, [['timeoutMs']]],
      [{ maxResponseBytes: 1.5 }, [['maxResponseBytes']]],
      [{ ids: ['bitcoin'] }, [[]]],
    ]
    for (const [options, expected] of refused) expect(await paths(options)).toEqual(expected)
  })
})

describe('loading', () => {
  test('default: the plugin loads through loadRateProviders and answers from its options', async () => {
    const registry = await loadRateProviders(
      { chains: {}, rates: { coingecko: rates(() => import('./index.ts'), { baseUrl: api.url }) } },
      log,
    )
    const { provider: loaded } = registry.get('coingecko')!
    expect(rows(await loaded.fetchRates([pair('BTC/USD')]))).toEqual(['BTC/USD 65000.12'])
  })
})
