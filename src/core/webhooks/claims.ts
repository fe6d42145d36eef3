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

/** At most `cap` deliveries of one endpoint in hand; `held` counts those the caller already has. */
export type EndpointShare = { cap: number; held: ReadonlyMap<string, number> }

const idList = (ids: readonly string[]) =>
  sql.join(
    ids.map((id) => sql`${id}`),
    sql`, `,
  )

/**
 * Claims up to `limit` due, unclaimed pending deliveries, oldest due first, in one statement (rows another
 * worker is claiming at the same moment are skipped, never waited for), and reads their endpoints in a second.
 * With `share`, no endpoint gets more than its room (cap − held): endpoints at their cap are passed over, so a
 * receiver that hangs, or one merchant's backlog, cannot take every lane while others wait. `ids` narrows the
 * claim to those deliveries (a single attempt on demand, tests).
 *
 * @example
 * const batch = await claimDueDeliveries({ db }, { limit: 32, claimFor: claimDuration(10_000) })
 */
export async function claimDueDeliveries(
  ctx: { db: Db },
  options: { limit: number; claimFor: number; now?: Date; ids?: readonly string[]; share?: EndpointShare },
): Promise<ClaimedDelivery[]> {
  const now = options.now ?? new Date()
  const claimedUntil = new Date(now.getTime() + options.claimFor)
  if (options.limit < 1 || options.ids?.length === 0) return []
  const nowIso = now.toISOString()
  const unclaimed = sql`status = 'pending' and next_attempt_at <= ${nowIso}::timestamptz
    and (locked_until is null or locked_until < ${nowIso}::timestamptz)`
  const onlyIds = options.ids ? sql`and id in (${idList(options.ids)})` : sql``
  const share = options.share
  const full = share ? [...share.held].filter(([, n]) => n >= share.cap).map(([id]) => id) : []
  const notFull = full.length ? sql`and endpoint_id not in (${idList(full)})` : sql``
  const room = share
    ? sql`coalesce((${JSON.stringify(Object.fromEntries([...share.held].map(([id, n]) => [id, share.cap - n])))}::jsonb ->> r.endpoint_id)::int, ${share.cap}::int)`
    : sql`${options.limit}::int`
  // the oldest due rows are ranked per endpoint (no row lock can be taken under a window function), then locked
  // where still unclaimed: the outer condition is checked again on the row as it is when locked
  const due = sql`(with candidates as (
      select id, endpoint_id, next_attempt_at from ${webhookDeliveries}
      where ${unclaimed} ${onlyIds} ${notFull}
      order by next_attempt_at limit ${options.limit * 4}),
    ranked as (
      select id, endpoint_id, row_number() over (partition by endpoint_id order by next_attempt_at, id) as rank
      from candidates)
    select d.id from ${webhookDeliveries} d join ranked r on r.id = d.id
    where d.status = 'pending' and d.next_attempt_at <= ${nowIso}::timestamptz
      and (d.locked_until is null or d.locked_until < ${nowIso}::timestamptz) and r.rank <= ${room}
    order by d.next_attempt_at
    limit ${options.limit}
    for update of d skip locked)`
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
