import { createRedisEventTarget } from '@graphql-yoga/redis-event-target'
import { createPubSub } from 'graphql-yoga'
import { Redis } from 'ioredis'
import type { PaymentChange } from './core/payments/refresh.ts'

/** What travels between processes: ids only. Subscribers read the payment itself from the database. */
export type PaymentSignal = { paymentId: string; seq: number; type: string }

/**
 * Cross-process payment signals over Redis pub/sub: the worker publishes after its transaction commits, API
 * processes fan them out to subscribers.
 *
 * @example
 * const bus = createPaymentBus('redis://127.0.0.1:6379', 'tollgate')
 * bus.publish(changes)
 */
export function createPaymentBus(redisUrl: string, prefix: string) {
  const publishClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 })
  const subscribeClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 })
  for (const c of [publishClient, subscribeClient]) c.on('error', () => {})
  const pubsub = createPubSub<Record<string, [PaymentSignal]>>({
    eventTarget: createRedisEventTarget({ publishClient, subscribeClient }),
  })
  const paymentTopic = (id: string) => `${prefix}:payment:${id}`
  const merchantTopic = (id: string) => `${prefix}:merchant:${id}`
  return {
    publish(changes: readonly Pick<PaymentChange, 'paymentId' | 'merchantId' | 'seq' | 'type'>[]) {
      for (const c of changes) {
        const signal = { paymentId: c.paymentId, seq: c.seq, type: c.type }
        pubsub.publish(paymentTopic(c.paymentId), signal)
        pubsub.publish(merchantTopic(c.merchantId), signal)
      }
    },
    payment: (id: string) => pubsub.subscribe(paymentTopic(id)),
    merchant: (id: string) => pubsub.subscribe(merchantTopic(id)),
    close() {
      publishClient.disconnect()
      subscribeClient.disconnect()
    },
  }
}
export type PaymentBus = ReturnType<typeof createPaymentBus>
