import type { PaymentStatus } from '../../db/schema/index.ts'
import {
  add,
  compare,
  formatDecimal,
  parseDecimal,
  priceToUnits,
  type Rational,
  rational,
  unitsValue,
} from '../pricing/decimal.ts'
import { deriveStatus } from './status.ts'

/** What an invoice's method (one of its payments) holds, as the invoice weighs it. */
export type MethodAmounts = {
  priceAmount: string | null
  rate: string | null
  amountDue: bigint
  received: bigint
  confirmed: bigint
  decimals: number
  /** The method's own status before the invoice is weighed: HELD or REJECTED funds hold or end the invoice. */
  ownStatus: PaymentStatus
}

const zero = rational(0n)
/** A stored plain decimal, where zero is allowed (a tolerance of none, nothing received). */
export const decimalOrZero = (text: string): Rational =>
  /^0(\.0*)?$/.test(text) ? zero : parseDecimal(text, { field: 'amount' })

/**
 * What `units` of a method's asset are worth in the invoice's currency: the method's price less what is still
 * owed at its current rate (`price + (units − due) × rate`), so money that came in under an earlier quote keeps
 * the value it had then; never below zero. Exact for what arrived; funds still unconfirmed are valued at the
 * method's current rate when `units` is the confirmed part.
 *
 * @example
 * methodValue({ priceAmount: '25', rate: '1', amountDue: 25_000_000n, decimals: 6 }, 12_500_000n) // 12.5
 */
export function methodValue(
  m: Pick<MethodAmounts, 'priceAmount' | 'rate' | 'amountDue' | 'decimals'>,
  units: bigint,
): Rational {
  if (units === 0n || m.priceAmount === null || m.rate === null) return zero
  const rate = parseDecimal(m.rate, { field: 'rate' })
  const value = add(
    parseDecimal(m.priceAmount, { field: 'price' }),
    unitsValue(units - m.amountDue, m.decimals, rate),
  )
  return value.num <= 0n ? zero : value
}

/** An invoice's position across its methods, in the price's currency. */
export type InvoiceTotals = {
  status: PaymentStatus
  /** Exact sums of the methods' values. */
  received: Rational
  confirmed: Rational
  /** The same, as stored: plain decimals rounded down to the currency's minor units. */
  receivedText: string
  confirmedText: string
}

/**
 * The invoice's status from its methods, as a payment's status is derived from its transfers but in fiat: paid
 * once the methods' received values add up to the price less the tolerance, completed once their confirmed and
 * screening-allowed values do. Comparing at the currency's minor units is exact: the threshold has no more
 * digits than that. Funds screening allowed that cover the price complete it whatever else arrived; otherwise a
 * held method holds the invoice and a rejected one ends it.
 *
 * @example
 * weighInvoice({ price: '25', tolerance: '0', currencyDecimals: 2, expiresAt, now }, methods).status
 */
export function weighInvoice(
  invoice: { price: string; tolerance: string; currencyDecimals: number; expiresAt: Date; now: Date },
  methods: readonly MethodAmounts[],
): InvoiceTotals {
  let received = zero
  let confirmed = zero
  for (const m of methods) {
    received = add(received, methodValue(m, m.received))
    confirmed = add(confirmed, methodValue(m, m.confirmed))
  }
  // a confirmed value above the received one comes only from valuing at two rates: never claim more than arrived
  if (compare(confirmed, received) > 0) confirmed = received
  // floored: values are never negative here
  const minor = (x: Rational) => (x.num * 10n ** BigInt(invoice.currencyDecimals)) / x.den
  const derived = deriveStatus({
    amountDue: minor(decimalOrZero(invoice.price)),
    amountTolerance: minor(decimalOrZero(invoice.tolerance)),
    received: minor(received),
    confirmed: minor(confirmed),
    expiresAt: invoice.expiresAt,
    now: invoice.now,
  })
  const held = methods.some((m) => m.ownStatus === 'HELD')
  const rejected = methods.some((m) => m.ownStatus === 'REJECTED')
  return {
    status: derived === 'COMPLETED' ? derived : held ? 'HELD' : rejected ? 'REJECTED' : derived,
    received,
    confirmed,
    receivedText: formatDecimal(received, invoice.currencyDecimals, 'floor'),
    confirmedText: formatDecimal(confirmed, invoice.currencyDecimals, 'floor'),
  }
}

/**
 * A method's status once its invoice is weighed: a method holding confirmed, allowed funds of a COMPLETED invoice
 * is COMPLETED (those funds are credited, whichever share of the price they paid); otherwise its own status.
 *
 * @example
 * methodStatus('PARTIALLY_PAID', 'COMPLETED', 12_500_000n) // 'COMPLETED'
 */
export function methodStatus(own: PaymentStatus, invoice: PaymentStatus, confirmed: bigint): PaymentStatus {
  return invoice === 'COMPLETED' && confirmed > 0n ? 'COMPLETED' : own
}

/**
 * What is still owed on an invoice in its currency, from its stored total (the price less what arrived), never
 * below zero; with a method's quote, the same in that asset's base units at its rate (rounded up).
 *
 * @example
 * storedOwed({ priceAmount: '25.00', amountReceivedFiat: '12.5' }) // 12.5
 */
export function storedOwed(invoice: { priceAmount: string; amountReceivedFiat: string }): Rational {
  const received = decimalOrZero(invoice.amountReceivedFiat)
  const left = add(
    parseDecimal(invoice.priceAmount, { field: 'price' }),
    rational(-received.num, received.den),
  )
  return left.num < 0n ? zero : left
}

/** `owed` in a quoted asset's base units at its rate, rounded up (0 when nothing is owed). */
export function owedInAsset(owed: Rational, quote: { rate: string; decimals: number }): bigint {
  return owed.num === 0n
    ? 0n
    : priceToUnits(owed, parseDecimal(quote.rate, { field: 'rate' }), quote.decimals)
}
