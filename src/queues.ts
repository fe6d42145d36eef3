import { Queue } from 'bullmq'
import { Redis } from 'ioredis'

/** Queue names. Payloads carry ids only; the database holds the truth. */
export const queueNames = {
  addressPool: 'address-pool',
  scan: 'scan',
  expire: 'expire',
  webhookDispatch: 'webhook-dispatch',
  webhook: 'webhook',
  payouts: 'payouts',
  reconcile: 'reconcile',
} as const

export type DeliveryJob = { deliveryId: string }

export type ChainJob = { chain: string }

/** BullMQ wants its own connections with `maxRetriesPerRequest: null`. */
export function bullConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null })
}

export function createQueues(connection: Redis, prefix: string) {
  return {
    addressPool: new Queue<ChainJob>(queueNames.addressPool, { connection, prefix }),
    scan: new Queue<ChainJob>(queueNames.scan, { connection, prefix }),
    expire: new Queue<Record<string, never>>(queueNames.expire, { connection, prefix }),
    webhookDispatch: new Queue<Record<string, never>>(queueNames.webhookDispatch, { connection, prefix }),
    webhook: new Queue<DeliveryJob>(queueNames.webhook, { connection, prefix }),
    payouts: new Queue<ChainJob>(queueNames.payouts, { connection, prefix }),
    reconcile: new Queue<ChainJob>(queueNames.reconcile, { connection, prefix }),
  }
}
export type Queues = ReturnType<typeof createQueues>
