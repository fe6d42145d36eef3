import { and, eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { webhookDeliveries, webhookEndpoints } from '../../db/schema/index.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { invalidInput, notFound } from '../errors.ts'
import { newId } from '../ids.ts'
import { type WebhookContext, webhookEventTypes } from './events.ts'
import { newWebhookSecret } from './signing.ts'
import { checkWebhookUrl } from './url-guard.ts'

export type EndpointRow = typeof webhookEndpoints.$inferSelect

function checkEvents(events: readonly string[]): string[] {
  if (events.length === 0) throw invalidInput('events', 'name at least one event type')
  const unknown = events.filter((e) => !(webhookEventTypes as readonly string[]).includes(e))
  if (unknown.length > 0) throw invalidInput('events', `unknown event type(s): ${unknown.join(', ')}`)
  return [...new Set(events)]
}

function checkDescription(description: string | null | undefined): string | null {
  if (description == null) return null
  if (description.length > 500) throw invalidInput('description', 'description is at most 500 characters')
  return description
}

/**
 * Registers an endpoint; the signing secret is in the result, once.
 *
 * @example
 * const { endpoint, secret } = await createWebhookEndpoint(ctx, merchantId, { url, events: ['payment.completed'] })
 */
export async function createWebhookEndpoint(
  ctx: WebhookContext,
  merchantId: string,
  input: { url: string; events: readonly string[]; description?: string | null },
) {
  const events = checkEvents(input.events)
  const description = checkDescription(input.description)
  const url = await checkWebhookUrl(input.url, { allowInternal: ctx.webhooks.allowInternal })
  const secret = newWebhookSecret()
  const [endpoint] = await ctx.db
    .insert(webhookEndpoints)
    .values({ id: newId('whe'), merchantId, url: url.href, events, description, secret })
    .returning()
  return { endpoint: endpoint!, secret }
}

export async function ownEndpoint(ctx: { db: Db }, merchantId: string, id: string): Promise<EndpointRow> {
  const [row] = await ctx.db
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.merchantId, merchantId)))
  if (!row) throw notFound('webhook endpoint')
  return row
}

export async function listWebhookEndpoints(ctx: { db: Db }, merchantId: string) {
  return ctx.db
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.merchantId, merchantId))
    .orderBy(webhookEndpoints.id)
}

/** Changes url, events, description or enabled; unknown ids (or another merchant's) are NOT_FOUND. */
export async function updateWebhookEndpoint(
  ctx: WebhookContext,
  merchantId: string,
  id: string,
  input: {
    url?: string | null
    events?: readonly string[] | null
    description?: string | null
    enabled?: boolean | null
  },
) {
  await ownEndpoint(ctx, merchantId, id)
  const set: Partial<EndpointRow> = { updatedAt: new Date() }
  if (input.url != null)
    set.url = (await checkWebhookUrl(input.url, { allowInternal: ctx.webhooks.allowInternal })).href
  if (input.events != null) set.events = checkEvents(input.events)
  if (input.description !== undefined) set.description = checkDescription(input.description)
  if (input.enabled != null) set.enabled = input.enabled
  const [row] = await ctx.db.update(webhookEndpoints).set(set).where(eq(webhookEndpoints.id, id)).returning()
  return row!
}

export async function deleteWebhookEndpoint(ctx: { db: Db }, merchantId: string, id: string) {
  await ownEndpoint(ctx, merchantId, id)
  await ctx.db.transaction(async (tx) => {
    await tx
      .update(webhookDeliveries)
      .set({ status: 'failed' })
      .where(and(eq(webhookDeliveries.endpointId, id), eq(webhookDeliveries.status, 'pending')))
    await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id))
  })
}

/**
 * Issues a new secret; the old one keeps signing (both signatures are sent) for `overlapSeconds`, so the
 * receiver can switch without dropping a delivery. `actor` (the API key, or the operator) is recorded in the
 * audit log as `webhook.secret_rotated`, in the rotation's transaction.
 *
 * @example
 * const { secret } = await rotateWebhookSecret(ctx, merchantId, endpointId, 86_400, { keyId, requestId })
 */
export async function rotateWebhookSecret(
  ctx: { db: Db },
  merchantId: string,
  id: string,
  overlapSeconds = 86_400,
  actor?: AuditActor,
) {
  if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0 || overlapSeconds > 7 * 86_400)
    throw invalidInput('overlapSeconds', 'overlapSeconds must be 0 to 604800')
  return ctx.db.transaction(async (tx) => {
    // locked: two rotations at once must not both keep the same "previous" secret
    const [current] = await tx
      .select()
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.merchantId, merchantId)))
      .for('update')
    if (!current) throw notFound('webhook endpoint')
    const secret = newWebhookSecret()
    const [endpoint] = await tx
      .update(webhookEndpoints)
      .set({
        secret,
        previousSecret: overlapSeconds > 0 ? current.secret : null,
        previousSecretExpiresAt: overlapSeconds > 0 ? new Date(Date.now() + overlapSeconds * 1000) : null,
        updatedAt: new Date(),
      })
      .where(eq(webhookEndpoints.id, id))
      .returning()
    if (actor)
      await recordAudit(tx, {
        merchantId,
        actor,
        action: 'webhook.secret_rotated',
        target: { type: 'webhook_endpoint', id },
        data: { overlapSeconds },
      })
    return { endpoint: endpoint!, secret }
  })
}
