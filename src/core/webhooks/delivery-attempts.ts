import { asc, inArray } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { webhookAttempts } from '../../db/schema/index.ts'

export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect

/**
 * The attempt logs of many deliveries in one statement (for a page of them), each oldest first. Every id asked
 * for has an entry; ids repeated are read once.
 *
 * @example
 * const byDelivery = await listWebhookAttemptsFor({ db }, page.map((d) => d.id))
 */
export async function listWebhookAttemptsFor(
  ctx: { db: Db },
  deliveryIds: readonly string[],
): Promise<Map<string, WebhookAttemptRow[]>> {
  const byDelivery = new Map<string, WebhookAttemptRow[]>(deliveryIds.map((id) => [id, []]))
  if (byDelivery.size === 0) return byDelivery
  const rows = await ctx.db
    .select()
    .from(webhookAttempts)
    .where(inArray(webhookAttempts.deliveryId, [...byDelivery.keys()]))
    .orderBy(asc(webhookAttempts.deliveryId), asc(webhookAttempts.id))
  for (const row of rows) byDelivery.get(row.deliveryId)?.push(row)
  return byDelivery
}
