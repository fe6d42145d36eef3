import { and, asc, eq, inArray, lt } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { type InvoiceMethodQuote, invoiceEvents, invoices, payments } from '../../db/schema/index.ts'
import { TollgateError } from '../errors.ts'
import type { RateBook } from '../pricing/book.ts'
import { parseDecimal, priceToUnits } from '../pricing/decimal.ts'
import { invoiceOwed, repriceMethod } from './invoice-method.ts'
import type { PaymentChange } from './refresh.ts'

export type InvoiceRequoteResult = { requoted: number; unavailable: string[]; changes: PaymentChange[] }

/**
 * Quotes again the invoices whose rate lock ran out while they wait for money: every accepted asset at the
 * current rate for what is still owed, locked anew (an `invoice.requoted` event when a rate or an amount moved;
 * otherwise only the lock is renewed), and every chosen method still waiting priced to match. An invoice with any pair lacking a fresh rate is left as it is (and reported) until
 * one comes. Each invoice in its own transaction, its methods locked before it.
 *
 * @example
 * const { requoted } = await requoteInvoices({ db, rateBook })
 */
export async function requoteInvoices(
  ctx: { db: Db; rateBook?: RateBook; now?: () => Date },
  limit = 200,
): Promise<InvoiceRequoteResult> {
  const result: InvoiceRequoteResult = { requoted: 0, unavailable: [], changes: [] }
  const book = ctx.rateBook
  if (!book) return result
  const now = ctx.now?.() ?? new Date()
  const due = await ctx.db
    .select({ id: invoices.id })
    .from(invoices)
    .where(and(inArray(invoices.status, ['PENDING', 'PARTIALLY_PAID']), lt(invoices.rateLockedUntil, now)))
    .orderBy(asc(invoices.rateLockedUntil))
    .limit(limit)
  for (const { id } of due)
    await ctx.db.transaction(async (tx) => {
      const methods = await tx
        .select()
        .from(payments)
        .where(eq(payments.invoiceId, id))
        .orderBy(asc(payments.id))
        .for('update')
      const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, id)).for('update')
      if (!invoice || invoice.rateLockedUntil.getTime() >= now.getTime()) return
      if (invoice.status !== 'PENDING' && invoice.status !== 'PARTIALLY_PAID') return
      const owed = invoiceOwed(invoice, methods)
      if (owed.num <= 0n) return
      const quotes: InvoiceMethodQuote[] = []
      for (const q of invoice.methods) {
        const pair = `${q.symbol}/${invoice.priceCurrency}`
        try {
          const found = book.quote(pair, now)
          quotes.push({
            ...q,
            amountDue: priceToUnits(owed, parseDecimal(found.rate, { field: 'rate' }), q.decimals).toString(),
            rate: found.rate,
            rateSources: { method: found.method, sources: found.sources },
            rateAt: found.at.toISOString(),
          })
        } catch (err) {
          if (!(err instanceof TollgateError)) throw err
          result.unavailable.push(pair)
        }
      }
      if (quotes.length < invoice.methods.length) return
      const lockedUntil = new Date(now.getTime() + book.lockSeconds * 1000)
      // the same rates and amounts at a new lock are no news for the merchant: the lock is renewed silently
      const moved = quotes.some(
        (q, i) => q.rate !== invoice.methods[i]?.rate || q.amountDue !== invoice.methods[i]?.amountDue,
      )
      const seq = moved ? invoice.eventSeq + 1 : invoice.eventSeq
      await tx
        .update(invoices)
        .set({ methods: quotes, rateLockedUntil: lockedUntil, eventSeq: seq, updatedAt: now })
        .where(eq(invoices.id, id))
      if (moved)
        await tx.insert(invoiceEvents).values({
          invoiceId: id,
          merchantId: invoice.merchantId,
          seq,
          type: 'invoice.requoted',
          fromStatus: invoice.status,
          toStatus: invoice.status,
          data: {
            rateLockedUntil: lockedUntil.toISOString(),
            methods: quotes.map((q) => ({
              chain: q.chain,
              asset: q.asset,
              rate: q.rate,
              amountDue: q.amountDue,
            })),
          },
          createdAt: now,
        })
      result.requoted++
      for (const m of methods) result.changes.push(...(await repriceMethod(tx, book, m.id, now)))
    })
  return result
}
