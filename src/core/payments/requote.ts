import { and, eq, inArray, isNotNull, lt } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { payments } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { assetById } from '../chains.ts'
import { TollgateError } from '../errors.ts'
import type { RateBook } from '../pricing/book.ts'
import { divide, parseDecimal, priceToUnits, rational } from '../pricing/decimal.ts'
import { type PaymentChange, recordPaymentNotice, refreshPayments } from './refresh.ts'

export type RequoteContext = { db: Db; chains: ChainRegistry; rateBook?: RateBook; now?: () => Date }

export type RequoteResult = { requoted: number; unavailable: string[]; changes: PaymentChange[] }

/**
 * Quotes again the fiat-priced payments whose rate lock ran out while they are still waiting for money (PENDING,
 * PARTIALLY_PAID): money already received keeps the rate it came in at, and what is left of the price is quoted
 * at the current rate (rounded up) and locked anew. Each re-quote is a `payment.requoted` event carrying the old
 * and new rate and amount; a pair without a fresh rate is left as it is (and reported) until one comes. At most
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
      const price = parseDecimal(p.priceAmount, { field: 'price' })
      const oldRate = parseDecimal(p.rate, { field: 'rate' })
      const newRate = parseDecimal(quote.rate, { field: 'rate' })
      const scale = rational(10n ** BigInt(asset.decimals))
      // the fiat value of what arrived, at the rate it arrived under (exact)
      const receivedFiat = divide(multiplyUnits(p.amountReceived, oldRate), scale)
      const left = rational(
        price.num * receivedFiat.den - receivedFiat.num * price.den,
        price.den * receivedFiat.den,
      )
      const amountDue =
        left.num > 0n ? p.amountReceived + priceToUnits(left, newRate, asset.decimals) : p.amountReceived
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
      moved.push(p.id)
      result.requoted++
    }
    // a smaller amount due may already be covered by what arrived
    result.changes.push(...(await refreshPayments(tx, { paymentIds: moved, now })))
  })
  return result
}

const multiplyUnits = (units: bigint, rate: { num: bigint; den: bigint }) =>
  rational(units * rate.num, rate.den)
