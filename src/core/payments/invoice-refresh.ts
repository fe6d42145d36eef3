import { eq, inArray } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invoiceEvents, invoices, type PaymentStatus, payments } from '../../db/schema/index.ts'
import { invariantBroken } from '../errors.ts'
import { type MethodAmounts, weighInvoice } from './invoice-status.ts'
import { currencyDecimals } from './pricing.ts'
import { transitionEvent } from './status.ts'

/**
 * Weighs invoices again from their methods, inside the caller's transaction, and records a status change as an
 * `invoice.*` event (the webhook outbox). `fresh` holds the amounts of methods the caller is refreshing right
 * now (not yet written); other methods count as stored. Locks the invoice rows in id order, after the caller
 * locked the methods it refreshes (payments before invoices, everywhere), and answers each invoice's status.
 *
 * @example
 * const statuses = await settleInvoices(tx, { invoiceIds: ['inv_…'], fresh: new Map(), now })
 */
export async function settleInvoices(
  tx: Tx,
  params: {
    invoiceIds: readonly string[]
    fresh: ReadonlyMap<string, Omit<MethodAmounts, 'decimals'>>
    now: Date
  },
): Promise<Map<string, PaymentStatus>> {
  const statuses = new Map<string, PaymentStatus>()
  if (params.invoiceIds.length === 0) return statuses
  const ids = [...new Set(params.invoiceIds)].sort()
  const rows = await tx
    .select()
    .from(invoices)
    .where(inArray(invoices.id, ids))
    .orderBy(invoices.id)
    .for('update')
  const methods = await tx
    .select({
      id: payments.id,
      invoiceId: payments.invoiceId,
      chain: payments.chain,
      asset: payments.asset,
      priceAmount: payments.priceAmount,
      rate: payments.rate,
      amountDue: payments.amountDue,
      amountReceived: payments.amountReceived,
      amountConfirmed: payments.amountConfirmed,
      status: payments.status,
    })
    .from(payments)
    .where(inArray(payments.invoiceId, ids))
  for (const invoice of rows) {
    const amounts = methods
      .filter((m) => m.invoiceId === invoice.id)
      .map((m): MethodAmounts => {
        const quote = invoice.methods.find((q) => q.chain === m.chain && q.asset === m.asset)
        if (!quote)
          throw invariantBroken('INVOICE_METHOD_UNKNOWN', `payment ${m.id} is no method of ${invoice.id}`)
        const fresh = params.fresh.get(m.id)
        return fresh
          ? { ...fresh, decimals: quote.decimals }
          : {
              priceAmount: m.priceAmount,
              rate: m.rate,
              amountDue: m.amountDue,
              received: m.amountReceived,
              confirmed: m.amountConfirmed,
              decimals: quote.decimals,
              ownStatus: m.status,
            }
      })
    const totals = weighInvoice(
      {
        price: invoice.priceAmount,
        tolerance: invoice.priceTolerance,
        currencyDecimals: currencyDecimals(invoice.priceCurrency),
        expiresAt: invoice.expiresAt,
        now: params.now,
      },
      amounts,
    )
    statuses.set(invoice.id, totals.status)
    // the stored amounts are what this wrote before (numeric keeps the text's digits)
    if (
      totals.status === invoice.status &&
      totals.receivedText === invoice.amountReceivedFiat &&
      totals.confirmedText === invoice.amountConfirmedFiat
    )
      continue
    const changed = totals.status !== invoice.status
    const seq = changed ? invoice.eventSeq + 1 : invoice.eventSeq
    await tx
      .update(invoices)
      .set({
        status: totals.status,
        amountReceivedFiat: totals.receivedText,
        amountConfirmedFiat: totals.confirmedText,
        eventSeq: seq,
        updatedAt: params.now,
        completedAt: totals.status === 'COMPLETED' ? (invoice.completedAt ?? params.now) : null,
      })
      .where(eq(invoices.id, invoice.id))
    if (changed)
      await tx.insert(invoiceEvents).values({
        invoiceId: invoice.id,
        merchantId: invoice.merchantId,
        seq,
        type: transitionEvent(invoice.status, totals.status, 'invoice'),
        fromStatus: invoice.status,
        toStatus: totals.status,
        data: { amountReceivedFiat: totals.receivedText, amountConfirmedFiat: totals.confirmedText },
        createdAt: params.now,
      })
  }
  return statuses
}
