import { afterEach, expect, test } from 'bun:test'
import { Worker } from 'bullmq'
import { eq } from 'drizzle-orm'
import pino from 'pino'
import { parseEther } from 'viem'
import { createContext } from '../../src/context.ts'
import { createMerchant } from '../../src/core/access/merchants.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { payments } from '../../src/db/schema/index.ts'
import { parseEnv } from '../../src/env.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import type { PaymentSignal } from '../../src/pubsub.ts'
import { bullConnection, type ChainJob, createQueues, queueNames } from '../../src/queues.ts'
import { createHttpHandler } from '../../src/server.ts'
import { testConfig } from '../helpers/app.ts'
import { gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { waitFor } from '../helpers/processes.ts'
import { redisCommand, type SentinelSet, startSentinelSet } from '../helpers/sentinel.ts'

// REDIS_URL=redis+sentinel://…: every Redis client of the gateway asks a Sentinel for the master, and again after
// a failover. Each test has a master, a replica and a sentinel of its own, and fails the master over mid-run.
const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 20_000)

async function sentinelSet(): Promise<SentinelSet> {
  const set = await startSentinelSet()
  cleanups.push(() => set.stop())
  return set
}

function connection(url: string) {
  const c = bullConnection(url)
  cleanups.push(() => c.disconnect())
  return c
}

/** The port of the Redis node `client` talks to. */
const portOf = async (client: ReturnType<typeof bullConnection>) =>
  Number(/tcp_port:(\d+)/.exec(await client.info('server'))?.[1])

test('behavior: BullMQ queues and workers over Sentinel run every job once, before and after the master fails over', async () => {
  const set = await sentinelSet()
  const firstMaster = await set.masterPort()
  const prefix = `sentinel-${crypto.randomUUID().slice(0, 8)}`
  const producer = connection(set.url)
  const queues = createQueues(producer, prefix)
  cleanups.push(() => Promise.all(Object.values(queues).map((q) => q.close())))
  const runs = new Map<string, number>()
  const worker = new Worker<ChainJob>(
    queueNames.scan,
    async (job) => {
      runs.set(job.data.chain, (runs.get(job.data.chain) ?? 0) + 1)
    },
    { connection: connection(set.url), prefix },
  ).on('error', () => {})
  cleanups.push(() => worker.close(true))
  const add = (names: string[]) =>
    Promise.all(names.map((chain) => queues.scan.add('scan', { chain }, { jobId: chain })))

  const before = ['a1', 'a2', 'a3', 'a4', 'a5']
  await add(before)
  await waitFor('the first jobs run', () => before.every((n) => runs.has(n)), 10_000)

  const newMaster = await set.failover()
  expect(newMaster).not.toBe(firstMaster)
  // the connection follows the sentinel's announcement within moments (until the old master is demoted, what a
  // client still writes there is lost with it: Redis holds nothing the database cannot rebuild)
  await waitFor(
    'the queue connection on the new master',
    async () => (await portOf(producer)) === newMaster,
    5_000,
  )
  // added after the switch: they land on the new master, and the same worker runs them
  const after = ['b1', 'b2', 'b3', 'b4', 'b5']
  await add(after)
  await waitFor('the jobs added after the failover run', () => after.every((n) => runs.has(n)), 15_000)
  expect([...runs.values()].every((n) => n === 1)).toBe(true)
  expect([...runs.keys()].sort()).toEqual([...before, ...after])
  expect(await redisCommand(newMaster, 'exists', `${prefix}:${queueNames.scan}:b1`)).toBe(1)
}, 40_000)

test('behavior: the gateway (API context and every worker) over Sentinel carries on through a failover: scan jobs keep completing, a payment made after it completes and its live signal arrives, writes reach the new master', async () => {
  const set = await sentinelSet()
  const [devnet, testDb] = await Promise.all([startDevnet(), createTestDatabase()])
  cleanups.push(
    () => devnet.stop(),
    () => testDb.drop(),
  )
  const prefix = `sentinel-${crypto.randomUUID().slice(0, 8)}`
  const env = parseEnv({
    TOLLGATE_ENV: 'test',
    DATABASE_URL: testDb.url,
    REDIS_URL: set.url,
    REDIS_PREFIX: prefix,
    ADDRESS_POOL_SIZE: '10',
    TOLLGATE_SEED: gatewayMnemonic,
  })
  const ctx = await createContext(env, pino({ level: 'silent' }), {
    role: 'all',
    config: testConfig(
      devnet.url,
      { confirmations: 1 },
      { payouts: { mode: 'none' }, sweeps: { enabled: false } },
    ),
  })
  cleanups.push(() => ctx.close())
  const stopWorkers = await startWorkers(ctx)
  cleanups.push(() => stopWorkers())
  const miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
  cleanups.push(() => clearInterval(miner))
  const { handle } = createHttpHandler(ctx)
  const { merchant } = await createMerchant(ctx, { name: 'Sentinel shop' })
  const completedScans = (port: number) =>
    redisCommand(port, 'zcard', `${prefix}:${queueNames.scan}:completed`).then(Number)

  /** A payment paid on the devnet: resolves once it is COMPLETED and the API's subscription got its signal. */
  const paid = async () => {
    const { payment } = await createPayment(ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
    const signals: PaymentSignal[] = []
    const stream = ctx.bus.payment(payment.id)[Symbol.asyncIterator]()
    const listening = (async () => {
      for (;;) {
        const next = await stream.next()
        if (next.done) return
        signals.push(next.value as PaymentSignal)
      }
    })()
    // the subscription is made on the subscribing connection before the money moves
    await Bun.sleep(100)
    await devnet.payNative(payment.address, parseEther('1'))
    await waitFor(
      'the payment COMPLETED and its signal received',
      async () => {
        const [row] = await ctx.db.select().from(payments).where(eq(payments.id, payment.id))
        return row?.status === 'COMPLETED' && signals.some((s) => s.type === 'payment.completed')
      },
      15_000,
    )
    await stream.return?.()
    await listening
  }

  const firstMaster = await set.masterPort()
  await paid()
  await waitFor(
    'scan jobs completed on the first master',
    async () => (await completedScans(firstMaster)) > 0,
    10_000,
  )

  const newMaster = await set.failover()
  // the old master is a replica now: a write there would fail with READONLY; the client follows the sentinel
  await waitFor(
    'a write through the API context reaching the new master',
    async () => {
      const ok = await ctx.redis.set(`${prefix}:probe`, 'after').then(
        () => true,
        () => false,
      )
      return ok && (await redisCommand(newMaster, 'get', `${prefix}:probe`)) === 'after'
    },
    15_000,
  )
  const completedBefore = await completedScans(newMaster)
  await paid()
  await waitFor(
    'scan jobs completing on the new master',
    async () => (await completedScans(newMaster)) > completedBefore,
    10_000,
  )
  const ready = await (await handle(new Request('http://tollgate.test/readyz'))).json()
  expect(ready.checks.find((c: { name: string }) => c.name === 'redis')).toMatchObject({ ok: true })
}, 40_000)
