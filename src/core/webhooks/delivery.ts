import { and, eq, lt, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from '../../db/schema/index.ts'
import type { WebhookContext } from './events.ts'
import { postToPinnedAddress } from './pinned-post.ts'
import { signWebhook } from './signing.ts'
import { type HostResolver, resolveWebhookTarget } from './url-guard.ts'

/** What delivery runs on: the webhooks context, and (tests) the resolver the URL guard asks. */
export type DeliveryContext = WebhookContext & { resolveHost?: HostResolver }

export type DeliveryOutcome =
  | { kind: 'skipped' }
  | { kind: 'succeeded'; statusCode: number }
  | { kind: 'retry'; at: Date; attempt: number; statusCode?: number; error?: string }
  | { kind: 'failed'; statusCode?: number; error?: string }

/**
 * Makes one attempt at a due delivery. The row is claimed first (a lease), so two workers never send it at the
 * same time; a worker killed mid-send leaves the claim to run out and the delivery to be sent again (at least
 * once). Every attempt is recorded; after the last one the delivery fails and the endpoint is flagged.
 */
export async function attemptDelivery(
  ctx: DeliveryContext,
  deliveryId: string,
  now = new Date(),
): Promise<DeliveryOutcome> {
  // long enough for one attempt to finish and be recorded; a dead worker's claim runs out soon after
  const claimFor = ctx.webhooks.timeoutMs + 5_000
  const [delivery] = await ctx.db
    .update(webhookDeliveries)
    .set({ lockedUntil: new Date(now.getTime() + claimFor) })
    .where(
      and(
        eq(webhookDeliveries.id, deliveryId),
        eq(webhookDeliveries.status, 'pending'),
        sql`${webhookDeliveries.nextAttemptAt} <= ${now.toISOString()}`,
        sql`(${webhookDeliveries.lockedUntil} is null or ${webhookDeliveries.lockedUntil} < ${now.toISOString()})`,
      ),
    )
    .returning()
  if (!delivery) return { kind: 'skipped' }
  const [endpoint] = await ctx.db
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.id, delivery.endpointId))
  const attempt = delivery.attempts + 1
  let statusCode: number | undefined
  let error: string | undefined
  let responseBody: string | undefined
  const started = performance.now()
  if (!endpoint?.enabled) error = 'endpoint disabled or deleted'
  else {
    try {
      // checked and resolved once, just before sending; the request goes to that very address
      const target = await resolveWebhookTarget(endpoint.url, {
        allowInternal: ctx.webhooks.allowInternal,
        resolve: ctx.resolveHost,
      })
      const body = JSON.stringify(delivery.payload)
      const secrets = [endpoint.secret]
      if (
        endpoint.previousSecret &&
        endpoint.previousSecretExpiresAt &&
        endpoint.previousSecretExpiresAt > now
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
      })
      statusCode = answer.statusCode
      responseBody = answer.body
    } catch (err) {
      error = err instanceof Error ? err.message.slice(0, 500) : String(err)
    }
  }
  const latencyMs = Math.round(performance.now() - started)
  const ok = statusCode !== undefined && statusCode >= 200 && statusCode < 300
  const retries = ctx.webhooks.retrySchedule
  const finished = new Date()
  return ctx.db.transaction(async (tx) => {
    await tx
      .insert(webhookAttempts)
      .values({ deliveryId, attempt, statusCode, error, latencyMs, responseBody })
    if (ok) {
      await tx
        .update(webhookDeliveries)
        .set({
          status: 'succeeded',
          attempts: attempt,
          lastStatusCode: statusCode,
          deliveredAt: finished,
          lockedUntil: null,
        })
        .where(eq(webhookDeliveries.id, deliveryId))
      await tx
        .update(webhookEndpoints)
        .set({ failingSince: null })
        .where(eq(webhookEndpoints.id, delivery.endpointId))
      return { kind: 'succeeded', statusCode: statusCode as number }
    }
    if (attempt > retries.length || !endpoint?.enabled) {
      await tx
        .update(webhookDeliveries)
        .set({ status: 'failed', attempts: attempt, lastStatusCode: statusCode, lockedUntil: null })
        .where(eq(webhookDeliveries.id, deliveryId))
      await tx
        .update(webhookEndpoints)
        .set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, now())` })
        .where(eq(webhookEndpoints.id, delivery.endpointId))
      return { kind: 'failed', statusCode, error }
    }
    // exponential schedule with ±20 % jitter, so receivers recovering from an outage are not hit all at once
    const delay = (retries[attempt - 1] as number) * (0.8 + Math.random() * 0.4)
    const at = new Date(finished.getTime() + delay)
    await tx
      .update(webhookDeliveries)
      .set({ attempts: attempt, lastStatusCode: statusCode, nextAttemptAt: at, lockedUntil: null })
      .where(eq(webhookDeliveries.id, deliveryId))
    return { kind: 'retry', at, attempt, statusCode, error }
  })
}

/** Pending deliveries that are due and unclaimed: what the queue must (re)wake, e.g. after Redis lost its jobs. */
export async function dueDeliveries(ctx: { db: Db }, now = new Date(), limit = 1000) {
  return ctx.db
    .select({
      id: webhookDeliveries.id,
      attempts: webhookDeliveries.attempts,
      nextAttemptAt: webhookDeliveries.nextAttemptAt,
    })
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.status, 'pending'),
        lt(webhookDeliveries.nextAttemptAt, new Date(now.getTime() + 1)),
        sql`(${webhookDeliveries.lockedUntil} is null or ${webhookDeliveries.lockedUntil} < ${now.toISOString()})`,
      ),
    )
    .limit(limit)
}
