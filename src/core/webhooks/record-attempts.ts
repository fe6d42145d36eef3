import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { executeRows } from '../../db/rows.ts'
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from '../../db/schema/index.ts'
import type { ClaimedDelivery } from './claims.ts'

export type DeliveryOutcome =
  | { kind: 'skipped' }
  | { kind: 'succeeded'; statusCode: number }
  | { kind: 'retry'; at: Date; attempt: number; statusCode?: number; error?: string }
  | { kind: 'failed'; statusCode?: number; error?: string }

/** One attempt made, ready to be written: what was sent under which claim, and what became of it. */
export type AttemptRecord = {
  claimed: ClaimedDelivery
  attempt: number
  statusCode: number | undefined
  error: string | undefined
  latencyMs: number
  responseBody: string | undefined
  finished: Date
  outcome: Exclude<DeliveryOutcome, { kind: 'skipped' }>
}

const iso = (d: Date | undefined) => (d ? d.toISOString() : null)

/**
 * Writes many attempts in one statement, whatever their number: the attempt log (every attempt made, even one
 * whose claim was lost: it did reach the receiver), the deliveries' new state, and the endpoints' failing flag
 * (set when a delivery fails for good, cleared by a success). A delivery's state is written only while it still
 * carries the claim the attempt was made under; returns the records that were.
 *
 * @example
 * const kept = await recordAttempts({ db }, records)
 */
export async function recordAttempts(
  ctx: { db: Db },
  records: readonly AttemptRecord[],
): Promise<AttemptRecord[]> {
  if (records.length === 0) return []
  const values = sql.join(
    records.map((r) => {
      const { kind } = r.outcome
      return sql`(${r.claimed.delivery.id}, ${r.attempt}::int, ${kind === 'retry' ? 'pending' : kind},
        ${r.statusCode ?? null}::int, ${r.error ?? null}, ${r.latencyMs}::int, ${r.responseBody ?? null},
        ${iso(kind === 'retry' ? r.outcome.at : undefined)}::timestamptz,
        ${iso(kind === 'succeeded' ? r.finished : undefined)}::timestamptz,
        ${iso(r.claimed.claimedUntil)}::timestamptz)`
    }),
    sql`, `,
  )
  // one statement (no transaction round trips): the log, the deliveries still under their claims, and per
  // endpoint the failing flag, set by a delivery failed for good, else cleared by a success
  const written = await executeRows<{ id: string }>(
    ctx.db,
    sql`with v (id, attempt, status, status_code, error, latency_ms, response_body, next_attempt_at, delivered_at,
        claimed_until) as (values ${values}),
      logged as (
        insert into ${webhookAttempts} (delivery_id, attempt, status_code, error, latency_ms, response_body)
        select id, attempt, status_code, error, latency_ms, response_body from v),
      written as (
        update ${webhookDeliveries} d set status = v.status, attempts = v.attempt, last_status_code = v.status_code,
          next_attempt_at = coalesce(v.next_attempt_at, d.next_attempt_at),
          delivered_at = coalesce(v.delivered_at, d.delivered_at), locked_until = null
        from v where d.id = v.id and d.locked_until = v.claimed_until
        returning d.id, d.endpoint_id, v.status),
      outcomes as (
        select endpoint_id, bool_or(status = 'failed') as failed from written
        where status in ('succeeded', 'failed') group by endpoint_id),
      flagged as (
        update ${webhookEndpoints} e
        set failing_since = case when o.failed then coalesce(e.failing_since, now()) else null end
        from outcomes o where e.id = o.endpoint_id and (o.failed or e.failing_since is not null))
      select id from written`,
  )
  const kept = new Set(written.map((w) => w.id))
  return records.filter((r) => kept.has(r.claimed.delivery.id))
}
