import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { executeRows } from '../../db/rows.ts'
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from '../../db/schema/index.ts'

/**
 * The state of a merchant's webhooks: deliveries waiting (`pending`), those of them retrying after a failed
 * attempt (`failing`), deliveries that succeeded or failed for good in the last 24 hours (a failure dated by
 * its last attempt), and endpoints flagged failing (a delivery used up its retries since their last success).
 */
export type WebhookHealth = {
  pending: number
  failing: number
  deliveredLastDay: number
  failedLastDay: number
  endpointsFailing: number
}

/**
 * Counts a merchant's webhook deliveries and endpoints by state (see `WebhookHealth`), in one statement.
 *
 * @example
 * const health = await webhookHealth({ db }, merchantId, new Date())
 * // { pending: 2, failing: 1, deliveredLastDay: 40, failedLastDay: 0, endpointsFailing: 0 }
 */
export async function webhookHealth(ctx: { db: Db }, merchantId: string, now: Date): Promise<WebhookHealth> {
  const since = new Date(now.getTime() - 86_400_000).toISOString()
  const d = webhookDeliveries
  const [row] = await executeRows<Record<keyof WebhookHealth, string>>(
    ctx.db,
    sql`select
      count(*) filter (where ${d.status} = 'pending') as "pending",
      count(*) filter (where ${d.status} = 'pending' and ${d.attempts} > 0) as "failing",
      count(*) filter (where ${d.status} = 'succeeded' and ${d.deliveredAt} >= ${since}::timestamptz)
        as "deliveredLastDay",
      count(*) filter (where ${d.status} = 'failed' and exists (select 1 from ${webhookAttempts} a
        where a.delivery_id = ${d.id} and a.created_at >= ${since}::timestamptz)) as "failedLastDay",
      (select count(*) from ${webhookEndpoints} e
        where e.merchant_id = ${merchantId} and e.failing_since is not null) as "endpointsFailing"
    from ${d} where ${d.merchantId} = ${merchantId}`,
  )
  return {
    pending: Number(row?.pending ?? 0),
    failing: Number(row?.failing ?? 0),
    deliveredLastDay: Number(row?.deliveredLastDay ?? 0),
    failedLastDay: Number(row?.failedLastDay ?? 0),
    endpointsFailing: Number(row?.endpointsFailing ?? 0),
  }
}
