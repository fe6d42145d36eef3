import { and, asc, desc, eq, lt, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { type PaymentStatus, paymentEvents, payments } from '../../db/schema/index.ts'
import { invalidInput } from '../errors.ts'

export type PaymentRow = typeof payments.$inferSelect

/** A merchant's payment, or undefined for an unknown id or another merchant's payment. */
export async function getPayment(
  ctx: { db: Db },
  merchantId: string,
  id: string,
): Promise<PaymentRow | undefined> {
  const [row] = await ctx.db
    .select()
    .from(payments)
    .where(and(eq(payments.id, id), eq(payments.merchantId, merchantId)))
    .limit(1)
  return row
}

export type PaymentFilter = { status?: PaymentStatus | null; chain?: string | null; orderId?: string | null }

/**
 * A page of a merchant's payments, newest first, by keyset on the time-ordered id.
 *
 * @example
 * const { rows, hasNextPage } = await listPayments({ db }, merchantId, { first: 20 })
 */
export async function listPayments(
  ctx: { db: Db },
  merchantId: string,
  params: { filter?: PaymentFilter | null; first?: number | null; after?: string | null },
): Promise<{ rows: PaymentRow[]; hasNextPage: boolean }> {
  const first = params.first ?? 20
  if (!Number.isInteger(first) || first < 1 || first > 100)
    throw invalidInput('first', 'first must be 1 to 100')
  const conditions: SQL[] = [eq(payments.merchantId, merchantId)]
  if (params.after) conditions.push(lt(payments.id, params.after))
  if (params.filter?.status) conditions.push(eq(payments.status, params.filter.status))
  if (params.filter?.chain) conditions.push(eq(payments.chain, params.filter.chain))
  if (params.filter?.orderId) conditions.push(eq(payments.orderId, params.filter.orderId))
  const rows = await ctx.db
    .select()
    .from(payments)
    .where(and(...conditions))
    .orderBy(desc(payments.id))
    .limit(first + 1)
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first }
}

/** The status history of a payment, oldest first. */
export async function listPaymentEvents(ctx: { db: Db }, paymentId: string) {
  return ctx.db
    .select()
    .from(paymentEvents)
    .where(eq(paymentEvents.paymentId, paymentId))
    .orderBy(asc(paymentEvents.seq))
}
