import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import type { DriverLogger, KytContext, KytRequest, KytVerdict } from '@tollgate/sdk'
import { retryAfterSeconds } from '@tollgate/sdk/http'
import { driverRejection } from '@tollgate/sdk/testing'
import { type EntityProfile, type RiskApiStandIn, startRiskApi } from '../../../test/stand-ins/risk-api.ts'
import riskApi, { createRiskApiProvider } from './index.ts'
import { riskApiOptionsSchema } from './options.ts'

// The provider against a stand-in of the Chainalysis Address Screening API (test/stand-ins/risk-api.ts): every
// mapping of an assessment to an answer, and every way the API can fail, as the typed error a caller retries or not.

/** Listed on the OFAC SDN ETH list (test/fixtures/kyt/ofac_sdn_ETH.txt, first entry). */
const sanctioned = '0x8589427373D6D84E98730D7795D8f6f8731FDA16'
const clean = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const bitcoin = '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa'

const logged: Array<{ obj: object; msg?: string }> = []
const log: DriverLogger = {
  debug: (obj, msg) => logged.push({ obj, msg }),
  info: (obj, msg) => logged.push({ obj, msg }),
  warn: (obj, msg) => logged.push({ obj, msg }),
  error: (obj, msg) => logged.push({ obj, msg }),
}
const ctx: KytContext = { name: 'chainalysis', log, chains: [] }

let api: RiskApiStandIn

const provider = (options: Record<string, unknown> = {}) =>
  createRiskApiProvider(
    riskApiOptionsSchema.parse({ baseUrl: api.url, apiKey: api.apiKey, inProgressPauseMs: 0, ...options }),
    ctx,
  )
const ask = (address: string, chain = 'eip155:1'): KytRequest => ({
  chain,
  address,
  addressKey: address.toLowerCase(),
  direction: 'inbound',
})

const sanctionedProfile: EntityProfile = {
  risk: 'Severe',
  riskReason: 'Identified as Sanctioned Entity',
  cluster: { name: 'OFAC SDN Tornado Cash 2022-08-08', category: 'sanctions' },
  addressType: 'PRIVATE_WALLET',
  addressIdentifications: [],
  exposures: [
    { category: 'sanctions', value: 5_000_000.12, exposureType: 'direct', direction: 'both_directions' },
    { category: 'mixing', value: 1_200.5, exposureType: 'indirect', direction: 'received' },
  ],
  triggers: [
    {
      category: 'sanctions',
      percentage: 0.81,
      message: '> 0% direct exposure to sanctions',
      ruleTriggered: {
        risk: 'Severe',
        minThreshold: 0,
        maxThreshold: 100,
        exposureType: 'direct',
        direction: 'both_directions',
      },
    },
  ],
}

beforeAll(() => {
  api = startRiskApi()
})
afterEach(() => {
  api.misbehave(undefined, 'both')
  api.requests.length = 0
})
afterAll(() => api.stop())

describe('mapping assessments to answers', () => {
  test('default: a Severe sanctioned address is blocked, with its risk, categories, reasons and source', async () => {
    api.setEntity(sanctioned, sanctionedProfile)
    expect(await provider().screen(ask(sanctioned))).toEqual({
      verdict: 'block',
      risk: 'severe',
      categories: ['sanctions', 'mixing'],
      reasons: [
        'Identified as Sanctioned Entity',
        'cluster: OFAC SDN Tornado Cash 2022-08-08 (sanctions)',
        '> 0% direct exposure to sanctions',
      ],
      source: { provider: 'chainalysis', version: 'risk/v2' },
    })
  })

  test('default: the verdicts are Severe → block, High → review, Medium → review, Low → allow', async () => {
    const kyt = provider()
    const expected = { Severe: 'block', High: 'review', Medium: 'review', Low: 'allow' } as const
    for (const [i, [risk, verdict]] of Object.entries(expected).entries()) {
      const address = `0x${String(i + 1).repeat(40)}`
      api.setEntity(address, { risk: risk as keyof typeof expected })
      expect(await kyt.screen(ask(address))).toMatchObject({ verdict, risk: risk.toLowerCase() })
    }
  })

  test('args: verdicts remap each grade', async () => {
    const kyt = provider({ verdicts: { severe: 'block', high: 'block', medium: 'allow', low: 'allow' } })
    const cases: Array<[EntityProfile['risk'], KytVerdict]> = [
      ['Severe', 'block'],
      ['High', 'block'],
      ['Medium', 'allow'],
      ['Low', 'allow'],
    ]
    for (const [i, [risk, verdict]] of cases.entries()) {
      const address = `bc1q${'x'.repeat(i + 1)}`
      api.setEntity(address, { risk })
      expect((await kyt.screen(ask(address, 'bip122:000000000019d6689c085ae165831e93'))).verdict).toBe(
        verdict,
      )
    }
    // a partial mapping keeps the defaults for the grades it leaves out
    api.setEntity(clean, { risk: 'High' })
    expect((await provider({ verdicts: { medium: 'allow' } }).screen(ask(clean))).verdict).toBe('review')
  })

  test('behavior: categories join the cluster, exposures and triggers once each; reasons name identifications and triggers', async () => {
    api.setEntity(bitcoin, {
      risk: 'High',
      riskReason: '> 10% exposure to darknet market',
      cluster: { name: 'Hydra Marketplace', category: 'darknet market' },
      addressIdentifications: [
        { name: 'Hydra deposit', category: 'darknet market', description: 'seized 2022' },
      ],
      exposures: [
        { category: 'darknet market', value: 10, exposureType: 'direct', direction: 'sent' },
        { category: 'exchange', value: 90, exposureType: 'indirect', direction: 'both_directions' },
        { category: 'exchange', value: 3, exposureType: 'direct', direction: 'received' },
      ],
      triggers: [
        {
          category: 'darknet market',
          percentage: 10.5,
          message: '> 10% exposure to darknet market',
          ruleTriggered: {
            risk: 'High',
            minThreshold: 10,
            maxThreshold: 100,
            exposureType: 'direct',
            direction: 'both_directions',
          },
        },
        {
          category: 'stolen funds',
          percentage: 1,
          message: '> 0% exposure to stolen funds',
          ruleTriggered: {
            risk: 'Medium',
            minThreshold: 0,
            maxThreshold: 5,
            exposureType: 'indirect',
            direction: 'both_directions',
          },
        },
      ],
    })
    const answer = await provider().screen(ask(bitcoin, 'bip122:000000000019d6689c085ae165831e93'))
    expect(answer).toEqual({
      verdict: 'review',
      risk: 'high',
      categories: ['darknet market', 'exchange', 'stolen funds'],
      reasons: [
        '> 10% exposure to darknet market',
        'cluster: Hydra Marketplace (darknet market)',
        'identified as Hydra deposit (darknet market)',
        '> 0% exposure to stolen funds',
      ],
      source: { provider: 'chainalysis', version: 'risk/v2' },
    })
  })

  test('behavior: a clean address (no cluster, no reason, no exposure) is allowed with nothing to show', async () => {
    api.setEntity(clean, { risk: 'Low' })
    expect(await provider().screen(ask(clean))).toEqual({
      verdict: 'allow',
      risk: 'low',
      categories: [],
      reasons: [],
      source: { provider: 'chainalysis', version: 'risk/v2' },
    })
  })

  test('behavior: the address is registered, then read, with the key in the Token header', async () => {
    api.setEntity(clean, { risk: 'Low' })
    await provider().screen(ask(clean))
    expect(api.requests).toEqual([
      {
        method: 'POST',
        path: '/api/risk/v2/entities',
        address: clean,
        token: api.apiKey,
        contentType: 'application/json',
      },
      {
        method: 'GET',
        path: `/api/risk/v2/entities/${clean}`,
        address: clean,
        token: api.apiKey,
        contentType: null,
      },
    ])
    // a base URL with a trailing slash reaches the same paths
    api.requests.length = 0
    await provider({ baseUrl: `${api.url}/` }).screen(ask(clean))
    expect(api.requests.map((r) => r.path)).toEqual([
      '/api/risk/v2/entities',
      `/api/risk/v2/entities/${clean}`,
    ])
  })

  test('behavior: the address is one URL-encoded path segment (slashes, ?, #, % and spaces stay in it)', async () => {
    const odd = 'addr/with?query=1#frag%20 and space'
    api.setEntity(odd, { risk: 'Medium' })
    expect(await provider().screen(ask(odd, 'cosmos:cosmoshub-4'))).toMatchObject({ verdict: 'review' })
    const read = api.requests.find((r) => r.method === 'GET')
    expect(read?.address).toBe(odd)
    expect(read?.path).toBe(`/api/risk/v2/entities/${encodeURIComponent(odd)}`)
  })

  test('behavior: an EVM or bech32 address answered in another letter case is the same address', async () => {
    const kyt = provider()
    const body = (address: string) => ({
      address,
      risk: 'Low',
      riskReason: null,
      cluster: null,
      addressType: 'PRIVATE_WALLET',
      addressIdentifications: [],
      exposures: [],
      triggers: [],
      status: 'COMPLETE',
      // a field the docs do not list yet: ignored, not refused
      poolMetadata: null,
    })
    api.misbehave({ kind: 'body', body: body(clean.toLowerCase()) })
    expect((await kyt.screen(ask(clean))).verdict).toBe('allow')
    const segwit = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'
    api.misbehave({ kind: 'body', body: body(segwit.toUpperCase()) })
    expect((await kyt.screen(ask(segwit, 'bip122:000000000019d6689c085ae165831e93'))).verdict).toBe('allow')
    // base58 is case-sensitive: another case is another address
    api.misbehave({ kind: 'body', body: body(bitcoin.toLowerCase()) })
    expect(
      await driverRejection(kyt.screen(ask(bitcoin, 'bip122:000000000019d6689c085ae165831e93'))),
    ).toMatchObject({ code: 'KYT_BAD_ANSWER', retryable: false })
  })

  test('behavior: an IN_PROGRESS assessment is read again until it is COMPLETE', async () => {
    api.setEntity(sanctioned, sanctionedProfile)
    api.misbehave({ kind: 'in-progress', reads: 2 })
    expect((await provider({ inProgressRetries: 3 }).screen(ask(sanctioned))).verdict).toBe('block')
    expect(api.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'GET', 'GET'])
  })
})

describe('errors', () => {
  test('error: still IN_PROGRESS after inProgressRetries re-reads is the retryable KYT_PENDING', async () => {
    api.misbehave({ kind: 'in-progress', reads: 100 })
    const err = await driverRejection(provider({ inProgressRetries: 3 }).screen(ask(clean)))
    expect(err).toMatchObject({ code: 'KYT_PENDING', retryable: true })
    expect(api.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'GET', 'GET', 'GET'])
    api.requests.length = 0
    expect(await driverRejection(provider({ inProgressRetries: 0 }).screen(ask(clean)))).toMatchObject({
      code: 'KYT_PENDING',
    })
    expect(api.requests.map((r) => r.method)).toEqual(['POST', 'GET'])
  })

  test('error: 429 is the retryable KYT_RATE_LIMITED, naming the Retry-After seconds', async () => {
    api.misbehave({ kind: 'rate-limited', retryAfter: '30' })
    const err = await driverRejection(provider().screen(ask(clean)))
    expect(err).toMatchObject({ code: 'KYT_RATE_LIMITED', retryable: true })
    expect(err.message).toContain('retry after 30 s')
    // on the registration too, and without a Retry-After
    api.misbehave(undefined)
    api.misbehave({ kind: 'rate-limited' }, 'register')
    const bare = await driverRejection(provider().screen(ask(clean)))
    expect(bare).toMatchObject({ code: 'KYT_RATE_LIMITED', retryable: true })
    expect(bare.message).toContain('no Retry-After')
  })

  test('args: Retry-After is delta-seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z')
    expect(retryAfterSeconds('120', now)).toBe(120)
    expect(retryAfterSeconds(' 0 ', now)).toBe(0)
    expect(retryAfterSeconds('Wed, 01 Jan 2025 00:01:30 GMT', now)).toBe(90)
    expect(retryAfterSeconds('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0)
    expect(retryAfterSeconds('soon', now)).toBeUndefined()
    expect(retryAfterSeconds(null, now)).toBeUndefined()
  })

  test('error: 500, 502 and 503, on the read or the registration, are the retryable KYT_UNAVAILABLE', async () => {
    for (const status of [500, 502, 503])
      for (const on of ['read', 'register'] as const) {
        api.misbehave(undefined, 'both')
        api.misbehave({ kind: 'status', status }, on)
        const err = await driverRejection(provider().screen(ask(clean)))
        expect(err).toMatchObject({ code: 'KYT_UNAVAILABLE', retryable: true })
        expect(err.message).toContain(`HTTP ${status}`)
      }
    // an error page over maxResponseBytes is still a 503
    api.misbehave({ kind: 'status', status: 503, body: `<html>${'x'.repeat(2 << 20)}</html>` })
    expect(await driverRejection(provider().screen(ask(clean)))).toMatchObject({
      code: 'KYT_UNAVAILABLE',
      retryable: true,
    })
  })

  test('error: an API that never answers is the retryable KYT_TIMEOUT after timeoutMs', async () => {
    api.misbehave({ kind: 'hang' })
    expect(await driverRejection(provider({ timeoutMs: 200 }).screen(ask(clean)))).toMatchObject({
      code: 'KYT_TIMEOUT',
      retryable: true,
    })
  })

  test('behavior: a slow answer within timeoutMs is used; a body stalled past it is KYT_TIMEOUT', async () => {
    api.setEntity(sanctioned, sanctionedProfile)
    api.misbehave({ kind: 'slow', ms: 50 })
    expect((await provider({ timeoutMs: 5000 }).screen(ask(sanctioned))).verdict).toBe('block')
    api.misbehave({ kind: 'slow', ms: 10_000, stall: 'body' })
    expect(await driverRejection(provider({ timeoutMs: 200 }).screen(ask(sanctioned)))).toMatchObject({
      code: 'KYT_TIMEOUT',
      retryable: true,
    })
  })

  test('error: a refused connection is the retryable KYT_UNAVAILABLE', async () => {
    const gone = startRiskApi()
    const url = gone.url
    await gone.stop()
    const kyt = createRiskApiProvider(riskApiOptionsSchema.parse({ baseUrl: url, apiKey: 'k' }), ctx)
    expect(await driverRejection(kyt.screen(ask(clean)))).toMatchObject({
      code: 'KYT_UNAVAILABLE',
      retryable: true,
    })
  })

  test('error: a wrong key (403) or a 401 is KYT_AUTH, not retryable', async () => {
    const wrong = provider({ apiKey: 'not-the-key' })
    const err = await driverRejection(wrong.screen(ask(clean)))
    expect(err).toMatchObject({ code: 'KYT_AUTH', retryable: false })
    expect(err.message).toContain('HTTP 403')
    api.misbehave({ kind: 'status', status: 401 })
    expect(await driverRejection(provider().screen(ask(clean)))).toMatchObject({
      code: 'KYT_AUTH',
      retryable: false,
    })
  })

  test('error: 400 is KYT_REJECTED with the API’s message; a 404 read is the retryable KYT_NOT_REGISTERED', async () => {
    api.misbehave({ kind: 'status', status: 400, body: '{"message":"Invalid address format"}' }, 'register')
    const refused = await driverRejection(provider().screen(ask(clean)))
    expect(refused).toMatchObject({ code: 'KYT_REJECTED', retryable: false })
    expect(refused.message).toContain('Invalid address format')
    api.misbehave(undefined, 'both')
    api.misbehave({ kind: 'status', status: 404 })
    expect(await driverRejection(provider().screen(ask(clean)))).toMatchObject({
      code: 'KYT_NOT_REGISTERED',
      retryable: true,
    })
  })

  test('error: garbage, a wrong shape or an answer for another address is KYT_BAD_ANSWER, not retryable', async () => {
    const kyt = provider()
    const good = {
      address: clean,
      risk: 'Low',
      riskReason: null,
      cluster: null,
      addressType: 'PRIVATE_WALLET',
      addressIdentifications: [],
      exposures: [],
      triggers: [],
      status: 'COMPLETE',
    }
    api.misbehave({ kind: 'body', body: good })
    expect((await kyt.screen(ask(clean))).verdict).toBe('allow')
    const wrong: unknown[] = [
      { ...good, risk: 'Catastrophic' },
      { ...good, risk: 'severe' },
      { ...good, risk: undefined },
      { ...good, status: 'DONE' },
      { ...good, status: undefined },
      { ...good, address: undefined },
      { ...good, cluster: { name: 'Binance' } },
      { ...good, exposures: {} },
      { ...good, exposures: [{ category: 'exchange', value: '12' }] },
      { ...good, triggers: [{ percentage: 5 }] },
      { ...good, riskReason: 'x'.repeat(5000) },
      { address: sanctioned, status: 'IN_PROGRESS' },
      [good],
      null,
      'COMPLETE',
      42,
    ]
    for (const body of wrong) {
      api.misbehave({ kind: 'body', body })
      expect(await driverRejection(kyt.screen(ask(clean)))).toMatchObject({
        code: 'KYT_BAD_ANSWER',
        retryable: false,
      })
    }
    api.misbehave({ kind: 'garbage' })
    const garbage = await driverRejection(kyt.screen(ask(clean)))
    expect(garbage).toMatchObject({ code: 'KYT_BAD_ANSWER', retryable: false })
    expect(garbage.message).toContain('not JSON')

    api.setEntity(sanctioned, sanctionedProfile)
    api.misbehave({ kind: 'other-address', address: clean })
    const other = await driverRejection(kyt.screen(ask(sanctioned)))
    expect(other).toMatchObject({ code: 'KYT_BAD_ANSWER', retryable: false })
    expect(other.message).toContain(clean)
  })

  test('error: a 10 MB body is KYT_BAD_ANSWER, declared or streamed; an endless one is cut off, not buffered', async () => {
    const kyt = provider({ timeoutMs: 30_000 })
    for (const declareLength of [true, false]) {
      api.misbehave({ kind: 'huge', bytes: 10 << 20, declareLength })
      const err = await driverRejection(kyt.screen(ask(clean)))
      expect(err).toMatchObject({ code: 'KYT_BAD_ANSWER', retryable: false })
      expect(err.message).toContain(`over the ${1 << 20} bytes allowed`)
    }
    // a body that never ends can only be refused by a reader that stops at the cap
    api.misbehave({ kind: 'endless' })
    expect(await driverRejection(provider({ maxResponseBytes: 64 << 10 }).screen(ask(clean)))).toMatchObject({
      code: 'KYT_BAD_ANSWER',
      retryable: false,
    })
  })

  test('error: a hostile request is KYT_BAD_REQUEST and never reaches the API', async () => {
    const kyt = provider()
    const hostile: unknown[] = [
      { ...ask(clean), address: '' },
      { ...ask(clean), address: 'a'.repeat(10_000) },
      { ...ask(clean), address: 42 },
      { ...ask(clean), chain: 'ethereum' },
      null,
    ]
    for (const request of hostile)
      expect(await driverRejection(kyt.screen(request as KytRequest))).toMatchObject({
        code: 'KYT_BAD_REQUEST',
        retryable: false,
      })
    expect(api.requests).toEqual([])
  })

  test('error: an aborted screening is KYT_ABORTED, while a request hangs or between IN_PROGRESS reads', async () => {
    api.misbehave({ kind: 'hang' })
    const hanging = new AbortController()
    const pending = driverRejection(provider({ timeoutMs: 60_000 }).screen(ask(clean), hanging.signal))
    await api.waitForRequests(2)
    hanging.abort()
    expect(await pending).toMatchObject({ code: 'KYT_ABORTED', retryable: true })

    api.misbehave({ kind: 'in-progress', reads: 100 })
    api.requests.length = 0
    const pausing = new AbortController()
    const paused = driverRejection(provider({ inProgressPauseMs: 60_000 }).screen(ask(clean), pausing.signal))
    await api.waitForRequests(2)
    pausing.abort()
    expect(await paused).toMatchObject({ code: 'KYT_ABORTED', retryable: true })
  })

  test('error: the API key is in no error message, cause or log line, even when the API echoes it', async () => {
    const key = api.apiKey
    const echo = `{"message":"token ${key} is not allowed here"}`
    const failures: Array<[Parameters<RiskApiStandIn['misbehave']>[0], 'read' | 'register']> = [
      [{ kind: 'status', status: 401, body: echo }, 'read'],
      [{ kind: 'status', status: 403, body: echo }, 'register'],
      [{ kind: 'status', status: 400, body: echo }, 'register'],
      [{ kind: 'status', status: 500, body: echo }, 'read'],
      [{ kind: 'status', status: 503, body: echo }, 'read'],
      [{ kind: 'rate-limited', retryAfter: key }, 'read'],
      [{ kind: 'garbage' }, 'read'],
      [{ kind: 'body', body: { address: key, status: 'COMPLETE', risk: 'Low' } }, 'read'],
      [{ kind: 'hang' }, 'read'],
      [{ kind: 'huge', bytes: 2 << 20 }, 'read'],
      [{ kind: 'in-progress', reads: 100 }, 'read'],
    ]
    logged.length = 0
    const messages: string[] = []
    for (const [behavior, on] of failures) {
      api.misbehave(undefined, 'both')
      api.misbehave(behavior, on)
      const err = await driverRejection(provider({ timeoutMs: 200, inProgressRetries: 1 }).screen(ask(clean)))
      messages.push(err.message, String(err.cause ?? ''), (err.cause as Error | undefined)?.message ?? '')
      messages.push(JSON.stringify(err), (err as unknown as Error).stack ?? '')
    }
    // the echoed message is shown, with the key blanked out
    expect(messages.some((m) => m.includes('token [redacted] is not allowed here'))).toBe(true)
    api.misbehave(undefined, 'both')
    api.setEntity(clean, { risk: 'Low' })
    await provider().screen(ask(clean))
    expect(logged.length).toBeGreaterThan(0)
    for (const text of [...messages, ...logged.map((l) => `${JSON.stringify(l.obj)} ${l.msg}`)])
      expect(text).not.toContain(key)
  })
})

describe('options', () => {
  const base = { baseUrl: 'https://api.chainalysis.com', apiKey: 'k3y' }
  const paths = async (options: unknown) => {
    const result = await riskApi.options['~standard'].validate(options)
    return (result.issues ?? []).map((i) => (i.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)))
  }

  test('default: only baseUrl and apiKey are needed; the rest has documented defaults', async () => {
    const result = await riskApi.options['~standard'].validate(base)
    expect(result.issues).toBeUndefined()
    expect((result as { value: unknown }).value).toEqual({
      ...base,
      verdicts: { severe: 'block', high: 'review', medium: 'review', low: 'allow' },
      timeoutMs: 5000,
      maxResponseBytes: 1 << 20,
      inProgressRetries: 3,
      inProgressPauseMs: 1000,
    })
    expect(riskApi).toMatchObject({ apiVersion: 1, name: 'kyt-risk-api' })
    api.setEntity(clean, { risk: 'Medium' })
    const kyt = await riskApi.create(
      riskApiOptionsSchema.parse({ baseUrl: api.url, apiKey: api.apiKey }),
      ctx,
    )
    expect((await kyt.screen(ask(clean))).verdict).toBe('review')
  })

  test('error: invalid options are refused, each at its field path', async () => {
    const refused: Array<[unknown, Array<Array<string | number>>]> = [
      [{}, [['baseUrl'], ['apiKey']]],
      [{ ...base, baseUrl: 'ftp://api.chainalysis.com' }, [['baseUrl']]],
      [{ ...base, baseUrl: 'api.chainalysis.com' }, [['baseUrl']]],
      [{ ...base, baseUrl: 'https://user:secret@api.chainalysis.com' }, [['baseUrl']]],
      [{ ...base, baseUrl: 'https://api.chainalysis.com/?token=1' }, [['baseUrl']]],
      [{ ...base, apiKey: '' }, [['apiKey']]],
      [{ ...base, apiKey: 'has space' }, [['apiKey']]],
      [{ ...base, apiKey: 'line\nbreak' }, [['apiKey']]],
      [{ ...base, apiKey: 42 }, [['apiKey']]],
      [{ ...base, verdicts: { high: 'deny' } }, [['verdicts', 'high']]],
      [{ ...base, verdicts: { critical: 'block' } }, [['verdicts']]],
      [{ ...base, verdicts: { low: 'block' } }, [['verdicts', 'medium']]],
      [{ ...base, verdicts: { severe: 'review', high: 'block' } }, [['verdicts', 'severe']]],
      [{ ...base, timeoutMs: 0 }, [['timeoutMs']]],
      [{ ...base, timeoutMs: 1.5 }, [['timeoutMs']]],
      [{ ...base, maxResponseBytes: 1 << 30 }, [['maxResponseBytes']]],
      [{ ...base, inProgressRetries: -1 }, [['inProgressRetries']]],
      [{ ...base, inProgressPauseMs: '1s' }, [['inProgressPauseMs']]],
      [{ ...base, token: 'k3y' }, [[]]],
    ]
    for (const [options, expected] of refused) expect(await paths(options)).toEqual(expected)
  })
})
