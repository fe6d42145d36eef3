import { and, desc, eq, lt } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { webhookAttempts, webhookDeliveries } from '../../db/schema/index.ts'
import { notFound } from '../errors.ts'
import { pageSize, toPage } from '../pages.ts'
import { ownEndpoint } from './endpoints.ts'

/** Sends a delivery again with a fresh retry schedule, whatever became of it. */
export async function redeliverWebhook(ctx: { db: Db }, merchantId: string, deliveryId: string) {
  const [row] = await ctx.db
    .update(webhookDeliveries)
    .set({ status: 'pending', attempts: 0, nextAttemptAt: new Date(), lockedUntil: null })
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.merchantId, merchantId)))
    .returning()
  if (!row) throw notFound('webhook delivery')
  return row
}

/** An endpoint's deliveries, newest first, with their attempts. */
export async function listWebhookDeliveries(
  ctx: { db: Db },
  merchantId: string,
  endpointId: string,
  params: { first?: number | null; after?: string | null },
) {
  await ownEndpoint(ctx, merchantId, endpointId)
  const first = pageSize(params.first)
  const rows = await ctx.db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.endpointId, endpointId),
        params.after ? lt(webhookDeliveries.id, params.after) : undefined,
      ),
    )
    .orderBy(desc(webhookDeliveries.id))
    .limit(first + 1)
  return toPage(rows, first)
}

export async function listWebhookAttempts(ctx: { db: Db }, deliveryId: string) {
  return ctx.db
    .select()
    .from(webhookAttempts)
    .where(eq(webhookAttempts.deliveryId, deliveryId))
    .orderBy(webhookAttempts.id)
}
