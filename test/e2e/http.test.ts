import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { auditServer } from 'graphql-http'
import { startAnvil } from '../../src/devnet.ts'
import { startServer } from '../../src/server.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { waitFor } from '../helpers/processes.ts'

let app: TestApp
let server: ReturnType<typeof Bun.serve>
let anvil: Awaited<ReturnType<typeof startAnvil>>

beforeAll(async () => {
  anvil = await startAnvil({ port: 18545 + Math.floor(Math.random() * 1000) })
  app = await createTestApp({ config: testConfig(anvil.url) })
  server = startServer(app.ctx, { port: 0, hostname: '127.0.0.1' })
})
afterAll(async () => {
  server.stop(true)
  await app.close()
  await anvil.stop()
})

describe('GraphQL over HTTP', () => {
  test('behavior: the graphql-http audit suite finds no violation of a MUST', async () => {
    const results = await auditServer({ url: `http://127.0.0.1:${server.port}/graphql` })
    const failures = results.filter((r) => r.status === 'error')
    expect(failures.map((f) => `${f.name}: ${'reason' in f ? f.reason : ''}`)).toEqual([])
    expect(results.filter((r) => r.status === 'ok').length).toBeGreaterThan(20)
  })

  test('behavior: every response carries a request id, and a given one is echoed', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`, {
      headers: { 'x-request-id': 'req-abc' },
    })
    expect(res.headers.get('x-request-id')).toBe('req-abc')
    const other = await fetch(`http://127.0.0.1:${server.port}/healthz`)
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  test('error: a request id that is too long or not printable ASCII is replaced by an id of the server', async () => {
    for (const offered of ['x'.repeat(65), 'a b', 'évil', 'a\tb']) {
      const res = await fetch(`http://127.0.0.1:${server.port}/healthz`, {
        headers: { 'x-request-id': offered },
      })
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    }
  })

  test('behavior: Bun.serve refuses a body over the limit even without a content-length', async () => {
    const big = 'x'.repeat(70 * 1024)
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(`{"query":"{ __typename }","pad":"${big}"}`))
        c.close()
      },
    })
    const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
    })
    expect(res.status).toBe(413)
  })
})

describe('health', () => {
  test('default: /healthz answers while the process runs', async () => {
    const res = await app.fetch(new Request('http://t/healthz'))
    expect(await res.json()).toEqual({ ok: true })
  })

  test('default: /readyz checks the database, Redis and each chain RPC', async () => {
    const res = await app.fetch(new Request('http://t/readyz'))
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ['database', true],
      ['redis', true],
      ['chain:devnet', true],
    ])
  })

  test('behavior: a chain whose RPC is down is named as degraded; the process stays ready (other chains, checkout and the API still work)', async () => {
    const down = await createTestApp({ config: testConfig('http://127.0.0.1:9') })
    try {
      const res = await down.fetch(new Request('http://t/readyz'))
      expect(res.status).toBe(200)
      const body = await res.json()
      expect(body.degraded).toBe(true)
      const chain = body.checks.find((c: { name: string }) => c.name === 'chain:devnet')
      expect(chain.degraded).toEqual(['NODE_UNREACHABLE'])
      expect(chain.detail).toBeTruthy()
      expect(chain.detail).not.toContain('127.0.0.1:9')
      expect(body.checks.find((c: { name: string }) => c.name === 'database').ok).toBe(true)
    } finally {
      await down.close()
    }
  })

  test('default: /metrics exposes Prometheus text with request counters', async () => {
    await app.fetch(new Request('http://t/healthz'))
    const text = await (await app.fetch(new Request('http://t/metrics'))).text()
    expect(text).toContain('tollgate_http_requests_total{route="/healthz",status="200"}')
    // how far behind each chain is, read from the database at scrape
    expect(text).toContain('# TYPE tollgate_chain_lag_blocks gauge')
    expect(text).toContain('# TYPE tollgate_payouts_backlog gauge')
  })
})

describe('errors', () => {
  test('behavior: an unexpected error is masked, carries a request id, and is logged with it', async () => {
    const broken = await createTestApp()
    try {
      const m = await broken.merchant()
      const created = await broken.gql(
        `mutation { createPayment(input: {chain: "devnet", asset: "ETH", amount: "1"}) { ... on CreatePaymentPayload { payment { id } } } }`,
        {},
        m.key,
      )
      const id = created.data.createPayment.payment.id
      // make the driver fail the way a bug would: paymentUri throws a plain Error
      const driver = broken.ctx.chains.get('devnet')!.driver
      driver.paymentUri = () => {
        throw new Error('secret internal detail')
      }
      const res = await broken.gql(`query ($id: ID!) { payment(id: $id) { paymentUri } }`, { id }, m.key)
      expect(res.errors[0].message).toBe('Unexpected error.')
      expect(JSON.stringify(res)).not.toContain('secret internal detail')
      const requestId = res.errors[0].extensions.requestId
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
      const logged = broken.logs.find((l) => l.requestId === requestId)
      expect(logged?.msg).toBe('unexpected error in a GraphQL operation')
      expect(JSON.stringify(logged)).toContain('secret internal detail')
    } finally {
      await broken.close()
    }
  })

  test('behavior: GraphiQL is off outside development', async () => {
    const res = await app.fetch(new Request('http://t/graphql', { headers: { accept: 'text/html' } }))
    expect(await res.text()).not.toContain('<html')
  })
})

/** Typos and introspection a probing client sends, each of which graphql-js would answer with a hint. */
const probes: Array<[label: string, query: string, variables?: Record<string, unknown>]> = [
  ['a misspelled field', '{ paymnts { edges { node { id } } } }'],
  ['a misspelled argument', '{ payments(frist: 1) { edges { node { id } } } }'],
  ['a misspelled enum value', '{ payments(filter: { status: PENDNG }) { edges { node { id } } } }'],
  ['a misspelled input field', '{ payments(filter: { stauts: PENDING }) { edges { node { id } } } }'],
  [
    'a misspelled type',
    'query ($s: PaymentStatu) { payments(filter: { status: $s }) { edges { node { id } } } }',
  ],
  [
    'a misspelled enum value in variables',
    'query ($s: PaymentStatus) { payments(filter: { status: $s }) { edges { node { id } } } }',
    { s: 'PENDNG' },
  ],
  ['a misspelled mutation', 'mutation { createPaymnt(input: {}) { __typename } }'],
  ['a misspelled fragment type', '{ me { ... on Merchnt { id } } }'],
]

describe('schema disclosure', () => {
  let production: TestApp
  let development: TestApp
  let optedIn: TestApp
  beforeAll(async () => {
    ;[production, development, optedIn] = await Promise.all([
      createTestApp({ env: { TOLLGATE_ENV: 'production' } }),
      createTestApp({ env: { TOLLGATE_ENV: 'development' } }),
      createTestApp({ env: { TOLLGATE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' } }),
    ])
  })
  afterAll(() => Promise.all([production, development, optedIn].map((a) => a.close())))

  test('default: in production, __schema and __type are refused, without a key and with one', async () => {
    const { key } = await production.merchant()
    for (const apiKey of [null, key]) {
      const schemaQuery = await production.gql('{ __schema { types { name } } }', {}, apiKey)
      expect(schemaQuery.data).toBeUndefined()
      expect(schemaQuery.errors[0].message).toContain('introspection has been disabled')
      const typeQuery = await production.gql('{ __type(name: "Payment") { fields { name } } }', {}, apiKey)
      expect(typeQuery.data).toBeUndefined()
      expect(JSON.stringify(typeQuery)).not.toContain('amountDue')
    }
  })

  test('default: in production, __typename still answers', async () => {
    expect(await production.gql('{ __typename }', {}, null)).toEqual({ data: { __typename: 'Query' } })
  })

  for (const [label, query, variables] of probes)
    test(`error: in production, ${label} is refused without a "Did you mean" hint`, async () => {
      const { key } = await production.merchant()
      const res = await production.gql(query, variables ?? {}, key)
      expect(res.errors.length).toBeGreaterThan(0)
      expect(JSON.stringify(res)).not.toContain('Did you mean')
      // the same probe in development gets the hint graphql-js gives
      const dev = await development.gql(query, variables ?? {}, (await development.merchant()).key)
      expect(JSON.stringify(dev)).toContain('Did you mean')
    })

  test('behavior: in development introspection answers; GRAPHQL_INTROSPECTION=true turns it on in production', async () => {
    for (const app of [development, optedIn]) {
      const res = await app.gql('{ __type(name: "PaymentStatus") { enumValues { name } } }', {}, null)
      expect(res.data.__type.enumValues.map((v: { name: string }) => v.name)).toContain('PENDING')
    }
    const hinted = await optedIn.gql('{ paymnts { edges { node { id } } } }', {}, null)
    expect(JSON.stringify(hinted)).toContain('Did you mean')
  })

  test('behavior: GraphiQL is on in development', async () => {
    const res = await development.fetch(new Request('http://t/graphql', { headers: { accept: 'text/html' } }))
    expect(await res.text()).toContain('<html')
  })
})

describe('CORS', () => {
  let listed: TestApp
  beforeAll(async () => {
    listed = await createTestApp({
      env: { CORS_ORIGINS: 'https://shop.example,https://admin.example:8443', RATE_LIMIT_PER_KEY: '2' },
    })
    // counted from the first request on: limits let requests through while Redis is not connected yet
    await waitFor('Redis', () => listed.ctx.redis.status === 'ready')
  })
  afterAll(() => listed.close())

  const post = (app: TestApp, origin: string, key?: string) =>
    app.fetch(
      new Request('http://t/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          origin,
          ...(key ? { authorization: `Bearer ${key}` } : {}),
        },
        body: JSON.stringify({ query: '{ __typename }' }),
      }),
    )
  const preflightFrom = (app: TestApp, origin: string) =>
    app.fetch(
      new Request('http://t/graphql', {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      }),
    )

  test('default: without CORS_ORIGINS no origin is allowed, and credentials never are', async () => {
    const res = await post(app, 'https://evil.example')
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    const pre = await preflightFrom(app, 'https://evil.example')
    expect(pre.headers.get('access-control-allow-origin')).toBeNull()
    expect(pre.headers.get('access-control-allow-headers')).toBeNull()
  })

  test('behavior: an allowlisted origin gets its own origin back, the methods and headers it needs, no credentials', async () => {
    for (const origin of ['https://shop.example', 'https://admin.example:8443']) {
      const res = await post(listed, origin)
      expect(res.headers.get('access-control-allow-origin')).toBe(origin)
      expect(res.headers.get('vary')).toContain('Origin')
      expect(res.headers.get('access-control-allow-credentials')).toBeNull()
      const pre = await preflightFrom(listed, origin)
      expect(pre.status).toBe(204)
      expect(pre.headers.get('access-control-allow-origin')).toBe(origin)
      expect(pre.headers.get('access-control-allow-methods')).toContain('POST')
      expect(pre.headers.get('access-control-allow-headers')).toContain('authorization')
      expect(pre.headers.get('access-control-allow-credentials')).toBeNull()
    }
  })

  const strangers = [
    'https://evil.example',
    'https://shop.example.evil.example',
    'https://evil-shop.example',
    'http://shop.example',
    'https://shop.example:444',
    'https://admin.example',
    'null',
    'HTTPS://SHOP.EXAMPLE',
    `https://${'a'.repeat(5000)}.example`,
    'https://shop.example, https://evil.example',
  ]
  for (const origin of strangers)
    test(`error: the origin ${JSON.stringify(origin.slice(0, 50))} gets no CORS header`, async () => {
      const res = await post(listed, origin)
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
      expect(res.headers.get('access-control-allow-credentials')).toBeNull()
      const pre = await preflightFrom(listed, origin)
      expect(pre.headers.get('access-control-allow-origin')).toBeNull()
    })

  test('behavior: a rate-limit refusal is readable by an allowlisted page, Retry-After included', async () => {
    const { key } = await listed.merchant()
    await post(listed, 'https://shop.example', key)
    await post(listed, 'https://shop.example', key)
    const refused = await post(listed, 'https://shop.example', key)
    expect(refused.status).toBe(429)
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://shop.example')
    expect(refused.headers.get('access-control-expose-headers')).toContain('retry-after')
  })
})
