import { Worker } from 'bullmq'
import type { AppContext } from '../context.ts'
import { processAddressPool } from './address-pool.ts'
import { bullConnection, createQueues, queueNames } from './queues.ts'

/**
 * Starts the workers and the recurring job schedulers. Returns a stop function that waits for running jobs.
 *
 * @example
 * const stop = await startWorkers(ctx)
 * process.on('SIGTERM', stop)
 */
export async function startWorkers(ctx: AppContext): Promise<() => Promise<void>> {
  const connection = bullConnection(ctx.env.REDIS_URL)
  const prefix = ctx.env.REDIS_PREFIX
  const queues = createQueues(connection, prefix)
  for (const chain of ctx.chains.keys()) {
    await queues.addressPool.upsertJobScheduler(
      `address-pool:${chain}`,
      { every: 30_000 },
      { data: { chain } },
    )
  }
  const workers = [
    new Worker(queueNames.addressPool, (job) => processAddressPool(ctx, job), {
      connection: bullConnection(ctx.env.REDIS_URL),
      prefix,
      concurrency: 1,
    }),
  ]
  for (const worker of workers)
    worker.on('failed', (job, err) =>
      ctx.log.error({ queue: worker.name, jobId: job?.id, err }, 'job failed'),
    )
  return async () => {
    await Promise.all(workers.map((w) => w.close()))
    await Promise.all(Object.values(queues).map((q) => q.close()))
    connection.disconnect()
  }
}
