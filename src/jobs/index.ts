import { type Processor, Worker } from 'bullmq'
import type { AppContext } from '../context.ts'
import { keyUnavailable } from '../core/payouts/errors.ts'
import { newScannerState } from '../core/scanning/sync.ts'
import { bullConnection, type ChainJob, createQueues, type DeliveryJob, queueNames } from '../queues.ts'
import { processAddressPool } from './address-pool.ts'
import { processExpiry } from './expire.ts'
import { decideRetry } from './failures.ts'
import { processPayouts } from './payouts.ts'
import { processReconcile } from './reconcile.ts'
import { createScanRunner } from './scan.ts'
import { processDelivery, processDispatch, processRewake } from './webhooks.ts'

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
  // status changes made here reach webhooks at once, not at the next dispatch tick
  const dispatchSoon = () => {
    processDispatch(ctx, queues).catch((err) => ctx.log.warn({ err }, 'webhook dispatch failed'))
  }
  const scans = createScanRunner(ctx, newScannerState(), dispatchSoon)

  for (const chain of ctx.chains.values()) {
    if (chain.driver.payouts)
      await queues.reconcile.upsertJobScheduler(
        `reconcile:${chain.name}`,
        { every: ctx.env.RECONCILE_INTERVAL_MS },
        { data: { chain: chain.name }, opts: { removeOnComplete: 20, removeOnFail: 100 } },
      )
    await queues.addressPool.upsertJobScheduler(
      `address-pool:${chain.name}`,
      { every: 10_000 },
      { data: { chain: chain.name } },
    )
    await queues.scan.upsertJobScheduler(
      `scan:${chain.name}`,
      { every: chain.settings.scanIntervalMs },
      { data: { chain: chain.name }, opts: { removeOnComplete: 100, removeOnFail: 500 } },
    )
  }
  await queues.expire.upsertJobScheduler(
    'expire',
    { every: 5_000 },
    { data: {}, opts: { removeOnComplete: 100 } },
  )
  // the outbox is read every second; every 10 s due deliveries are re-woken from the database
  await queues.webhookDispatch.upsertJobScheduler(
    'dispatch',
    { every: 1_000 },
    { name: 'dispatch', data: {}, opts: { removeOnComplete: 100 } },
  )
  await queues.webhookDispatch.upsertJobScheduler(
    'rewake',
    { every: 10_000 },
    { name: 'rewake', data: {}, opts: { removeOnComplete: 100 } },
  )
  // the pass was once scheduled under another name; a scheduler left from then would only dispatch
  await queues.webhookDispatch.removeJobScheduler('sweep')

  const worker = <T>(name: string, processor: Processor<T>, concurrency = 1) =>
    new Worker<T>(name, (job) => decideRetry(ctx.log, { queue: name, jobId: job.id }, () => processor(job)), {
      connection: bullConnection(ctx.env.REDIS_URL),
      prefix,
      concurrency,
    })
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
      if (result.expired > 0) dispatchSoon()
      return result
    }),
    worker(queueNames.webhookDispatch, (job) =>
      job.name === 'rewake' ? processRewake(ctx, queues) : processDispatch(ctx, queues),
    ),
    worker<ChainJob>(queueNames.reconcile, (job) => processReconcile(ctx, job.data.chain)),
    // many at once: a slow receiver holds one slot, not the queue
    worker<DeliveryJob>(queueNames.webhook, (job) => processDelivery(ctx, queues, job.data.deliveryId), 16),
  ]

  // new heads trigger a scan at once; the scheduler above is the safety net
  const unwatch = [...ctx.chains.values()].map(
    (chain) =>
      chain.driver.watchHeads?.(() => {
        scans
          .trigger(chain.name)
          .catch((err) => ctx.log.warn({ chain: chain.name, err }, 'scan after new head failed'))
      }) ?? (() => {}),
  )
  // catch up at once rather than at the first tick
  for (const chain of ctx.chains.keys())
    scans.trigger(chain).catch((err) => ctx.log.warn({ chain, err }, 'scan at start failed'))
  // payments whose deadline passed while nothing ran expire now, not at the first tick
  processExpiry(ctx).catch((err) => ctx.log.error({ err }, 'expiry at start failed'))
  // deliveries that were due while nothing ran go out now
  processRewake(ctx, queues).catch((err) => ctx.log.error({ err }, 'webhook re-wake at start failed'))

  const stopPayouts = payouts ? await startPayoutWorkers(ctx) : async () => {}
  return async () => {
    await stopPayouts()
    for (const stop of unwatch) stop()
    scans.stop()
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
  for (const chain of ctx.chains.values())
    if (chain.driver.payouts)
      await queue.upsertJobScheduler(
        `payouts:${chain.name}`,
        { every: chain.settings.payouts.intervalMs },
        { data: { chain: chain.name }, opts: { removeOnComplete: 100, removeOnFail: 500 } },
      )
  const worker = new Worker<ChainJob>(
    queueNames.payouts,
    (job) =>
      decideRetry(ctx.log, { queue: queueNames.payouts, jobId: job.id }, () =>
        processPayouts(ctx, job.data.chain),
      ),
    { connection: bullConnection(ctx.env.REDIS_URL), prefix },
  )
  return async () => {
    await worker.close()
    await queue.close()
    connection.disconnect()
  }
}
