import { and, inArray, lt } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { payments } from '../../db/schema/index.ts'
import { type PaymentChange, refreshPayments } from './refresh.ts'

/**
 * Expires payments past their deadline that nothing moved yet (driven by the database, so a restart catches
 * up). At most `limit` per call; callers repeat until it answers nothing.
 *
 * @example
 * const changes = await expireDuePayments({ db })
 */
export async function expireDuePayments(
  ctx: { db: Db; now?: () => Date },
  limit = 500,
): Promise<PaymentChange[]> {
  const now = ctx.now?.() ?? new Date()
  const due = await ctx.db
    .select({ id: payments.id })
    .from(payments)
    .where(and(inArray(payments.status, ['PENDING', 'PARTIALLY_PAID']), lt(payments.expiresAt, now)))
    .limit(limit)
  if (due.length === 0) return []
  return ctx.db.transaction((tx) => refreshPayments(tx, { paymentIds: due.map((d) => d.id), now }))
}
