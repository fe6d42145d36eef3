import { type Processor, Queue, Worker } from 'bullmq'
import type { Redis } from 'ioredis'
import type { AppContext } from '../context.ts'
import { keyUnavailable } from '../core/payouts/errors.ts'
import { newScannerState } from '../core/scanning/sync.ts'
import { bullConnection, type ChainJob, createQueues, type Queues, queueNames } from '../queues.ts'
import { processAddressPool } from './address-pool.ts'
import { processExpiry } from './expire.ts'
import { decideRetry } from './failures.ts'
import { startScreeningPump } from './kyt-pump.ts'
import { runPayoutJob } from './payouts.ts'
import { processRates } from './rates.ts'
import { processReconcile } from './reconcile.ts'
import { createScanRunner } from './scan.ts'
import { startDeliveryPump } from './webhook-pump.ts'

/**
 * Starts the workers, the recurring job schedulers and the new-head triggers. Returns a stop function that
 * waits for running jobs.
 *
 * @example
 * const stop = await startWorkers(ctx)
 * process.on('SIGTERM', stop)
 */
export async function startWorkers(
  ctx: AppContext,
  options: { chainJobs?: boolean; payouts?: boolean } = {},
): Promise<() => Promise<void>> {
  // payouts need the signer; everything else (scanning, expiry, webhooks, the address pool) needs no key
  const chainJobs = options.chainJobs ?? true
  const payouts = (options.payouts ?? true) && ctx.signer !== undefined
  if (!chainJobs) return startPayoutWorkers(ctx)
  const connection = bullConnection(ctx.env.REDIS_URL)
  const prefix = ctx.env.REDIS_PREFIX
  const queues = createQueues(connection, prefix)
  // webhooks are delivered from the database; status changes made here reach them at once, not at the next tick
  const pump = startDeliveryPump(ctx)
  const dispatchSoon = () => pump.poke()
  // deposits and withdrawals wait for KYT screening; the verdicts' payment changes reach webhooks at once
  const screening = startScreeningPump(ctx, dispatchSoon)
  const scans = createScanRunner(ctx, newScannerState(), dispatchSoon, () => screening.poke())

  await removeRetiredSchedulers(connection, prefix)
  const stopSchedulers = await keepSchedulers(ctx, connection, chainSchedulers(ctx, queues))

  const workerError = reportWorkerError(ctx.log)
  const worker = <T>(name: string, processor: Processor<T>, concurrency = 1) =>
    new Worker<T>(name, (job) => decideRetry(ctx.log, { queue: name, jobId: job.id }, () => processor(job)), {
      connection: bullConnection(ctx.env.REDIS_URL),
      prefix,
      concurrency,
    }).on('error', (err) => workerError(name, err))
  const workers = [
    worker<ChainJob>(queueNames.addressPool, (job) => processAddressPool(ctx, job)),
    worker<ChainJob>(
      queueNames.scan,
      async (job) => {
        const r = await scans.trigger(job.data.chain)
        return {
          height: r.height.toString(),
          tip: r.tip.toString(),
          changes: r.changes.length,
          halted: r.halted,
        }
      },
      Math.max(1, ctx.chains.size),
    ),
    worker(queueNames.expire, async () => {
      const result = await processExpiry(ctx)
      if (result.expired > 0 || result.approvalsExpired > 0) dispatchSoon()
      return result
    }),
    worker<ChainJob>(queueNames.reconcile, (job) => processReconcile(ctx, job.data.chain)),
    worker(queueNames.rates, () => processRates(ctx)),
  ]

  // new heads trigger a scan at once, watched only while this process holds the chain's lease (a standby
  // polls nothing); the scheduler above is the safety net
  const unwatch = [...ctx.chains.values()].map((chain) =>
    scans.whileHolding(chain.name, () => {
      // a failed run is the runner's to log (once a minute per chain): a fast chain would warn every block
      const scan = () => scans.trigger(chain.name).catch(() => {})
      const unwatchHeads = chain.driver.watchHeads?.(scan)
      // a chain whose mempool the driver reads is looked at often: a broadcast payment shows within a second
      const mempool = chain.driver.mempool ? setInterval(scan, ctx.env.MEMPOOL_POLL_MS) : undefined
      return () => {
        unwatchHeads?.()
        clearInterval(mempool)
      }
    }),
  )
  // catch up at once rather than at the first tick
  for (const chain of ctx.chains.keys())
    scans.trigger(chain).catch((err) => ctx.log.warn({ chain, err }, 'scan at start failed'))
  // payments whose deadline passed while nothing ran expire now, not at the first tick; rates are fresh at once
  processExpiry(ctx).catch((err) => ctx.log.error({ err }, 'expiry at start failed'))
  processRates(ctx).catch((err) => ctx.log.warn({ err }, 'rates at start failed'))

  const stopPayouts = payouts ? await startPayoutWorkers(ctx) : async () => {}
  return async () => {
    stopSchedulers()
    for (const stop of unwatch) stop()
    // side by side: the scan lease is handed back without waiting for a payout pass to end
    await Promise.all([stopPayouts(), scans.stop(), pump.stop(), screening.stop()])
    await Promise.all(workers.map((w) => w.close()))
    await Promise.all(Object.values(queues).map((q) => q.close()))
    connection.disconnect()
  }
}

/**
 * The sending side alone (`worker --role signer`): the payout scheduler per chain and its worker. One pass per
 * chain at a time in this process; the database's row locks keep several signer processes from colliding.
 */
async function startPayoutWorkers(ctx: AppContext): Promise<() => Promise<void>> {
  if (!ctx.signer) throw keyUnavailable('payouts need the signer (a seed)')
  const connection = bullConnection(ctx.env.REDIS_URL)
  const prefix = ctx.env.REDIS_PREFIX
  const queue = createQueues(connection, prefix).payouts
  const stopSchedulers = await keepSchedulers(ctx, connection, payoutSchedulers(ctx, queue))
  const workerError = reportWorkerError(ctx.log)
  const worker = new Worker<ChainJob>(
    queueNames.payouts,
    (job) =>
      decideRetry(ctx.log, { queue: queueNames.payouts, jobId: job.id }, () =>
        runPayoutJob(ctx, job.data.chain),
      ),
    { connection: bullConnection(ctx.env.REDIS_URL), prefix },
  ).on('error', (err) => workerError(queueNames.payouts, err))
  return async () => {
    stopSchedulers()
    await worker.close()
    await queue.close()
    connection.disconnect()
  }
}

/**
 * Webhooks once ran as jobs (an outbox pass, a re-wake pass, a job per delivery). Their schedulers would live on
 * in Redis after an upgrade and keep filling queues nobody reads, so they are removed, with what they queued.
 */
async function removeRetiredSchedulers(connection: Redis, prefix: string) {
  for (const [name, schedulers] of [
    ['webhook-dispatch', ['dispatch', 'rewake', 'sweep']],
    ['webhook', []],
  ] as const) {
    const queue = new Queue(name, { connection, prefix })
    queue.on('error', () => {})
    // workers starting side by side race to clean up: whoever loses has nothing left to do
    try {
      for (const id of schedulers) await queue.removeJobScheduler(id)
      await queue.obliterate({ force: true })
    } catch {}
    await queue.close()
  }
}

/** One recurring job: BullMQ keeps its scheduler in Redis, so a Redis that lost its data has none of these. */
export type SchedulerSpec = {
  queue: Queue
  id: string
  every: number
  template: { name?: string; data: unknown; opts?: { removeOnComplete?: number; removeOnFail?: number } }
}

/**
 * Every recurring job of a chain worker: per chain reconcile (when it pays out), address pool and scan; and
 * expiry. The one list that start, reconnect and the periodic check all upsert. (Webhooks need none: the
 * delivery pump reads its work from the database.)
 *
 * @example
 * await ensureSchedulers(ctx.log, chainSchedulers(ctx, queues))
 */
export function chainSchedulers(ctx: AppContext, queues: Queues): SchedulerSpec[] {
  const specs: SchedulerSpec[] = []
  for (const chain of ctx.chains.values()) {
    if (chain.driver.payouts)
      specs.push({
        queue: queues.reconcile,
        id: `reconcile:${chain.name}`,
        every: ctx.env.RECONCILE_INTERVAL_MS,
        template: { data: { chain: chain.name }, opts: { removeOnComplete: 20, removeOnFail: 100 } },
      })
    specs.push({
      queue: queues.addressPool,
      id: `address-pool:${chain.name}`,
      every: 10_000,
      template: { data: { chain: chain.name } },
    })
    specs.push({
      queue: queues.scan,
      id: `scan:${chain.name}`,
      every: chain.settings.scanIntervalMs,
      template: { data: { chain: chain.name }, opts: { removeOnComplete: 100, removeOnFail: 500 } },
    })
  }
  specs.push({
    queue: queues.expire,
    id: 'expire',
    every: 5_000,
    template: { data: {}, opts: { removeOnComplete: 100 } },
  })
  if (ctx.pricing)
    specs.push({
      queue: queues.rates,
      id: 'rates',
      every: (ctx.pricing.config.refreshSeconds ?? 60) * 1000,
      template: { data: {}, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    })
  return specs
}

/**
 * The signer's recurring job: a payout pass per chain that pays out.
 *
 * @example
 * await ensureSchedulers(ctx.log, payoutSchedulers(ctx, queues.payouts))
 */
export function payoutSchedulers(ctx: AppContext, queue: Queue): SchedulerSpec[] {
  return [...ctx.chains.values()]
    .filter((chain) => chain.driver.payouts)
    .map((chain) => ({
      queue,
      id: `payouts:${chain.name}`,
      every: chain.settings.payouts.intervalMs,
      template: { data: { chain: chain.name }, opts: { removeOnComplete: 100, removeOnFail: 500 } },
    }))
}

/**
 * Creates the schedulers that Redis does not hold; with `all`, upserts every one (at start, so a changed interval
 * takes effect). Otherwise an existing scheduler is left alone, since upserting it would re-plan its next run;
 * the check is one read per scheduler. Returns how many were written.
 *
 * @example
 * const created = await ensureSchedulers(ctx.log, specs)
 */
export async function ensureSchedulers(
  log: AppContext['log'],
  specs: SchedulerSpec[],
  options: { all?: boolean } = {},
): Promise<number> {
  let created = 0
  for (const spec of specs) {
    if (!options.all && (await spec.queue.getJobScheduler(spec.id))) continue
    await spec.queue.upsertJobScheduler(spec.id, { every: spec.every }, spec.template as never)
    created++
  }
  if (created > 0 && !options.all) log.info({ created }, 'missing recurring job schedulers re-created')
  return created
}

/** How often the schedulers are checked, besides every time the Redis connection becomes ready again. */
export const schedulerCheckMs = 30_000

/**
 * Creates the schedulers now, again whenever `connection` becomes ready after losing Redis (a Redis restarted
 * empty holds none), and checks them every `checkEveryMs` (for a Redis flushed without a reconnect). A failed
 * check is logged and retried by the next. Returns a stop function.
 *
 * @example
 * const stop = await keepSchedulers(ctx, connection, chainSchedulers(ctx, queues))
 */
export async function keepSchedulers(
  ctx: Pick<AppContext, 'log'>,
  connection: Redis,
  specs: SchedulerSpec[],
  checkEveryMs = schedulerCheckMs,
): Promise<() => void> {
  await ensureSchedulers(ctx.log, specs, { all: true })
  let running: Promise<unknown> = Promise.resolve()
  const check = () => {
    // one check at a time: a reconnect during the periodic check waits for it rather than racing it
    running = running
      .then(() => ensureSchedulers(ctx.log, specs))
      .catch((err) => ctx.log.warn({ err: (err as Error).message }, 'could not check the job schedulers'))
  }
  connection.on('ready', check)
  const timer = setInterval(check, checkEveryMs)
  return () => {
    clearInterval(timer)
    connection.off('ready', check)
  }
}

/** A worker reports each reconnect attempt while Redis is away; one warning per queue per minute is enough. */
const workerErrorEveryMs = 60_000

/**
 * A handler for workers' error events: logged at warn, at most once a minute per queue. Without a handler an
 * error event would end the process; the worker itself reconnects and carries on.
 *
 * @example
 * worker.on('error', (err) => reportWorkerError(ctx.log)('scan', err))
 */
export function reportWorkerError(log: AppContext['log']): (queue: string, err: Error) => void {
  const lastWarned = new Map<string, number>()
  return (queue, err) => {
    const now = Date.now()
    if (now - (lastWarned.get(queue) ?? 0) < workerErrorEveryMs) return
    lastWarned.set(queue, now)
    log.warn({ queue, err: err.message }, 'worker lost Redis; it reconnects and carries on')
  }
}
