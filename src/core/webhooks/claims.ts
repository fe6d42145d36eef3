import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { webhookDeliveries, webhookEndpoints } from '../../db/schema/index.ts'

export type DeliveryRow = typeof webhookDeliveries.$inferSelect
export type EndpointRow = typeof webhookEndpoints.$inferSelect

/**
 * A due delivery this worker holds until `claimedUntil`, with its endpoint as it was at the claim (undefined
 * when it was deleted). The claim is also the fence: its outcome is recorded only while the row still carries
 * this very `claimedUntil`, so a worker that paused past its claim cannot overwrite what another worker did.
 */
export type ClaimedDelivery = {
  delivery: DeliveryRow
  endpoint: EndpointRow | undefined
  claimedUntil: Date
}

/**
 * How long a claim lasts: one attempt (the receiver's whole timeout) plus the time to record it. A worker killed
 * mid-send leaves its claims to run out, and the deliveries are sent again by whoever claims them next (at least
 * once; receivers dedupe on `webhook-id`).
 */
export function claimDuration(timeoutMs: number): number {
  return timeoutMs + 5_000
}

/**
 * Claims up to `limit` due, unclaimed pending deliveries, oldest due first, in one statement (rows another
 * worker is claiming at the same moment are skipped, never waited for), and reads their endpoints in a second.
 * `ids` narrows the claim to those deliveries (a single attempt on demand, tests).
 *
 * @example
 * const batch = await claimDueDeliveries({ db }, { limit: 32, claimFor: claimDuration(10_000) })
 */
export async function claimDueDeliveries(
  ctx: { db: Db },
  options: { limit: number; claimFor: number; now?: Date; ids?: readonly string[] },
): Promise<ClaimedDelivery[]> {
  const now = options.now ?? new Date()
  const claimedUntil = new Date(now.getTime() + options.claimFor)
  if (options.limit < 1 || options.ids?.length === 0) return []
  const nowIso = now.toISOString()
  const onlyIds = options.ids
    ? sql`and id in (${sql.join(
        options.ids.map((id) => sql`${id}`),
        sql`, `,
      )})`
    : sql``
  const due = sql`(select id from ${webhookDeliveries}
    where status = 'pending' and next_attempt_at <= ${nowIso}::timestamptz
      and (locked_until is null or locked_until < ${nowIso}::timestamptz) ${onlyIds}
    order by next_attempt_at
    limit ${options.limit}
    for update skip locked)`
  const claimed = await ctx.db
    .update(webhookDeliveries)
    .set({ lockedUntil: claimedUntil })
    .where(inArray(webhookDeliveries.id, due))
    .returning()
  if (claimed.length === 0) return []
  const endpoints = await ctx.db
    .select()
    .from(webhookEndpoints)
    .where(inArray(webhookEndpoints.id, [...new Set(claimed.map((d) => d.endpointId))]))
  const byId = new Map(endpoints.map((e) => [e.id, e]))
  // the database keeps microseconds; the fence compares what it stored
  const stored = claimed[0]?.lockedUntil ?? claimedUntil
  return claimed
    .sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime())
    .map((delivery) => ({ delivery, endpoint: byId.get(delivery.endpointId), claimedUntil: stored }))
}

/**
 * Hands claims back unattempted (a worker stopping with deliveries it has not sent), so another worker takes them
 * at once instead of after the claim runs out. A claim that is no longer this worker's is left alone.
 *
 * @example
 * await releaseClaims({ db }, unsent)
 */
export async function releaseClaims(ctx: { db: Db }, claims: readonly ClaimedDelivery[]): Promise<number> {
  let released = 0
  for (const [until, group] of Map.groupBy(claims, (c) => c.claimedUntil.getTime())) {
    const rows = await ctx.db
      .update(webhookDeliveries)
      .set({ lockedUntil: null })
      .where(
        and(
          inArray(
            webhookDeliveries.id,
            group.map((c) => c.delivery.id),
          ),
          eq(webhookDeliveries.lockedUntil, new Date(until)),
        ),
      )
      .returning({ id: webhookDeliveries.id })
    released += rows.length
  }
  return released
}
