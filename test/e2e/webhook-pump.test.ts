import { afterAll, beforeAll, expect, test } from 'bun:test'
import { and, eq, isNotNull, sql } from 'drizzle-orm'
import { Webhook } from 'standardwebhooks'
import { createPayment } from '../../src/core/payments/create.ts'
import { createWebhookEndpoint } from '../../src/core/webhooks/endpoints.ts'
import { webhookAttempts, webhookDeliveries } from '../../src/db/schema/index.ts'
import { startDeliveryPump } from '../../src/jobs/webhook-pump.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { waitFor } from '../helpers/processes.ts'

let app: TestApp
const servers: Array<ReturnType<typeof Bun.serve>> = []

/** A receiver recording every webhook id it gets; `answer` decides the status per request. */
function receiver(answer: (n: number) => number | Promise<number> = () => 200) {
  const ids: string[] = []
  const bodies: Array<{ body: string; headers: Record<string, string> }> = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const body = await req.text()
      ids.push(req.headers.get('webhook-id') ?? '')
      bodies.push({ body, headers: Object.fromEntries(req.headers) })
      return new Response('ok', { status: await answer(ids.length) })
    },
  })
  servers.push(server)
  return { url: `http://127.0.0.1:${server.port}/hooks`, ids, bodies }
}

beforeAll(async () => {
  app = await createTestApp({
    env: {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_SCHEDULE: '100ms,100ms',
      WEBHOOK_TIMEOUT_MS: '2000',
      ADDRESS_POOL_SIZE: '400',
    },
  })
})
afterAll(async () => {
  for (const s of servers) s.stop(true)
  await app.close()
})

const deliveriesOf = (merchantId: string) =>
  app.ctx.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.merchantId, merchantId))

test('default: two pumps side by side (as two worker processes) deliver every event exactly once, signed, and record it', async () => {
  const r = receiver()
  const merchant = await app.merchant('Two pumps')
  const { secret } = await createWebhookEndpoint(app.ctx, merchant.id, {
    url: r.url,
    events: ['payment.created'],
  })
  for (let i = 0; i < 300; i++)
    await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
  const pumps = [startDeliveryPump(app.ctx, { lanes: 8 }), startDeliveryPump(app.ctx, { lanes: 8 })]
  try {
    await waitFor('all recorded', async () => {
      const rows = await deliveriesOf(merchant.id)
      return rows.length === 300 && rows.every((d) => d.status === 'succeeded')
    })
  } finally {
    await Promise.all(pumps.map((p) => p.stop()))
  }
  const rows = await deliveriesOf(merchant.id)
  expect(r.ids.length).toBe(300)
  expect(new Set(r.ids)).toEqual(new Set(rows.map((d) => d.eventId)))
  for (const d of rows) expect(d).toMatchObject({ attempts: 1, lastStatusCode: 200, lockedUntil: null })
  const [attempts] = await app.ctx.db
    .select({ n: sql<number>`count(*)`.mapWith(Number) })
    .from(webhookAttempts)
    .innerJoin(webhookDeliveries, eq(webhookDeliveries.id, webhookAttempts.deliveryId))
    .where(eq(webhookDeliveries.merchantId, merchant.id))
  expect(attempts!.n).toBe(300)
  for (const b of r.bodies.slice(0, 20)) expect(new Webhook(secret).verify(b.body, b.headers)).toBeTruthy()
}, 30_000)

test('behavior: a failed attempt is retried when due from the database alone, and the retry succeeds', async () => {
  // the first two requests fail, then the receiver recovers
  const r = receiver((n) => (n <= 2 ? 503 : 200))
  const merchant = await app.merchant('Retried')
  await createWebhookEndpoint(app.ctx, merchant.id, { url: r.url, events: ['payment.created'] })
  await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
  const pump = startDeliveryPump(app.ctx, { idleMs: 50 })
  try {
    await waitFor('delivered on the third attempt', async () => {
      const [d] = await deliveriesOf(merchant.id)
      return d?.status === 'succeeded'
    })
  } finally {
    await pump.stop()
  }
  const [d] = await deliveriesOf(merchant.id)
  expect(d).toMatchObject({ attempts: 3, lastStatusCode: 200 })
  expect(r.ids).toHaveLength(3)
  expect(new Set(r.ids).size).toBe(1)
  const log = await app.ctx.db
    .select()
    .from(webhookAttempts)
    .where(eq(webhookAttempts.deliveryId, d!.id))
    .orderBy(webhookAttempts.id)
  expect(log.map((a) => [a.attempt, a.statusCode])).toEqual([
    [1, 503],
    [2, 503],
    [3, 200],
  ])
}, 20_000)

test('behavior: a stopping pump finishes the attempts under way and hands its unsent claims back at once', async () => {
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  // the receiver holds the first request until the pump is stopping
  const r = receiver(async (n) => {
    if (n === 1) await held
    return 200
  })
  const merchant = await app.merchant('Stopping')
  await createWebhookEndpoint(app.ctx, merchant.id, { url: r.url, events: ['payment.created'] })
  for (let i = 0; i < 5; i++)
    await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
  const pump = startDeliveryPump(app.ctx, { lanes: 1, perEndpoint: 2 })
  await waitFor('first request held', () => r.ids.length === 1)
  const claimed = await app.ctx.db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.merchantId, merchant.id), isNotNull(webhookDeliveries.lockedUntil)))
  // one in flight, one claimed ahead (a pump claims up to twice its lanes)
  expect(claimed.length).toBe(2)
  const stopping = pump.stop()
  release()
  await stopping
  const rows = await deliveriesOf(merchant.id)
  expect(rows.filter((d) => d.status === 'succeeded')).toHaveLength(1)
  expect(rows.filter((d) => d.status === 'pending')).toHaveLength(4)
  // nothing is left claimed: another worker can take the rest right away
  for (const d of rows) expect(d.lockedUntil).toBeNull()
  expect(r.ids).toHaveLength(1)
}, 20_000)

test('behavior: a receiver that hangs holds its share of the lanes and no more; other merchants are delivered meanwhile', async () => {
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  let hangingNow = 0
  let mostAtOnce = 0
  const hanging = receiver(async () => {
    hangingNow++
    mostAtOnce = Math.max(mostAtOnce, hangingNow)
    await held
    hangingNow--
    return 200
  })
  const prompt = receiver()
  const slowShop = await app.merchant('Hanging receiver')
  const otherShop = await app.merchant('Prompt receiver')
  await createWebhookEndpoint(app.ctx, slowShop.id, { url: hanging.url, events: ['payment.created'] })
  await createWebhookEndpoint(app.ctx, otherShop.id, { url: prompt.url, events: ['payment.created'] })
  // the hanging receiver's backlog is older than the other merchant's events
  for (let i = 0; i < 30; i++)
    await createPayment(app.ctx, slowShop.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
  for (let i = 0; i < 5; i++)
    await createPayment(app.ctx, otherShop.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
  // patient enough that no request times out while the test holds them
  const patient = { ...app.ctx, webhooks: { ...app.ctx.webhooks, timeoutMs: 15_000 } }
  const pump = startDeliveryPump(patient, { lanes: 8, perEndpoint: 2 })
  try {
    await waitFor('the other merchant delivered', () => prompt.ids.length === 5)
    expect(hanging.ids.length).toBe(2)
    expect(mostAtOnce).toBe(2)
    release()
    await waitFor('the backlog delivered once released', async () => {
      const rows = await deliveriesOf(slowShop.id)
      return rows.length === 30 && rows.every((d) => d.status === 'succeeded')
    })
  } finally {
    release()
    await pump.stop()
  }
  expect(mostAtOnce).toBe(2)
  expect(new Set(hanging.ids).size).toBe(30)
}, 20_000)
