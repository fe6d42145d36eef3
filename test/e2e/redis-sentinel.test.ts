import { afterEach, expect, test } from 'bun:test'
import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import pino from 'pino'
import { createContext } from '../../src/context.ts'
import { parseEnv } from '../../src/env.ts'
import { createPaymentBus, type PaymentSignal } from '../../src/pubsub.ts'
import { type ChainJob, createQueues, queueNames } from '../../src/queues.ts'
import { redisOptions } from '../../src/redis-options.ts'
import { createHttpHandler } from '../../src/server.ts'
import { testConfig } from '../helpers/app.ts'
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

/** What `bullConnection` makes from REDIS_URL: BullMQ wants `maxRetriesPerRequest: null`. */
function bullConnection(url: string): Redis {
  const connection = new Redis({ ...redisOptions(url), maxRetriesPerRequest: null })
  connection.on('error', () => {})
  cleanups.push(() => connection.disconnect())
  return connection
}

test('behavior: BullMQ queues and workers over Sentinel run every job once, before and after the master fails over', async () => {
  const set = await sentinelSet()
  const firstMaster = await set.masterPort()
  const prefix = `sentinel-${crypto.randomUUID().slice(0, 8)}`
  const connection = bullConnection(set.url)
  const queues = createQueues(connection, prefix)
  cleanups.push(() => Promise.all(Object.values(queues).map((q) => q.close())))
  const runs = new Map<string, number>()
  const worker = new Worker<ChainJob>(
    queueNames.scan,
    async (job) => {
      runs.set(job.data.chain, (runs.get(job.data.chain) ?? 0) + 1)
    },
    { connection: bullConnection(set.url), prefix },
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
    async () => (await connection.info('server')).includes(`tcp_port:${newMaster}\r`),
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

test('behavior: an API context over Sentinel (Redis client, pub/sub bus) keeps serving through a failover: writes reach the new master, live signals flow again', async () => {
  const set = await sentinelSet()
  const testDb = await createTestDatabase()
  cleanups.push(() => testDb.drop())
  const prefix = `sentinel-${crypto.randomUUID().slice(0, 8)}`
  const env = parseEnv({
    TOLLGATE_ENV: 'test',
    DATABASE_URL: testDb.url,
    REDIS_URL: set.url,
    REDIS_PREFIX: prefix,
    ADDRESS_POOL_SIZE: '5',
    TOLLGATE_SEED: 'test test test test test test test test test test test junk',
  })
  const ctx = await createContext(env, pino({ level: 'silent' }), { role: 'api', config: testConfig() })
  cleanups.push(() => ctx.close())
  const { handle } = createHttpHandler(ctx)
  // the worker's side of the bus: it publishes payment signals that the API's subscribers receive
  const workerBus = createPaymentBus(set.url, prefix, { warn: () => {} })
  cleanups.push(() => workerBus.close())

  const ready = async () => {
    const body = await (await handle(new Request('http://tollgate.test/readyz'))).json()
    return body.checks.find((c: { name: string }) => c.name === 'redis')?.ok === true
  }
  /** Publishes signal `seq` until the API's subscription yields it (a signal sent while switching is lost). */
  const signalFlows = async (seq: number) => {
    const stream = ctx.bus.payment('pay_sentinel')[Symbol.asyncIterator]()
    const next = stream.next() as Promise<IteratorResult<PaymentSignal>>
    let got: PaymentSignal | undefined
    next.then((r) => {
      got = r.value
    })
    await waitFor(
      `signal ${seq} through the API's subscription`,
      () => {
        if (got) return true
        workerBus.publish([
          { paymentId: 'pay_sentinel', merchantId: 'mer_sentinel', seq, type: 'payment.updated' },
        ])
        return false
      },
      10_000,
    )
    await stream.return?.()
    return got
  }

  await waitFor('readyz answering for Redis', ready, 10_000)
  expect((await signalFlows(1))?.seq).toBe(1)
  await ctx.redis.set(`${prefix}:probe`, 'before')

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
  expect(await ready()).toBe(true)
  expect((await signalFlows(2))?.seq).toBe(2)
}, 40_000)
