import { createPubSub, type PubSubEventTarget } from 'graphql-yoga'
import { Redis } from 'ioredis'
import pino from 'pino'
import type { DepositChange } from './core/deposits/lifecycle.ts'
import type { PaymentChange } from './core/payments/refresh.ts'
import type { WithdrawalChange } from './core/payouts/withdrawal-changes.ts'
import type { Logger } from './log.ts'
import { redisOptions } from './redis-options.ts'

/** What travels between processes: ids only. Subscribers read the payment itself from the database. */
export type PaymentSignal = { paymentId: string; seq: number; type: string }
/** The same for a withdrawal: subscribers read the withdrawal from the database. */
export type WithdrawalSignal = { withdrawalId: string; seq: number; type: string }

/** The same for a customer deposit: subscribers read the deposit from the database. */
export type DepositSignal = { depositId: string; customerId: string; type: string }

type Signal = PaymentSignal | WithdrawalSignal | DepositSignal
type Topics = Record<string, [Signal]>
type SignalEvent = CustomEvent<Signal>

/**
 * A Redis event target that never lets a Redis failure escape: a signal is a hint (subscribers read the
 * database), so a publish lost while Redis is away is logged and dropped, and the topics this process listens to
 * are subscribed again every time the subscribing connection becomes ready (a restarted Redis knows none).
 *
 * @example
 * const target = resilientRedisEventTarget(pub, sub, log)
 * target.dispatchEvent(new CustomEvent('topic', { detail: signal }))
 */
export function resilientRedisEventTarget(
  publishClient: Redis,
  subscribeClient: Redis,
  log: Pick<Logger, 'warn'>,
): PubSubEventTarget<Topics> {
  const callbacksForTopic = new Map<string, Set<(event: SignalEvent) => void>>()
  // one warning per outage, not one per signal
  let failing = false
  const warn = (action: string) => (err: unknown) => {
    if (failing) return
    failing = true
    log.warn(
      { err: (err as Error).message, action },
      'redis pub/sub failed; signals are lost until it returns',
    )
  }
  const subscribe = (topics: string[]) => {
    if (topics.length > 0) subscribeClient.subscribe(...topics).catch(warn('subscribe'))
  }
  subscribeClient.on('message', (channel: string, message: string) => {
    const callbacks = callbacksForTopic.get(channel)
    if (!callbacks) return
    let detail: Signal
    try {
      detail = JSON.parse(message)
    } catch {
      return
    }
    const event = new CustomEvent(channel, { detail })
    for (const callback of callbacks) callback(event)
  })
  subscribeClient.on('ready', () => {
    failing = false
    subscribe([...callbacksForTopic.keys()])
  })
  publishClient.on('ready', () => {
    failing = false
  })
  const callbackOf = (listener: EventListenerOrEventListenerObject | null) =>
    listener === null
      ? undefined
      : ((typeof listener === 'function' ? listener : listener.handleEvent.bind(listener)) as (
          event: SignalEvent,
        ) => void)
  return {
    addEventListener(topic: string, listener: EventListenerOrEventListenerObject | null) {
      const callback = callbackOf(listener)
      if (!callback) return
      let callbacks = callbacksForTopic.get(topic)
      if (!callbacks) {
        callbacks = new Set()
        callbacksForTopic.set(topic, callbacks)
        subscribe([topic])
      }
      callbacks.add(callback)
    },
    removeEventListener(topic: string, listener: EventListenerOrEventListenerObject | null) {
      const callback = callbackOf(listener)
      const callbacks = callbacksForTopic.get(topic)
      if (!callback || !callbacks) return
      callbacks.delete(callback)
      if (callbacks.size > 0) return
      callbacksForTopic.delete(topic)
      subscribeClient.unsubscribe(topic).catch(warn('unsubscribe'))
    },
    dispatchEvent(event: SignalEvent) {
      publishClient.publish(event.type, JSON.stringify(event.detail)).then(() => {
        failing = false
      }, warn('publish'))
      return true
    },
  } as unknown as PubSubEventTarget<Topics>
}

/**
 * Cross-process payment and withdrawal signals over Redis pub/sub: the worker (or the API process that made the
 * change) publishes after its transaction commits, API processes fan them out to subscribers. Redis going away costs signals, never the process; subscriptions resume
 * when it returns.
 *
 * @example
 * const bus = createPaymentBus('redis://127.0.0.1:6379', 'tollgate', ctx.log)
 * bus.publish(changes)
 */
export function createPaymentBus(redisUrl: string, prefix: string, log: Pick<Logger, 'warn'> = pino()) {
  const publishClient = new Redis({ ...redisOptions(redisUrl), lazyConnect: false, maxRetriesPerRequest: 2 })
  // topics are subscribed again on every 'ready' by the event target, from its own list
  const subscribeClient = new Redis({
    ...redisOptions(redisUrl),
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    autoResubscribe: false,
  })
  // connection errors are retried by ioredis; the failed commands are reported where they are issued
  for (const c of [publishClient, subscribeClient]) c.on('error', () => {})
  const pubsub = createPubSub<Topics>({
    eventTarget: resilientRedisEventTarget(publishClient, subscribeClient, log),
  })
  const paymentTopic = (id: string) => `${prefix}:payment:${id}`
  const merchantTopic = (id: string) => `${prefix}:merchant:${id}`
  const withdrawalTopic = (id: string) => `${prefix}:withdrawal:${id}`
  const merchantWithdrawalsTopic = (id: string) => `${prefix}:merchant-withdrawals:${id}`
  const merchantDepositsTopic = (id: string) => `${prefix}:merchant-deposits:${id}`
  return {
    publish(changes: readonly Pick<PaymentChange, 'paymentId' | 'merchantId' | 'seq' | 'type'>[]) {
      for (const c of changes) {
        const signal = { paymentId: c.paymentId, seq: c.seq, type: c.type }
        pubsub.publish(paymentTopic(c.paymentId), signal)
        pubsub.publish(merchantTopic(c.merchantId), signal)
      }
    },
    /**
     * Withdrawal changes, published once the transactions that wrote them are over: one signal per withdrawal,
     * its latest change (a reader reads the latest state whichever signal wakes it).
     */
    publishWithdrawals(changes: readonly WithdrawalChange[]) {
      const latest = new Map<string, WithdrawalChange>()
      for (const c of changes)
        if ((latest.get(c.withdrawalId)?.seq ?? -1) < c.seq) latest.set(c.withdrawalId, c)
      for (const c of latest.values()) {
        const signal = { withdrawalId: c.withdrawalId, seq: c.seq, type: c.type }
        pubsub.publish(withdrawalTopic(c.withdrawalId), signal)
        pubsub.publish(merchantWithdrawalsTopic(c.merchantId), signal)
      }
    },
    /** Customer deposit changes, published once the transactions that wrote them are over. */
    publishDeposits(changes: readonly DepositChange[]) {
      for (const c of changes)
        pubsub.publish(merchantDepositsTopic(c.merchantId), {
          depositId: c.depositId,
          customerId: c.customerId,
          type: c.type,
        })
    },
    payment: (id: string) => pubsub.subscribe(paymentTopic(id)),
    merchantDeposits: (id: string) => pubsub.subscribe(merchantDepositsTopic(id)),
    merchant: (id: string) => pubsub.subscribe(merchantTopic(id)),
    withdrawal: (id: string) => pubsub.subscribe(withdrawalTopic(id)),
    merchantWithdrawals: (id: string) => pubsub.subscribe(merchantWithdrawalsTopic(id)),
    close() {
      publishClient.disconnect()
      subscribeClient.disconnect()
    },
  }
}
export type PaymentBus = ReturnType<typeof createPaymentBus>
