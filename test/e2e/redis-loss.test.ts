import { afterAll, beforeAll, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { Redis } from 'ioredis'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createPayment } from '../../src/core/payments/create.ts'
import { requestWithdrawal } from '../../src/core/payouts/withdrawals.ts'
import { payments, webhookDeliveries, withdrawals } from '../../src/db/schema/index.ts'
import { chainSchedulers, keepSchedulers } from '../../src/jobs/index.ts'
import { createPaymentBus } from '../../src/pubsub.ts'
import { bullConnection, createQueues } from '../../src/queues.ts'
import type { TestApp } from '../helpers/app.ts'
import { type Devnet, freePort, startDevnet } from '../helpers/chain.ts'
import { startOutageScene } from '../helpers/outage.ts'
import { waitFor } from '../helpers/processes.ts'
import { type OwnRedis, startOwnRedis } from '../helpers/redis.ts'

// Redis holds only the queues, the job schedulers and pub/sub; the database holds every piece of work. This file
// kills a Redis of its own mid-run and brings it back empty, with every process of the gateway still running.
let redis: OwnRedis
let devnet: Devnet
let app: TestApp
let scene: Awaited<ReturnType<typeof startOutageScene>> | undefined
let received: Map<string, number>

beforeAll(async () => {
  ;[redis, devnet] = await Promise.all([freePort().then(startOwnRedis), startDevnet()])
  scene = await startOutageScene(devnet, { REDIS_URL: redis.url })
  ;({ app, received } = scene)
}, 30_000)

afterAll(async () => {
  await scene?.stop()
  await devnet?.stop()
  await redis?.stop()
}, 20_000)

const paymentStatus = (id: string) => scene!.paymentStatus(id)

test('behavior: Redis killed and restarted empty mid-run: payment completed, overdue one expired, withdrawal confirmed, each webhook event delivered once, nothing restarted', async () => {
  // a balance to withdraw from, and a funded treasury to send it
  const merchant = await scene!.fundedMerchant('Redis loss shop')
  const toPay = await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
  const toExpire = await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })

  await redis.kill()
  // while Redis is away: money arrives, a deadline passes, a withdrawal is requested (all in the database)
  await devnet.payNative(toPay.payment.address, parseEther('1'))
  await app.ctx.db
    .update(payments)
    .set({ expiresAt: new Date(Date.now() - 1000) })
    .where(eq(payments.id, toExpire.payment.id))
  const to = privateKeyToAccount(`0x${'5'.repeat(64)}` as Hex).address
  const { withdrawal } = await requestWithdrawal(app.ctx, merchant.id, {
    chain: 'devnet',
    asset: 'ETH',
    to,
    amount: '0.5',
    idempotencyKey: 'redis-loss',
  })
  await Bun.sleep(1500)
  await redis.restart()

  await waitFor(
    'payment COMPLETED, the overdue one EXPIRED, the withdrawal CONFIRMED',
    async () => {
      const [w] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, withdrawal.id))
      return (
        (await paymentStatus(toPay.payment.id)) === 'COMPLETED' &&
        (await paymentStatus(toExpire.payment.id)) === 'EXPIRED' &&
        w?.status === 'CONFIRMED'
      )
    },
    20_000,
  )
  expect(await devnet.client.getBalance({ address: to })).toBe(parseEther('0.5'))
  const deliveries = () =>
    app.ctx.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.merchantId, merchant.id))
  await waitFor(
    'every webhook delivered',
    async () => {
      const all = await deliveries()
      return (
        all.some((d) => d.eventType === 'withdrawal.confirmed') && all.every((d) => d.status === 'succeeded')
      )
    },
    20_000,
  )
  const all = await deliveries()
  const types = all.map((d) => d.eventType)
  for (const type of ['payment.completed', 'payment.expired', 'withdrawal.confirmed'])
    expect(types).toContain(type)
  // once per event id: the receiver saw each exactly once, and nothing else
  expect([...received.keys()].sort()).toEqual(all.map((d) => d.eventId).sort())
  expect([...received.values()].every((n) => n === 1)).toBe(true)
  // nothing doubled: one withdrawal, sent once
  // the outage was reported at warn, once per queue rather than once per reconnect attempt
  const lost = app.logs.filter((l) => l.msg === 'worker lost Redis; it reconnects and carries on')
  expect(lost.length).toBeGreaterThan(0)
  expect(new Set(lost.map((l) => l.queue)).size).toBe(lost.length)
  expect(app.logs.some((l) => l.msg === 'missing recurring job schedulers re-created')).toBe(true)
  const sent = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.merchantId, merchant.id))
  expect(sent.length).toBe(1)
}, 30_000)

test('behavior: a live subscription survives Redis restarted empty: signals published while it is away are dropped without an error, later ones arrive', async () => {
  const warnings: unknown[] = []
  const prefix = `bus-${crypto.randomUUID().slice(0, 8)}`
  const publisher = createPaymentBus(redis.url, prefix, { warn: (...args: unknown[]) => warnings.push(args) })
  const listener = createPaymentBus(redis.url, prefix, { warn: () => {} })
  const subscription = listener.merchant('m1')[Symbol.asyncIterator]()
  const change = (seq: number) => ({ paymentId: 'p1', merchantId: 'm1', seq, type: 'payment.processing' })
  try {
    const first = subscription.next()
    await waitFor('the subscription to reach Redis', async () => {
      publisher.publish([change(1)])
      return (await Promise.race([first, Bun.sleep(100).then(() => undefined)]))?.value
    })
    await redis.kill()
    publisher.publish([change(2)]) // lost, and only logged
    await waitFor('the lost signal to be reported', () => warnings.length > 0)
    await redis.restart()
    const next = subscription.next()
    const got = await waitFor('a signal after the restart', async () => {
      publisher.publish([change(3)])
      return (await Promise.race([next, Bun.sleep(100).then(() => undefined)]))?.value
    })
    expect(got).toEqual({ paymentId: 'p1', seq: 3, type: 'payment.processing' })
  } finally {
    await subscription.return?.()
    publisher.close()
    listener.close()
  }
}, 30_000)

test('behavior: Redis flushed without a reconnect: the periodic check re-creates every missing scheduler, and one that exists is left as it is', async () => {
  const connection = bullConnection(redis.url)
  const queues = createQueues(connection, `flush-${crypto.randomUUID().slice(0, 8)}`)
  const specs = chainSchedulers(app.ctx, queues)
  const stop = await keepSchedulers(app.ctx, connection, specs, 200)
  const present = async () =>
    (await Promise.all(specs.map((s) => s.queue.getJobScheduler(s.id)))).filter(Boolean).length
  try {
    expect(await present()).toBe(specs.length)
    const before = await queues.expire.getJobScheduler('expire')
    const admin = new Redis(redis.url)
    await admin.flushall()
    admin.disconnect()
    await waitFor('every scheduler back', async () => (await present()) === specs.length)
    expect(specs.map((s) => s.id)).toEqual(
      expect.arrayContaining(['scan:devnet', 'address-pool:devnet', 'reconcile:devnet', 'expire']),
    )
    // an existing scheduler is not upserted again by the check (that would re-plan its next run)
    const again = await queues.expire.getJobScheduler('expire')
    await Bun.sleep(500)
    expect((await queues.expire.getJobScheduler('expire'))?.next).toBe(again?.next)
    expect(before?.every).toBe(again?.every)
  } finally {
    stop()
    await Promise.all(Object.values(queues).map((q) => q.close()))
    connection.disconnect()
  }
}, 20_000)
