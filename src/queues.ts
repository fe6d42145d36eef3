import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { redisOptions } from './redis-options.ts'

/** Queue names. Payloads carry ids only; the database holds the truth. */
export const queueNames = {
  addressPool: 'address-pool',
  scan: 'scan',
  expire: 'expire',
  payouts: 'payouts',
  reconcile: 'reconcile',
  rates: 'rates',
} as const

export type ChainJob = { chain: string }

/** BullMQ wants its own connections with `maxRetriesPerRequest: null`. */
export function bullConnection(redisUrl: string): Redis {
  const connection = new Redis({ ...redisOptions(redisUrl), maxRetriesPerRequest: null })
  // ioredis reconnects by itself; commands wait for it (no retry limit), so an error here has no one to fail
  connection.on('error', () => {})
  return connection
}

/**
 * One queue per job kind over a shared connection. A Redis outage surfaces where a command is issued (each caller
 * catches or lets the job fail); the queues' own error events must not end the process.
 *
 * @example
 * const queues = createQueues(bullConnection(env.REDIS_URL), env.REDIS_PREFIX)
 * await queues.scan.add('scan', { chain: 'ethereum' })
 */
export function createQueues(connection: Redis, prefix: string) {
  const queues = {
    addressPool: new Queue<ChainJob>(queueNames.addressPool, { connection, prefix }),
    scan: new Queue<ChainJob>(queueNames.scan, { connection, prefix }),
    expire: new Queue<Record<string, never>>(queueNames.expire, { connection, prefix }),
    payouts: new Queue<ChainJob>(queueNames.payouts, { connection, prefix }),
    reconcile: new Queue<ChainJob>(queueNames.reconcile, { connection, prefix }),
    rates: new Queue<Record<string, never>>(queueNames.rates, { connection, prefix }),
  }
  for (const queue of Object.values(queues)) queue.on('error', () => {})
  return queues
}
export type Queues = ReturnType<typeof createQueues>
