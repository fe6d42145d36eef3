import { and, eq, inArray, lt } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { invoices, payments } from '../../db/schema/index.ts'
import { settleInvoices } from './invoice-refresh.ts'
import { type PaymentChange, refreshPayments } from './refresh.ts'

/**
 * Weighs again the invoices past their deadline that are still waiting (PENDING, PARTIALLY_PAID): one without
 * money becomes EXPIRED, one with part of it UNDERPAID, and their waiting methods expire with them. Driven by the
 * database, so a restart catches up; at most `limit` a call, each invoice in its own transaction.
 *
 * @example
 * const { invoices, changes } = await expireDueInvoices({ db })
 */
export async function expireDueInvoices(
  ctx: { db: Db; now?: () => Date },
  limit = 200,
): Promise<{ invoices: number; changes: PaymentChange[] }> {
  const now = ctx.now?.() ?? new Date()
  const due = await ctx.db
    .select({ id: invoices.id })
    .from(invoices)
    .where(and(inArray(invoices.status, ['PENDING', 'PARTIALLY_PAID']), lt(invoices.expiresAt, now)))
    .limit(limit)
  const changes: PaymentChange[] = []
  for (const { id } of due)
    await ctx.db.transaction(async (tx) => {
      const methods = await tx.select({ id: payments.id }).from(payments).where(eq(payments.invoiceId, id))
      // with methods, their refresh weighs the invoice (payments are locked before invoices)
      if (methods.length > 0)
        changes.push(...(await refreshPayments(tx, { paymentIds: methods.map((m) => m.id), now })))
      else await settleInvoices(tx, { invoiceIds: [id], fresh: new Map(), now })
    })
  return { invoices: due.length, changes }
}
