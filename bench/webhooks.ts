// Webhook throughput and latency: payment events → signed deliveries to a local receiver, through the real
// pipeline (outbox dispatch, the delivery pump, HTTP), against a ceiling measured in the same run: a bare loop that
// signs, POSTs over kept-alive connections and records one UPDATE per delivery, 16 in flight.
import { eq, inArray, sql } from 'drizzle-orm'
import { createPayment } from '../src/core/payments/create.ts'
import { createWebhookEndpoint } from '../src/core/webhooks/endpoints.ts'
import { signWebhook } from '../src/core/webhooks/signing.ts'
import { paymentEvents, webhookDeliveries } from '../src/db/schema/index.ts'
import { startDeliveryPump } from '../src/jobs/webhook-pump.ts'
import { createTestApp } from '../test/helpers/app.ts'
import { fmt, percentile, report, table } from './lib.ts'

const events = Number(process.env.BENCH_EVENTS ?? 4000)
const inFlight = 16
const app = await createTestApp({
  env: { WEBHOOK_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'warn', ADDRESS_POOL_SIZE: String(events + 100) },
})
const received: number[] = []
const receiver = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(req) {
    await req.text()
    received.push(Date.now())
    return new Response('ok')
  },
})
const url = `http://127.0.0.1:${receiver.port}/`
const merchant = await app.merchant('Bench')
const { secret } = await createWebhookEndpoint(app.ctx, merchant.id, { url, events: ['payment.created'] })
// the events exist before the pipeline starts, as after an outage: this measures how fast it drains
for (let i = 0; i < events; i++)
  await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })

async function gatewayDrain() {
  const from = received.length
  const t0 = performance.now()
  const pump = startDeliveryPump(app.ctx)
  while (received.length - from < events) await Bun.sleep(5)
  const seconds = (performance.now() - t0) / 1000
  // recorded too, not only received
  while (
    (
      await app.ctx.db
        .select({ n: sql<number>`count(*)`.mapWith(Number) })
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.status, 'pending'))
    )[0]!.n > 0
  )
    await Bun.sleep(5)
  await pump.stop()
  return { perSecond: events / seconds, recordedPerSecond: events / ((performance.now() - t0) / 1000) }
}

/** The ceiling: the same deliveries, read once, each signed, POSTed (fetch keeps connections alive) and recorded. */
async function bareLoop() {
  const rows = await app.ctx.db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.merchantId, merchant.id))
  await app.ctx.db
    .update(webhookDeliveries)
    .set({ status: 'pending' })
    .where(
      inArray(
        webhookDeliveries.id,
        rows.map((r) => r.id),
      ),
    )
  let next = 0
  const t0 = performance.now()
  const lane = async () => {
    for (let i = next++; i < rows.length; i = next++) {
      const row = rows[i]!
      const body = JSON.stringify(row.payload)
      const headers = signWebhook({
        id: row.eventId,
        timestamp: Math.floor(Date.now() / 1000),
        body,
        secrets: [secret],
      })
      const answer = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      })
      await answer.text()
      await app.ctx.db
        .update(webhookDeliveries)
        .set({ status: 'succeeded', lastStatusCode: answer.status, deliveredAt: new Date(), attempts: 1 })
        .where(eq(webhookDeliveries.id, row.id))
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  return rows.length / ((performance.now() - t0) / 1000)
}

const gateway = await gatewayDrain()
const ceiling = await bareLoop()

// latency: one event at a time, from the committed event to the receiver, with the pump poked as the worker
// pokes it after its own status changes
const pump = startDeliveryPump(app.ctx)
const latencies: number[] = []
for (let i = 0; i < 200; i++) {
  const before = received.length
  const { payment } = await createPayment(app.ctx, merchant.id, {
    chain: 'devnet',
    asset: 'ETH',
    amount: '1',
  })
  const [event] = await app.ctx.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, payment.id))
  pump.poke()
  while (received.length === before) await Bun.sleep(1)
  latencies.push((received.at(-1) as number) - event!.createdAt.getTime())
}
await pump.stop()
latencies.sort((a, b) => a - b)

report(
  'Webhooks (bench/webhooks.ts)',
  `${table(
    ['measure', 'value'],
    [
      [`ceiling: bare sign + POST + UPDATE loop, ${inFlight} in flight, deliveries/s`, fmt(ceiling, 0)],
      [`gateway: drain ${events} queued events → deliveries/s (received)`, fmt(gateway.perSecond, 0)],
      ['gateway: the same, until every attempt is recorded', fmt(gateway.recordedPerSecond, 0)],
      ['gateway ÷ ceiling', fmt(gateway.recordedPerSecond / ceiling, 2)],
      ['event committed → received, p50 ms', fmt(percentile(latencies, 50))],
      ['event committed → received, p99 ms', fmt(percentile(latencies, 99))],
    ],
  )}

Local receiver answering 200 at once. The gateway's drain includes dispatching the outbox into deliveries; each
delivery is claimed (in batches), checked against the URL guard, signed (HMAC-SHA256), POSTed over a kept-alive
connection pinned to the checked address, and its attempt recorded (a batch per transaction). The ceiling does
only the signing, the POST and one UPDATE per delivery. Latency is measured with the pump poked right after the
event, as the worker does after its own status changes.`,
)
receiver.stop(true)
await app.close()
process.exit(0)
