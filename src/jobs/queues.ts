import { Queue } from 'bullmq'
import { Redis } from 'ioredis'

/** Queue names. Payloads carry ids only; the database holds the truth. */
export const queueNames = { addressPool: 'address-pool' } as const

export type AddressPoolJob = { chain: string }

/** BullMQ wants its own connections with `maxRetriesPerRequest: null`. */
export function bullConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null })
}

export function createQueues(connection: Redis, prefix: string) {
  return {
    addressPool: new Queue<AddressPoolJob>(queueNames.addressPool, { connection, prefix }),
  }
}
export type Queues = ReturnType<typeof createQueues>
