import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { Webhook } from 'standardwebhooks'
import { expireDuePayments } from '../../src/core/payments/expiry.ts'
import { attemptDelivery } from '../../src/core/webhooks/delivery.ts'
import { dispatchWebhookEvents } from '../../src/core/webhooks/dispatch.ts'
import { payments, webhookDeliveries, webhookEndpoints } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { waitFor } from '../helpers/processes.ts'
import { clearRedisPrefix } from '../helpers/redis.ts'

type Received = { headers: Record<string, string>; body: string; at: number }

/** A real HTTP receiver; `mode` decides how it answers. */
function receiver() {
  const received: Received[] = []
  const state = { mode: 'ok' as 'ok' | 'fail' | 'slow' | 'redirect' }
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const body = await req.text()
      if (state.mode === 'fail') return new Response('nope', { status: 500 })
      if (state.mode === 'redirect') {
        received.push({ headers: Object.fromEntries(req.headers), body, at: Date.now() })
        return Response.redirect('http://127.0.0.1:9/elsewhere', 302)
      }
      if (state.mode === 'slow') await Bun.sleep(3000)
      received.push({ headers: Object.fromEntries(req.headers), body, at: Date.now() })
      return new Response('ok')
    },
  })
  return { url: `http://127.0.0.1:${server.port}/hooks`, received, state, stop: () => server.stop(true) }
}

let app: TestApp
let key: string
let stopWorkers: (() => Promise<void>) | undefined
const receivers: Array<ReturnType<typeof receiver>> = []

const newReceiver = () => {
  const r = receiver()
  receivers.push(r)
  return r
}

beforeAll(async () => {
  app = await createTestApp({
    env: {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_SCHEDULE: '50ms,50ms,50ms',
      WEBHOOK_TIMEOUT_MS: '5000',
    },
  })
  key = (await app.merchant('Hooked')).key
  stopWorkers = await startWorkers(app.ctx)
})
afterAll(async () => {
  await stopWorkers?.()
  for (const r of receivers) r.stop()
  await app.close()
})

async function addEndpoint(url: string, events = ['PAYMENT_CREATED', 'PAYMENT_EXPIRED'], apiKey = key) {
  const res = await app.gql(
    `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
      __typename ... on WebhookEndpointWithSecret { secret endpoint { id url events } } ... on UserError { code field message } } }`,
    { input: { url, events } },
    apiKey,
  )
  return res.data.createWebhookEndpoint
}

async function createPayment(apiKey = key) {
  const res = await app.gql(
    `mutation { createPayment(input: {chain: "devnet", asset: "ETH", amount: "1", expiresIn: 60}) { ... on CreatePaymentPayload { payment { id } } } }`,
    {},
    apiKey,
  )
  return res.data.createPayment.payment.id as string
}

describe('delivery', () => {
  test('default: events arrive signed per Standard Webhooks, verified by the standardwebhooks library', async () => {
    const r = newReceiver()
    const m = await app.merchant('Signed')
    const created = await addEndpoint(r.url, undefined, m.key)
    expect(created.secret).toMatch(/^whsec_/)
    const paymentId = await createPayment(m.key)
    await waitFor('payment.created', () => r.received.length >= 1, 10_000)
    const [first] = r.received
    const verified = new Webhook(created.secret).verify(first!.body, first!.headers) as any
    expect(verified.type).toBe('payment.created')
    expect(verified.sequence).toBe(1)
    expect(verified.data).toMatchObject({
      object: 'payment',
      id: paymentId,
      status: 'PENDING',
      amountDue: '1',
    })
    expect(first!.headers['webhook-id']).toBe(verified.id)
    // then a status change, with the next sequence number
    await app.ctx.db
      .update(payments)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(payments.id, paymentId))
    await expireDuePayments(app.ctx)
    await waitFor('payment.expired', () => r.received.length >= 2, 10_000)
    const second = new Webhook(created.secret).verify(r.received[1]!.body, r.received[1]!.headers) as any
    expect(second).toMatchObject({ type: 'payment.expired', sequence: 2, data: { status: 'EXPIRED' } })
  }, 20_000)

  test('behavior: a tampered body or a wrong secret does not verify', async () => {
    const r = newReceiver()
    const m = await app.merchant('Tamper')
    const created = await addEndpoint(r.url, ['PAYMENT_CREATED'], m.key)
    await createPayment(m.key)
    await waitFor('delivery', () => r.received.length >= 1, 10_000)
    const { body, headers } = r.received[0]!
    expect(() => new Webhook(created.secret).verify(body.replace('"1"', '"2"'), headers)).toThrow()
    const other = (await addEndpoint(r.url, ['PAYMENT_CREATED'], m.key)).secret
    expect(() => new Webhook(other).verify(body, headers)).toThrow()
  })

  test('behavior: a receiver failing through the whole schedule gets everything after it recovers, via redelivery', async () => {
    const r = newReceiver()
    r.state.mode = 'fail'
    const m = await app.merchant('Flaky')
    const created = await addEndpoint(r.url, ['PAYMENT_CREATED'], m.key)
    const ids = [await createPayment(m.key), await createPayment(m.key), await createPayment(m.key)]
    const endpointId = created.endpoint.id
    const deliveries = async () =>
      (await app.ctx.db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.endpointId, endpointId))) ?? []
    await waitFor(
      'all failed',
      async () => {
        const d = await deliveries()
        return d.length === 3 && d.every((x) => x.status === 'failed')
      },
      15_000,
    )
    for (const d of await deliveries()) expect(d.attempts).toBe(4) // first try + 3 retries
    const [endpoint] = await app.ctx.db
      .select()
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, endpointId))
    expect(endpoint?.failingSince).not.toBeNull()
    const log = await app.gql(
      `query ($id: ID!) { webhookDeliveries(endpointId: $id, first: 10) { edges { node { id status attempts attemptLog { statusCode responseBody } } } } }`,
      { id: endpointId },
      m.key,
    )
    const nodes = log.data.webhookDeliveries.edges.map((e: any) => e.node)
    expect(nodes[0].attemptLog).toHaveLength(4)
    expect(nodes[0].attemptLog[0]).toEqual({ statusCode: 500, responseBody: 'nope' })
    // the receiver recovers; the merchant redelivers each failed delivery
    r.state.mode = 'ok'
    for (const n of nodes) {
      const res = await app.gql(
        `mutation ($id: ID!) { redeliverWebhook(deliveryId: $id) { __typename } }`,
        { id: n.id },
        m.key,
      )
      expect(res.data.redeliverWebhook.__typename).toBe('WebhookDelivery')
    }
    await waitFor('redelivered', () => r.received.length >= 3, 10_000)
    const got = r.received
      .map((x) => (new Webhook(created.secret).verify(x.body, x.headers) as any).data.id)
      .sort()
    expect(got).toEqual([...ids].sort())
    // the attempts are recorded just after they are answered
    await waitFor('recorded as delivered', async () =>
      (await deliveries()).every((d) => d.status === 'succeeded'),
    )
    const [after] = await app.ctx.db
      .select()
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, endpointId))
    expect(after?.failingSince).toBeNull()
  }, 30_000)

  test('behavior: a redirect is not followed and counts as a failed attempt', async () => {
    const r = newReceiver()
    r.state.mode = 'redirect'
    const m = await app.merchant('Redirect')
    const created = await addEndpoint(r.url, ['PAYMENT_CREATED'], m.key)
    await createPayment(m.key)
    await waitFor(
      'retried',
      async () => {
        const [d] = await app.ctx.db
          .select()
          .from(webhookDeliveries)
          .where(eq(webhookDeliveries.endpointId, created.endpoint.id))
        return d && d.attempts >= 2 && d.lastStatusCode === 302
      },
      10_000,
    )
    // every request reached this receiver: nothing was sent on to the redirect target
    expect(r.received.every((x) => x.headers['webhook-id'])).toBe(true)
  }, 20_000)

  test('behavior: a slow receiver does not hold up another', async () => {
    const slow = newReceiver()
    slow.state.mode = 'slow'
    const fast = newReceiver()
    const m = await app.merchant('Both')
    await addEndpoint(slow.url, ['PAYMENT_CREATED'], m.key)
    await addEndpoint(fast.url, ['PAYMENT_CREATED'], m.key)
    await createPayment(m.key)
    await createPayment(m.key)
    await waitFor('fast receiver', () => fast.received.length >= 2, 10_000)
    // the slow one is still answering its first request
    expect(slow.received.length).toBe(0)
  })

  test('behavior: a delivery whose worker died mid-send is sent again once its claim runs out', async () => {
    const r = newReceiver()
    const m = await app.merchant('Crash')
    await stopWorkers?.()
    stopWorkers = undefined
    try {
      await addEndpoint(r.url, ['PAYMENT_CREATED'], m.key)
      await createPayment(m.key)
      await dispatchWebhookEvents(app.ctx)
      const [d] = await app.ctx.db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.merchantId, m.id))
      // a worker claimed it and died before recording anything
      await app.ctx.db
        .update(webhookDeliveries)
        .set({ lockedUntil: new Date(Date.now() + 300) })
        .where(eq(webhookDeliveries.id, d!.id))
      expect((await attemptDelivery(app.ctx, d!.id)).kind).toBe('skipped')
      await Bun.sleep(350)
      stopWorkers = await startWorkers(app.ctx)
      await waitFor('sent after the claim expired', () => r.received.length >= 1, 10_000)
    } finally {
      stopWorkers ??= await startWorkers(app.ctx)
    }
  }, 20_000)

  test('behavior: pending deliveries need nothing from Redis: after it loses every job they are still delivered', async () => {
    const r = newReceiver()
    const m = await app.merchant('Flushed')
    await stopWorkers?.()
    stopWorkers = undefined
    try {
      await addEndpoint(r.url, ['PAYMENT_CREATED'], m.key)
      await createPayment(m.key)
      await createPayment(m.key)
      expect((await dispatchWebhookEvents(app.ctx)).length).toBeGreaterThanOrEqual(2)
      await clearRedisPrefix(app.ctx.env.REDIS_URL, app.ctx.env.REDIS_PREFIX)
      stopWorkers = await startWorkers(app.ctx)
      await waitFor('delivered after the flush', () => r.received.length >= 2, 10_000)
    } finally {
      stopWorkers ??= await startWorkers(app.ctx)
    }
  }, 20_000)

  test('behavior: during a rotation both secrets verify', async () => {
    const r = newReceiver()
    const m = await app.merchant('Rotate')
    const created = await addEndpoint(r.url, ['PAYMENT_CREATED'], m.key)
    const rotated = await app.gql(
      `mutation ($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 3600) { ... on WebhookEndpointWithSecret { secret } } }`,
      { id: created.endpoint.id },
      m.key,
    )
    const next = rotated.data.rotateWebhookSecret.secret
    expect(next).not.toBe(created.secret)
    await createPayment(m.key)
    await waitFor('delivery', () => r.received.length >= 1, 10_000)
    const { body, headers } = r.received[0]!
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2)
    expect((new Webhook(next).verify(body, headers) as any).type).toBe('payment.created')
    expect((new Webhook(created.secret).verify(body, headers) as any).type).toBe('payment.created')
  })
})

describe('endpoints', () => {
  test('default: list, update and delete, scoped to the merchant', async () => {
    const m = await app.merchant('Manage')
    const created = await addEndpoint('http://127.0.0.1:9/a', ['PAYMENT_COMPLETED'], m.key)
    const id = created.endpoint.id
    const updated = await app.gql(
      `mutation ($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: false, events: [PAYMENT_REVERTED]}) {
        ... on WebhookEndpoint { enabled events } } }`,
      { id },
      m.key,
    )
    expect(updated.data.updateWebhookEndpoint).toEqual({ enabled: false, events: ['PAYMENT_REVERTED'] })
    const other = await app.merchant('Other')
    const stolen = await app.gql(
      `mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) { __typename ... on UserError { code } } }`,
      { id },
      other.key,
    )
    expect(stolen.data.deleteWebhookEndpoint).toEqual({ __typename: 'UserError', code: 'NOT_FOUND' })
    expect((await app.gql('{ webhookEndpoints { id } }', {}, other.key)).data.webhookEndpoints).toEqual([])
    const deleted = await app.gql(
      `mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) { __typename } }`,
      { id },
      m.key,
    )
    expect(deleted.data.deleteWebhookEndpoint.__typename).toBe('WebhookEndpointDeleted')
    expect((await app.gql('{ webhookEndpoints { id } }', {}, m.key)).data.webhookEndpoints).toEqual([])
  })

  test('error: hostile URLs are refused with typed errors and nothing is stored', async () => {
    const strict = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'false' } })
    try {
      const m = await strict.merchant()
      const cases: Array<[string, string]> = [
        ['http://127.0.0.1/x', 'URL_NOT_ALLOWED'],
        ['http://localhost:8080/x', 'URL_NOT_ALLOWED'],
        ['http://10.1.2.3/x', 'URL_NOT_ALLOWED'],
        ['http://172.20.0.1/x', 'URL_NOT_ALLOWED'],
        ['http://192.168.1.1/x', 'URL_NOT_ALLOWED'],
        ['http://169.254.169.254/latest/meta-data', 'URL_NOT_ALLOWED'],
        ['http://100.64.0.1/x', 'URL_NOT_ALLOWED'],
        ['http://[::1]/x', 'URL_NOT_ALLOWED'],
        ['http://[fd00::1]/x', 'URL_NOT_ALLOWED'],
        ['http://[::ffff:127.0.0.1]/x', 'URL_NOT_ALLOWED'],
        ['http://0.0.0.0/x', 'URL_NOT_ALLOWED'],
        ['ftp://example.com/x', 'INVALID_INPUT'],
        ['http://user:pw@example.com/x', 'INVALID_INPUT'],
        ['not a url', 'INVALID_INPUT'],
        [`https://example.com/${'a'.repeat(2100)}`, 'INVALID_INPUT'],
      ]
      for (const [url, code] of cases) {
        const res = await strict.gql(
          `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { ... on UserError { code field } } }`,
          { input: { url, events: ['PAYMENT_CREATED'] } },
          m.key,
        )
        expect([url, res.data.createWebhookEndpoint]).toEqual([url, { code, field: 'url' }])
      }
      const bad = await strict.gql(
        `mutation { createWebhookEndpoint(input: {url: "http://127.0.0.1/x", events: []}) { ... on UserError { code field } } }`,
        {},
        m.key,
      )
      expect(bad.data.createWebhookEndpoint).toEqual({ code: 'INVALID_INPUT', field: 'events' })
      expect(await strict.ctx.db.select().from(webhookEndpoints)).toEqual([])
    } finally {
      await strict.close()
    }
  })

  test('error: managing webhooks needs the webhooks:write scope', async () => {
    const m = await app.merchant('Scoped')
    const ro = await app.gql(
      `mutation { createApiKey(name: "ro", scopes: [PAYMENTS_READ]) { ... on ApiKeyCreated { key } } }`,
      {},
      m.key,
    )
    const res = await addEndpoint(
      'http://127.0.0.1:9/x',
      ['PAYMENT_CREATED'],
      ro.data.createApiKey.key,
    ).catch(() => null)
    expect(res).toBeNull()
  })
})
