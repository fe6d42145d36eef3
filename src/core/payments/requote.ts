import { and, eq, inArray, isNotNull, isNull, lt } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { payments } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { assetById } from '../chains.ts'
import { TollgateError } from '../errors.ts'
import type { RateBook } from '../pricing/book.ts'
import { parseDecimal, priceToUnits, unitsValue } from '../pricing/decimal.ts'
import { type PaymentChange, recordPaymentNotice, refreshPayments } from './refresh.ts'

export type RequoteContext = { db: Db; chains: ChainRegistry; rateBook?: RateBook; now?: () => Date }

export type RequoteResult = { requoted: number; unavailable: string[]; changes: PaymentChange[] }

/**
 * Quotes again the fiat-priced payments whose rate lock ran out while they are still waiting for money (PENDING,
 * PARTIALLY_PAID): money already received keeps the rate it came in at, and what is still owed (in fiat, at the
 * rate it was quoted at) is quoted at the current rate (rounded up) and locked anew. A re-quote that moves the
 * amount is a `payment.requoted` event carrying the old and new rate and amount (the same amount only renews the
 * lock); a pair without a fresh rate is left as it is (and reported) until one comes. At most
 * `limit` a call; rows another worker holds are skipped.
 *
 * @example
 * const { requoted } = await requoteExpiredLocks({ db, chains, rateBook })
 */
export async function requoteExpiredLocks(ctx: RequoteContext, limit = 200): Promise<RequoteResult> {
  const result: RequoteResult = { requoted: 0, unavailable: [], changes: [] }
  const book = ctx.rateBook
  if (!book) return result
  const now = ctx.now?.() ?? new Date()
  await ctx.db.transaction(async (tx) => {
    const due = await tx
      .select()
      .from(payments)
      .where(
        and(
          isNotNull(payments.priceAmount),
          // an invoice's methods are quoted with their invoice (requoteInvoices), for what the invoice still owes
          isNull(payments.invoiceId),
          // a chain no longer configured has no rate to quote in (its payments wait as they are)
          inArray(payments.chain, [...ctx.chains.keys()]),
          inArray(payments.status, ['PENDING', 'PARTIALLY_PAID']),
          lt(payments.rateLockedUntil, now),
        ),
      )
      .orderBy(payments.rateLockedUntil)
      .limit(limit)
      .for('update', { skipLocked: true })
    const moved: string[] = []
    for (const p of due) {
      const asset = assetById(ctx.chains, p.chain, p.asset)
      const pair = `${asset.symbol}/${p.priceCurrency}`
      let quote: ReturnType<RateBook['quote']>
      try {
        quote = book.quote(pair, now)
      } catch (err) {
        if (!(err instanceof TollgateError)) throw err
        result.unavailable.push(pair)
        continue
      }
      const oldRate = parseDecimal(p.rate, { field: 'rate' })
      const newRate = parseDecimal(quote.rate, { field: 'rate' })
      // what is still owed, in fiat at the rate it was quoted at: what arrived keeps its rate however many
      // re-quotes come (valuing the received part again at each new rate would drift the amount due)
      const owedUnits = p.amountDue - p.amountReceived
      // nothing arrived yet: the whole price, quoted afresh (not the earlier amount, rounded up once already)
      const owedFiat =
        p.amountReceived === 0n
          ? parseDecimal(p.priceAmount, { field: 'price' })
          : unitsValue(owedUnits, asset.decimals, oldRate)
      const amountDue =
        owedUnits > 0n ? p.amountReceived + priceToUnits(owedFiat, newRate, asset.decimals) : p.amountDue
      const amountTolerance = p.amountDue === 0n ? 0n : (p.amountTolerance * amountDue) / p.amountDue
      const lockedUntil = new Date(now.getTime() + book.lockSeconds * 1000)
      await tx
        .update(payments)
        .set({
          amountDue,
          amountTolerance,
          rate: quote.rate,
          rateSources: { method: quote.method, sources: quote.sources },
          rateAt: quote.at,
          rateLockedUntil: lockedUntil,
          updatedAt: now,
        })
        .where(eq(payments.id, p.id))
      moved.push(p.id)
      result.requoted++
      // the same amount at a new lock is no news for the merchant
      if (amountDue === p.amountDue) continue
      const notice = await recordPaymentNotice(
        tx,
        p.id,
        'payment.requoted',
        {
          rate: quote.rate,
          previousRate: p.rate,
          amountDue: amountDue.toString(),
          previousAmountDue: p.amountDue.toString(),
          rateLockedUntil: lockedUntil.toISOString(),
        },
        now,
      )
      if (notice) result.changes.push(notice)
    }
    // a smaller amount due may already be covered by what arrived
    result.changes.push(...(await refreshPayments(tx, { paymentIds: moved, now })))
  })
  return result
}
