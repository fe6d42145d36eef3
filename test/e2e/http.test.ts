import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { auditServer } from 'graphql-http'
import { startAnvil } from '../../src/devnet.ts'
import { startServer } from '../../src/server.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'

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

  test('behavior: /readyz fails with 503 and names the chain when its RPC is down', async () => {
    const down = await createTestApp({ config: testConfig('http://127.0.0.1:9') })
    try {
      const res = await down.fetch(new Request('http://t/readyz'))
      expect(res.status).toBe(503)
      const body = await res.json()
      expect(body.checks.find((c: { name: string }) => c.name === 'chain:devnet').ok).toBe(false)
      expect(body.checks.find((c: { name: string }) => c.name === 'database').ok).toBe(true)
    } finally {
      await down.close()
    }
  })

  test('default: /metrics exposes Prometheus text with request counters', async () => {
    await app.fetch(new Request('http://t/healthz'))
    const text = await (await app.fetch(new Request('http://t/metrics'))).text()
    expect(text).toContain('tollgate_http_requests_total{route="/healthz",status="200"}')
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
