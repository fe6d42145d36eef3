// Webhook throughput and latency: payment events → signed deliveries to a local receiver, through the real
// pipeline (outbox dispatch, BullMQ delivery jobs, HTTP), with the worker in this process.
import { eq, sql } from 'drizzle-orm'
import { createPayment } from '../src/core/payments/create.ts'
import { paymentEvents, webhookDeliveries } from '../src/db/schema/index.ts'
import { startWorkers } from '../src/jobs/index.ts'
import { processDispatch } from '../src/jobs/webhooks.ts'
import { createTestApp } from '../test/helpers/app.ts'
import { fmt, percentile, report, table } from './lib.ts'

const events = Number(process.env.BENCH_EVENTS ?? 2000)
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
const merchant = await app.merchant('Bench')
const { createWebhookEndpoint } = await import('../src/core/webhooks/endpoints.ts')
await createWebhookEndpoint(app.ctx, merchant.id, {
  url: `http://127.0.0.1:${receiver.port}/`,
  events: ['payment.created'],
})
// the events exist before the pipeline starts, as after an outage: this measures how fast it drains
for (let i = 0; i < events; i++)
  await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
const stop = await startWorkers(app.ctx)
const t0 = Date.now()
await processDispatch(app.ctx, app.ctx.queues)
while (received.length < events) await Bun.sleep(20)
const drainSeconds = (Date.now() - t0) / 1000

// latency: one event at a time, from the committed event to the receiver
const latencies: number[] = []
for (let i = 0; i < 100; i++) {
  const before = received.length
  const { payment } = await createPayment(app.ctx, merchant.id, {
    chain: 'devnet',
    asset: 'ETH',
    amount: '1',
  })
  const [event] = await app.ctx.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, payment.id))
  // a status change made by the worker triggers dispatch at once; creations wait for the 1 s tick otherwise
  processDispatch(app.ctx, app.ctx.queues)
  while (received.length === before) await Bun.sleep(1)
  latencies.push((received.at(-1) as number) - event!.createdAt.getTime())
}
latencies.sort((a, b) => a - b)
const [stats] = await app.ctx.db
  .select({ n: sql<number>`count(*)`.mapWith(Number) })
  .from(webhookDeliveries)
  .where(eq(webhookDeliveries.status, 'succeeded'))

report(
  'Webhooks (bench/webhooks.ts)',
  `${table(
    ['measure', 'value'],
    [
      [`drain ${events} queued events → deliveries/s`, fmt(events / drainSeconds, 0)],
      ['event committed → received, p50 ms', fmt(percentile(latencies, 50))],
      ['event committed → received, p99 ms', fmt(percentile(latencies, 99))],
      ['deliveries recorded as succeeded', stats!.n],
    ],
  )}

Local receiver answering 200 at once; 16 deliveries in flight; each delivery is claimed, signed (HMAC-SHA256),
POSTed, and its attempt recorded. Latency is measured with dispatch triggered right after the event, as the
worker does after its own status changes.`,
)
await stop()
receiver.stop(true)
await app.close()
process.exit(0)
