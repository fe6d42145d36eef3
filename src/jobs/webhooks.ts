import type { AppContext } from '../context.ts'
import { attemptDelivery, dueDeliveries } from '../core/webhooks/delivery.ts'
import { dispatchWebhookEvents } from '../core/webhooks/dispatch.ts'
import type { Queues } from '../queues.ts'

/**
 * A job per scheduled attempt: the id (delivery, attempt, due time) makes adding the same attempt twice (re-wake
 * pass and retry) a no-op, while a redelivery (a new due time) gets a job of its own.
 */
export function enqueueDelivery(
  queues: Queues,
  deliveryId: string,
  attempts: number,
  dueAt: Date,
  wake = '',
) {
  return queues.webhook.add(
    'deliver',
    { deliveryId },
    {
      jobId: `${deliveryId}-${attempts}-${dueAt.getTime()}${wake}`,
      delay: Math.max(0, dueAt.getTime() - Date.now()),
      removeOnComplete: 1000,
      removeOnFail: 1000,
    },
  )
}

/** Outbox → deliveries → queue. Safe to run anywhere, any number of times. */
export async function processDispatch(ctx: AppContext, queues: Queues): Promise<{ deliveries: number }> {
  let total = 0
  for (;;) {
    const ids = await dispatchWebhookEvents(ctx)
    await Promise.all(ids.map((d) => enqueueDelivery(queues, d.id, 0, d.nextAttemptAt)))
    total += ids.length
    if (ids.length === 0) return { deliveries: total }
  }
}

/** One attempt; a retry is queued with its delay (the database also holds it, for the re-wake pass). */
export async function processDelivery(ctx: AppContext, queues: Queues, deliveryId: string) {
  const outcome = await attemptDelivery(ctx, deliveryId)
  if (outcome.kind === 'retry') await enqueueDelivery(queues, deliveryId, outcome.attempt, outcome.at)
  if (outcome.kind === 'failed')
    ctx.log.warn(
      { deliveryId, statusCode: outcome.statusCode, error: outcome.error },
      'webhook delivery failed for good',
    )
  return outcome
}

/**
 * Re-wakes due, unclaimed deliveries from the database: after a restart, when Redis lost every job, or when a
 * worker died holding one (its job is stuck as active). Each pass adds jobs of its own; a delivery that another
 * job sends first is simply skipped by the claim, so nothing goes out twice at once.
 */
export async function processRewake(ctx: AppContext, queues: Queues): Promise<{ requeued: number }> {
  const due = await dueDeliveries(ctx)
  const wake = `-w${Date.now()}`
  await Promise.all(due.map((d) => enqueueDelivery(queues, d.id, d.attempts, d.nextAttemptAt, wake)))
  return { requeued: due.length }
}
