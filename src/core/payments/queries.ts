import { and, asc, desc, eq, inArray, lt, type SQL, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import {
  kytChecks,
  type PaymentStatus,
  paymentEvents,
  payments,
  refunds,
  transfers,
} from '../../db/schema/index.ts'
import { pageSize, toPage } from '../pages.ts'

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

export type PaymentFilter = {
  status?: PaymentStatus | null
  chain?: string | null
  orderId?: string | null
  /** Only payments in an exception (see `paymentException`): what needs the merchant's decision. */
  exception?: boolean | null
}

/**
 * The payments `paymentException` calls exceptions, as SQL: underpaid, rejected or canceled-but-paid without a
 * decision; completed with more confirmed than due and no overpayment refund; closed by a refund with confirmed
 * funds (those `refundableOf` counts) above what its live refunds of them return.
 */
const inException = sql`(
  (${payments.resolution} is null and (${payments.status} in ('UNDERPAID', 'REJECTED')
    or (${payments.status} = 'CANCELED' and ${payments.amountReceived} > 0)))
  or (${payments.status} = 'COMPLETED' and ${payments.amountConfirmed} > ${payments.amountDue}
    and not exists (select 1 from ${refunds} where ${refunds.paymentId} = ${payments.id}
      and ${refunds.overpayment} and ${refunds.status} not in ('FAILED', 'CANCELED')))
  or (${payments.resolution} = 'REFUNDED' and ${payments.status} <> 'COMPLETED'
    and (select coalesce(sum(${transfers.amount}), 0) from ${transfers}
      left join ${kytChecks} on ${kytChecks.subjectType} = 'transfer' and ${kytChecks.subjectId} = ${transfers.id}
      where ${transfers.paymentId} = ${payments.id} and ${transfers.status} = 'confirmed'
        and (${kytChecks.state} is null or ${kytChecks.state} not in ('pending', 'held')))
    > (select coalesce(sum(${refunds.amount}), 0) from ${refunds} where ${refunds.paymentId} = ${payments.id}
      and ${refunds.source} = 'UNCREDITED' and ${refunds.status} not in ('FAILED', 'CANCELED')))
)`

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
  const first = pageSize(params.first)
  const conditions: SQL[] = [eq(payments.merchantId, merchantId)]
  if (params.after) conditions.push(lt(payments.id, params.after))
  if (params.filter?.status) conditions.push(eq(payments.status, params.filter.status))
  if (params.filter?.chain) conditions.push(eq(payments.chain, params.filter.chain))
  if (params.filter?.orderId) conditions.push(eq(payments.orderId, params.filter.orderId))
  if (params.filter?.exception) conditions.push(inException)
  const rows = await ctx.db
    .select()
    .from(payments)
    .where(and(...conditions))
    .orderBy(desc(payments.id))
    .limit(first + 1)
  return toPage(rows, first)
}

export type PaymentEventRow = typeof paymentEvents.$inferSelect

/** The status history of a payment, oldest first. */
export async function listPaymentEvents(ctx: { db: Db }, paymentId: string): Promise<PaymentEventRow[]> {
  return (await listPaymentEventsFor(ctx, [paymentId])).get(paymentId) ?? []
}

/**
 * The status histories of many payments in one statement (for a page of them), each oldest first. Every id
 * asked for has an entry; ids repeated are read once.
 *
 * @example
 * const byPayment = await listPaymentEventsFor({ db }, page.map((p) => p.id))
 * byPayment.get(page[0].id)?.[0]?.type // 'payment.created'
 */
export async function listPaymentEventsFor(
  ctx: { db: Db },
  paymentIds: readonly string[],
): Promise<Map<string, PaymentEventRow[]>> {
  const byPayment = new Map<string, PaymentEventRow[]>(paymentIds.map((id) => [id, []]))
  if (byPayment.size === 0) return byPayment
  const rows = await ctx.db
    .select()
    .from(paymentEvents)
    .where(inArray(paymentEvents.paymentId, [...byPayment.keys()]))
    .orderBy(asc(paymentEvents.paymentId), asc(paymentEvents.seq))
  for (const row of rows) byPayment.get(row.paymentId)?.push(row)
  return byPayment
}
