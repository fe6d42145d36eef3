import type { ClaimedDelivery } from './claims.ts'
import { claimDueDeliveries, claimDuration } from './claims.ts'
import type { ReceiverConnections } from './connections.ts'
import type { WebhookContext } from './events.ts'
import { postToPinnedAddress } from './pinned-post.ts'
import { type AttemptRecord, type DeliveryOutcome, recordAttempts } from './record-attempts.ts'
import { signWebhook } from './signing.ts'
import { type HostResolver, resolveWebhookTarget } from './url-guard.ts'

/**
 * What delivery runs on: the webhooks context, (tests) the resolver the URL guard asks, and the kept-alive
 * connections to receivers (without it every attempt opens its own).
 */
export type DeliveryContext = WebhookContext & {
  resolveHost?: HostResolver
  connections?: ReceiverConnections
}

/**
 * Sends one claimed delivery (nothing is written) and decides what became of it: succeeded on a 2xx; otherwise a
 * retry after the schedule's next delay with ±20 % jitter (so receivers recovering from an outage are not hit all
 * at once), or failed for good after the last retry or when the endpoint is gone or disabled.
 *
 * @example
 * const record = await sendClaimedDelivery(ctx, claimed)
 * await recordAttempts(ctx, [record])
 */
export async function sendClaimedDelivery(
  ctx: DeliveryContext,
  claimed: ClaimedDelivery,
): Promise<AttemptRecord> {
  const { delivery, endpoint } = claimed
  const attempt = delivery.attempts + 1
  let statusCode: number | undefined
  let error: string | undefined
  let responseBody: string | undefined
  const started = performance.now()
  if (!endpoint?.enabled) error = 'endpoint disabled or deleted'
  else {
    try {
      // checked and resolved just before sending; the request goes to one of those very addresses
      const target = await resolveWebhookTarget(endpoint.url, {
        allowInternal: ctx.webhooks.allowInternal,
        resolve: ctx.resolveHost,
      })
      const body = JSON.stringify(delivery.payload)
      const secrets = [endpoint.secret]
      if (
        endpoint.previousSecret &&
        endpoint.previousSecretExpiresAt &&
        endpoint.previousSecretExpiresAt > new Date()
      )
        secrets.push(endpoint.previousSecret)
      const headers = signWebhook({
        id: delivery.eventId,
        timestamp: Math.floor(Date.now() / 1000),
        body,
        secrets,
      })
      const answer = await postToPinnedAddress(target, {
        headers: { 'content-type': 'application/json', 'user-agent': 'Tollgate-Webhooks/1', ...headers },
        body,
        timeoutMs: ctx.webhooks.timeoutMs,
        maxResponseBytes: 1024,
        connections: ctx.connections,
      })
      statusCode = answer.statusCode
      responseBody = answer.body
    } catch (err) {
      error = err instanceof Error ? err.message.slice(0, 500) : String(err)
    }
  }
  const latencyMs = Math.round(performance.now() - started)
  const finished = new Date()
  const base = { claimed, attempt, statusCode, error, latencyMs, responseBody, finished }
  if (statusCode !== undefined && statusCode >= 200 && statusCode < 300)
    return { ...base, outcome: { kind: 'succeeded', statusCode } }
  const retries = ctx.webhooks.retrySchedule
  if (attempt > retries.length || !endpoint?.enabled)
    return { ...base, outcome: { kind: 'failed', statusCode, error } }
  const delay = (retries[attempt - 1] as number) * (0.8 + Math.random() * 0.4)
  const at = new Date(finished.getTime() + delay)
  return { ...base, outcome: { kind: 'retry', at, attempt, statusCode, error } }
}

/**
 * Makes one attempt at a due delivery now, outside the delivery pump (tests, tools): claims it, sends it and
 * records the attempt. `skipped` when it is not due, not pending, claimed by another worker, or its claim was
 * taken over before the outcome could be recorded.
 *
 * @example
 * const outcome = await attemptDelivery(ctx, 'whd_…')
 */
export async function attemptDelivery(
  ctx: DeliveryContext,
  deliveryId: string,
  now = new Date(),
): Promise<DeliveryOutcome> {
  const [claimed] = await claimDueDeliveries(ctx, {
    limit: 1,
    claimFor: claimDuration(ctx.webhooks.timeoutMs),
    now,
    ids: [deliveryId],
  })
  if (!claimed) return { kind: 'skipped' }
  const record = await sendClaimedDelivery(ctx, claimed)
  const [kept] = await recordAttempts(ctx, [record])
  return kept ? record.outcome : { kind: 'skipped' }
}
