import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { RawQuery } from '../../src/db/client.ts'
import { createMetrics } from '../../src/metrics.ts'
import { createHttpHandler, startServer } from '../../src/server.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { spawnApi, waitFor } from '../helpers/processes.ts'
import { clearRedisPrefix } from '../helpers/redis.ts'

// Rate limits on /graphql and the checkout: per client address, per API key, and a much stricter one for
// failed authentications of an address, which stops looking keys up once the address is over it.

/** A well-formed key that exists nowhere: without a limit, each one costs a database lookup. */
const badKey = () => `tg_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`

function graphqlRequest(query: string, key?: string, headers: Record<string, string> = {}): Request {
  return new Request('http://tollgate.test/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...headers,
    },
    body: JSON.stringify({ query }),
  })
}

type Handler = ReturnType<typeof createHttpHandler>['handle']

/** The HTTP status, the first error's code and limiter, and Retry-After of one request. */
async function outcome(handle: Handler, request: Request, peer?: string) {
  const res = await handle(request, peer)
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text()
  return {
    status: res.status,
    code: body?.errors?.[0]?.extensions?.code as string | undefined,
    limiter: body?.errors?.[0]?.extensions?.limiter as string | undefined,
    retryAfter: res.headers.get('retry-after'),
    body,
  }
}

/**
 * A test app whose Redis connection is up: until it is, the limits let requests through uncounted (they fail
 * open), which is right for a process but would make counts in a test start late.
 */
async function limitedApp(env: Record<string, string>): Promise<TestApp> {
  const app = await createTestApp({ env })
  await waitFor("the app's Redis connection", () => app.ctx.redis.status === 'ready')
  return app
}

/** Counts the raw statements the app sends that look an API key up (the auth path's only query). */
function countKeyLookups(app: TestApp) {
  const original = app.ctx.query
  const counter = { lookups: 0, restore: () => Object.assign(app.ctx, { query: original }) }
  const counting: RawQuery = (text, params) => {
    if (/from api_keys/.test(text)) counter.lookups++
    return original(text, params)
  }
  Object.assign(app.ctx, { query: counting })
  return counter
}

describe('failed authentications per address', () => {
  let app: TestApp
  let handle: Handler
  let metrics: ReturnType<typeof createMetrics>
  beforeAll(async () => {
    app = await limitedApp({ RATE_LIMIT_AUTH_FAILURES: '5' })
    metrics = createMetrics()
    handle = createHttpHandler(app.ctx, { metrics }).handle
  })
  afterAll(() => app.close())

  test('behavior: a burst of bad keys is refused with RATE_LIMITED after RATE_LIMIT_AUTH_FAILURES and stops reaching the database', async () => {
    const lookups = countKeyLookups(app)
    try {
      const results = []
      for (let i = 0; i < 40; i++)
        results.push(await outcome(handle, graphqlRequest('{ me { id } }', badKey()), '198.51.100.7'))
      expect(results.slice(0, 5).map((r) => [r.status, r.code])).toEqual(
        Array.from({ length: 5 }, () => [200, 'UNAUTHENTICATED']),
      )
      for (const r of results.slice(5)) {
        expect(r.status).toBe(429)
        expect(r.code).toBe('RATE_LIMITED')
        expect(r.limiter).toBe('auth')
        expect(r.body.errors[0].extensions.retryAfter).toBe(Number(r.retryAfter))
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1)
        expect(Number(r.retryAfter)).toBeLessThanOrEqual(600)
      }
      // five lookups, then none: the flood no longer costs the database anything
      expect(lookups.lookups).toBe(5)
      const text = await metrics.registry.metrics()
      expect(text).toContain('tollgate_rate_limited_total{limiter="auth"} 35')
    } finally {
      lookups.restore()
    }
  })

  test('behavior: another address still has its keys looked up, and the refused address may still call without a key', async () => {
    const other = await outcome(handle, graphqlRequest('{ me { id } }', badKey()), '198.51.100.8')
    expect([other.status, other.code]).toEqual([200, 'UNAUTHENTICATED'])
    const anonymous = await outcome(handle, graphqlRequest('{ __typename }'), '198.51.100.7')
    expect(anonymous.status).toBe(200)
    expect(anonymous.body).toEqual({ data: { __typename: 'Query' } })
  })

  test('behavior: while an address is over the failure limit, even a valid key from it is not looked up', async () => {
    const { key } = await app.merchant('Behind the same address')
    const refused = await outcome(handle, graphqlRequest('{ me { id } }', key), '198.51.100.7')
    expect([refused.status, refused.code, refused.limiter]).toEqual([429, 'RATE_LIMITED', 'auth'])
    const elsewhere = await outcome(handle, graphqlRequest('{ me { id } }', key), '198.51.100.9')
    expect(elsewhere.status).toBe(200)
    expect(elsewhere.body.data.me.id).toStartWith('mer_')
  })

  const hostileKeys: Array<[string, string]> = [
    ['not a bearer token', 'Basic dXNlcjpwYXNz'],
    ['empty bearer', 'Bearer '],
    ['a huge bearer token (60 KB)', `Bearer tg_${'a'.repeat(60_000)}`],
    ['a key with a bad prefix', `Bearer tg_ZZZZ${randomBytes(6).toString('hex')}_${'x'.repeat(43)}`],
    ['SQL in the key', "Bearer tg_' or '1'='1' --"],
  ]
  test('error: malformed authorization headers count as failed authentications and never reach the database', async () => {
    const lookups = countKeyLookups(app)
    try {
      const address = '198.51.100.30'
      const results = []
      for (const [, header] of [...hostileKeys, ...hostileKeys])
        results.push(
          await outcome(
            handle,
            graphqlRequest('{ me { id } }', undefined, { authorization: header }),
            address,
          ),
        )
      expect(results.slice(0, 5).map((r) => r.code)).toEqual(Array(5).fill('UNAUTHENTICATED'))
      expect(results.slice(5).map((r) => [r.status, r.code])).toEqual(Array(5).fill([429, 'RATE_LIMITED']))
      expect(lookups.lookups).toBe(0)
    } finally {
      lookups.restore()
    }
  })
})

describe('requests per address and per key', () => {
  let app: TestApp
  let handle: Handler
  beforeAll(async () => {
    app = await limitedApp({ RATE_LIMIT_PER_IP: '5', RATE_LIMIT_PER_KEY: '4' })
    handle = createHttpHandler(app.ctx).handle
  })
  afterAll(() => app.close())

  test('behavior: an address gets RATE_LIMITED (429, Retry-After) after RATE_LIMIT_PER_IP requests; another address does not', async () => {
    const address = '203.0.113.1'
    for (let i = 0; i < 5; i++)
      expect((await outcome(handle, graphqlRequest('{ __typename }'), address)).status).toBe(200)
    const refused = await outcome(handle, graphqlRequest('{ __typename }'), address)
    expect([refused.status, refused.code, refused.limiter]).toEqual([429, 'RATE_LIMITED', 'ip'])
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60)
    expect(refused.body.errors[0].extensions.requestId).toMatch(/^[0-9a-f-]{36}$/)
    expect((await outcome(handle, graphqlRequest('{ __typename }'), '203.0.113.2')).status).toBe(200)
  })

  test('behavior: the checkout counts against the same address limit and answers 429 with Retry-After', async () => {
    const refused = await outcome(
      handle,
      new Request('http://tollgate.test/pay/pay_x?secret=y'),
      '203.0.113.1',
    )
    expect(refused.status).toBe(429)
    expect(refused.body).toBe('too many requests\n')
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    const other = await outcome(handle, new Request('http://tollgate.test/pay/pay_x?secret=y'), '203.0.113.3')
    expect(other.status).toBe(404)
  })

  test('behavior: a key gets RATE_LIMITED after RATE_LIMIT_PER_KEY requests, from whichever address; another key does not', async () => {
    const first = await app.merchant('Busy')
    const second = await app.merchant('Quiet')
    for (let i = 0; i < 4; i++) {
      const ok = await outcome(handle, graphqlRequest('{ me { id } }', first.key), `203.0.113.${10 + i}`)
      expect(ok.body.data.me.id).toBe(first.id)
    }
    const refused = await outcome(handle, graphqlRequest('{ me { id } }', first.key), '203.0.113.20')
    expect([refused.status, refused.code, refused.limiter]).toEqual([429, 'RATE_LIMITED', 'key'])
    // in-process, without an address, the key limit still holds
    expect((await outcome(handle, graphqlRequest('{ me { id } }', first.key))).status).toBe(429)
    const other = await outcome(handle, graphqlRequest('{ me { id } }', second.key), '203.0.113.21')
    expect(other.body.data.me.id).toBe(second.id)
  })

  test('behavior: server-sent events count against the address too, and are refused before a stream opens', async () => {
    const sse = () =>
      new Request(`http://tollgate.test/graphql?query=${encodeURIComponent('{ __typename }')}`, {
        headers: { accept: 'text/event-stream' },
      })
    for (let i = 0; i < 5; i++) {
      const res = await handle(sse(), '203.0.113.90')
      expect(res.headers.get('content-type')).toContain('text/event-stream')
      expect(await res.text()).toContain('"__typename":"Query"')
    }
    const refused = await outcome(handle, sse(), '203.0.113.90')
    expect([refused.status, refused.code, refused.limiter]).toEqual([429, 'RATE_LIMITED', 'ip'])
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
  })

  test('error: a spoofed X-Forwarded-For is ignored without TRUST_PROXY', async () => {
    const peer = '203.0.113.50'
    const results = []
    for (let i = 0; i < 7; i++)
      results.push(
        await outcome(
          handle,
          graphqlRequest('{ __typename }', undefined, { 'x-forwarded-for': `192.0.2.${i}` }),
          peer,
        ),
      )
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429])
  })

  test('error: a huge X-Forwarded-For (100 KB) is ignored without TRUST_PROXY, and counted against the peer', async () => {
    const huge = Array.from({ length: 8000 }, (_, i) => `10.${i % 250}.0.1`).join(',')
    const results = []
    for (let i = 0; i < 6; i++)
      results.push(
        await outcome(
          handle,
          graphqlRequest('{ __typename }', undefined, { 'x-forwarded-for': huge }),
          '203.0.113.51',
        ),
      )
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429])
  })

  test('behavior: IPv6 clients are counted by their /64, so rotating addresses within it buys nothing', async () => {
    const results = []
    for (let i = 1; i <= 6; i++)
      results.push(await outcome(handle, graphqlRequest('{ __typename }'), `2001:db8:1:2::${i.toString(16)}`))
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429])
    expect((await outcome(handle, graphqlRequest('{ __typename }'), '2001:db8:1:3::1')).status).toBe(200)
  })

  test('behavior: an IPv4-mapped IPv6 peer is the same client as its IPv4 address', async () => {
    for (let i = 0; i < 5; i++)
      expect((await outcome(handle, graphqlRequest('{ __typename }'), '::ffff:203.0.113.60')).status).toBe(
        200,
      )
    expect((await outcome(handle, graphqlRequest('{ __typename }'), '203.0.113.60')).status).toBe(429)
  })

  test('behavior: over a real socket, the peer is what counts and X-Forwarded-For changes nothing', async () => {
    // startServer, and the bare handler given to Bun.serve (which hands it the server), count the same peer
    const servers = [
      startServer(app.ctx, { port: 0, hostname: '127.0.0.1' }),
      Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: handle }),
    ]
    try {
      const statuses = []
      for (let i = 0; i < 7; i++) {
        const server = servers[i % 2] as ReturnType<typeof Bun.serve>
        const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.18.0.${i}` },
          body: JSON.stringify({ query: '{ __typename }' }),
        })
        statuses.push(res.status)
        if (res.status === 429) expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429])
    } finally {
      for (const server of servers) server.stop(true)
    }
  })
})

describe('TRUST_PROXY', () => {
  let app: TestApp
  let handle: Handler
  beforeAll(async () => {
    app = await limitedApp({ RATE_LIMIT_PER_IP: '3', TRUST_PROXY: '10.0.0.0/8' })
    handle = createHttpHandler(app.ctx).handle
  })
  afterAll(() => app.close())

  const via = (forwardedFor: string, peer = '10.0.0.2') =>
    outcome(handle, graphqlRequest('{ __typename }', undefined, { 'x-forwarded-for': forwardedFor }), peer)

  test('behavior: behind a trusted proxy, the client is the address the proxy appended', async () => {
    for (let i = 0; i < 3; i++) expect((await via('198.51.100.20')).status).toBe(200)
    expect((await via('198.51.100.20')).status).toBe(429)
    // another client behind the same proxy has a limit of its own
    expect((await via('198.51.100.21')).status).toBe(200)
  })

  test('error: addresses the client wrote left of the proxy-appended one are ignored', async () => {
    expect((await via('1.2.3.4, 198.51.100.20')).status).toBe(429)
    expect((await via('not-an-address, 198.51.100.20, 10.1.2.3')).status).toBe(429)
  })

  test('error: an untrusted peer cannot choose its address with X-Forwarded-For', async () => {
    for (let i = 0; i < 3; i++) expect((await via(`192.0.2.${i}`, '203.0.113.80')).status).toBe(200)
    expect((await via('192.0.2.99', '203.0.113.80')).status).toBe(429)
  })

  test('error: garbage in X-Forwarded-For from the proxy counts against the proxy itself', async () => {
    for (let i = 0; i < 3; i++) expect((await via('x'.repeat(10_000), '10.9.9.9')).status).toBe(200)
    expect((await via('', '10.9.9.9')).status).toBe(429)
  })
})

describe('limits set to 0', () => {
  let app: TestApp
  beforeAll(async () => {
    app = await limitedApp({ RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_AUTH_FAILURES: '0' })
  })
  afterAll(() => app.close())

  test('behavior: 0 turns each limit off', async () => {
    const { handle } = createHttpHandler(app.ctx)
    const { key, id } = await app.merchant()
    for (let i = 0; i < 30; i++) {
      const bad = await outcome(handle, graphqlRequest('{ me { id } }', badKey()), '198.51.100.50')
      expect([bad.status, bad.code]).toEqual([200, 'UNAUTHENTICATED'])
      const good = await outcome(handle, graphqlRequest('{ me { id } }', key), '198.51.100.50')
      expect(good.body.data.me.id).toBe(id)
    }
  })
})

describe('Redis unreachable', () => {
  let app: TestApp
  let dead: Redis
  beforeAll(async () => {
    app = await createTestApp({
      env: { RATE_LIMIT_PER_IP: '2', RATE_LIMIT_PER_KEY: '2', RATE_LIMIT_AUTH_FAILURES: '3' },
    })
    dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    })
  })
  afterAll(async () => {
    dead.disconnect()
    await app.close()
  })

  test('behavior: request limits let requests through and warn; failed authentications are still cut off in this process', async () => {
    const metrics = createMetrics()
    const { handle } = createHttpHandler({ ...app.ctx, redis: dead }, { metrics })
    const { key, id } = await app.merchant('Still served')
    for (let i = 0; i < 6; i++) {
      const ok = await outcome(handle, graphqlRequest('{ me { id } }', key), '198.51.100.40')
      expect(ok.body.data.me.id).toBe(id)
    }
    const bad = []
    for (let i = 0; i < 5; i++)
      bad.push(await outcome(handle, graphqlRequest('{ me { id } }', badKey()), '198.51.100.41'))
    expect(bad.map((r) => r.status)).toEqual([200, 200, 200, 429, 429])
    expect(bad[3]?.limiter).toBe('auth')
    const warnings = app.logs.filter((l) => String(l.msg).startsWith('rate limiter cannot reach Redis'))
    expect(warnings.map((w) => w.limiter).sort()).toEqual(['auth', 'ip', 'key'])
    expect(await metrics.registry.metrics()).toMatch(
      /tollgate_rate_limiter_unavailable_total\{limiter="ip"\} \d+/,
    )
  })
})

describe('limits shared by API processes', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let apis: Array<Awaited<ReturnType<typeof spawnApi>>> = []
  let env: Record<string, string>
  const prefix = `ratelimit-${crypto.randomUUID().slice(0, 8)}`
  beforeAll(async () => {
    db = await createTestDatabase()
    env = {
      DATABASE_URL: db.url,
      REDIS_PREFIX: prefix,
      TOLLGATE_SEED: 'test test test test test test test test test test test junk',
      TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
      TEST_RPC_URL: 'http://127.0.0.1:9',
      ADDRESS_POOL_SIZE: '5',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_IP: '10',
      RATE_LIMIT_AUTH_FAILURES: '3',
    }
    apis = await Promise.all([spawnApi(env), spawnApi(env)])
  }, 60_000)
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.stop()))
    await db?.drop()
    await clearRedisPrefix('redis://127.0.0.1:6379', prefix)
  })

  async function call(api: { url: string }, key?: string) {
    const res = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query: key ? '{ me { id } }' : '{ __typename }' }),
    })
    const body = await res.json()
    return {
      status: res.status,
      code: body.errors?.[0]?.extensions?.code,
      limiter: body.errors?.[0]?.extensions?.limiter,
    }
  }

  test('behavior: two `serve` processes on one Redis prefix count the same failed authentications and requests', async () => {
    const [a, b] = [apis[0]!, apis[1]!]
    expect((await call(a, badKey())).code).toBe('UNAUTHENTICATED')
    expect((await call(a, badKey())).code).toBe('UNAUTHENTICATED')
    expect((await call(b, badKey())).code).toBe('UNAUTHENTICATED')
    // the third failure happened on the other process: this one refuses the next key unseen
    expect(await call(a, badKey())).toEqual({ status: 429, code: 'RATE_LIMITED', limiter: 'auth' })
    // four requests so far; six more without a key, split over both, are the last the address may make
    for (const api of [a, b, a, b, a, b]) expect((await call(api)).status).toBe(200)
    expect(await call(b)).toEqual({ status: 429, code: 'RATE_LIMITED', limiter: 'ip' })
    expect(await call(a)).toEqual({ status: 429, code: 'RATE_LIMITED', limiter: 'ip' })
  })
})
