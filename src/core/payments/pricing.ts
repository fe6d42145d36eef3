import type { AssetInfo } from '@tollgate/sdk'
import { invalidInput, TollgateError } from '../errors.ts'
import type { RateBook } from '../pricing/book.ts'
import {
  add,
  formatDecimal,
  parseDecimal,
  priceToUnits,
  type Rational,
  unitsToFiat,
  unitsValue,
} from '../pricing/decimal.ts'
import { rateUnavailable } from '../pricing/errors.ts'
import type { PricedQuote } from './insert.ts'

/** A price as a merchant gives it: `{ amount: '25.00', currency: 'USD' }`. */
export type PriceInput = { amount: string; currency: string }

/**
 * ISO 4217 minor units of the currencies a price may be given in (digits after the point); a price with more is
 * refused. Codes not listed are not currencies the gateway prices in.
 */
const minorUnits: Record<string, number> = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  CHF: 2,
  CAD: 2,
  AUD: 2,
  NZD: 2,
  SGD: 2,
  HKD: 2,
  CNY: 2,
  INR: 2,
  BRL: 2,
  MXN: 2,
  ZAR: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  PLN: 2,
  CZK: 2,
  TRY: 2,
  RUB: 2,
  UAH: 2,
  AED: 2,
  SAR: 2,
  ILS: 2,
  THB: 2,
  PHP: 2,
  MYR: 2,
  IDR: 2,
  NGN: 2,
  ARS: 2,
  COP: 2,
  TWD: 2,
  JPY: 0,
  KRW: 0,
  VND: 0,
  CLP: 0,
  HUF: 2,
  RON: 2,
  BHD: 3,
  KWD: 3,
  OMR: 3,
  JOD: 3,
  TND: 3,
}

/** Most a price may be, in whole currency units: beyond any invoice, small enough to stay exact everywhere. */
const maxPrice = 10n ** 15n

/**
 * The fiat currency's minor units, or `INVALID_INPUT` for a code that is not one (`usd`, `XYZ`, `BTC`).
 *
 * @example
 * currencyDecimals('JPY') // 0
 */
export function currencyDecimals(currency: unknown, field = 'price.currency'): number {
  if (typeof currency !== 'string' || !Object.hasOwn(minorUnits, currency))
    throw invalidInput(field, `not a currency prices can be given in (ISO 4217 code such as USD or EUR)`)
  return minorUnits[currency] as number
}

/** A price checked: its exact value and currency. */
export type CheckedPrice = { value: Rational; text: string; currency: string; decimals: number }

/**
 * Checks a price: a known currency, a positive plain decimal with at most the currency's minor units, at most
 * 10^15. Typed errors name the field (`price.amount`, `price.currency`).
 *
 * @example
 * checkPrice({ amount: '25.00', currency: 'USD' }).value // 25
 */
export function checkPrice(price: unknown): CheckedPrice {
  if (typeof price !== 'object' || price === null)
    throw invalidInput('price', 'price must be { amount, currency }')
  const p = price as Record<string, unknown>
  const decimals = currencyDecimals(p.currency)
  const value = parseDecimal(p.amount, { field: 'price.amount', maxFractionDigits: decimals })
  if (value.num > maxPrice * value.den)
    throw new TollgateError('INVALID_AMOUNT', `price.amount is above ${maxPrice}`, 'price.amount')
  return { value, text: p.amount as string, currency: p.currency as string, decimals }
}

/** What a fiat price comes to in an asset at the current rate: the amount due, the tolerance, and the quote. */
export type PricedAmount = { amountDue: bigint; tolerance: bigint | undefined; priced: PricedQuote }

/**
 * Quotes a fiat price in an asset at the book's current rate for `SYMBOL/CURRENCY`: the amount due rounded up
 * to the asset's base units (the merchant is never short), a fiat tolerance rounded down, and the rate, its
 * sources and time to store with the payment, locked for the book's `lockSeconds`. No fresh rate: the book's
 * `RATE_UNAVAILABLE` (nothing is created).
 *
 * @example
 * const { amountDue, priced } = quotePrice(book, usdt, checkPrice({ amount: '25', currency: 'USD' }), { now })
 */
export function quotePrice(
  book: RateBook | undefined,
  asset: AssetInfo,
  price: CheckedPrice,
  options: { now: Date; toleranceFiat?: Rational },
): PricedAmount {
  const pair = `${asset.symbol}/${price.currency}`
  if (!book) throw rateUnavailable({ pair, reason: 'no-rule' }, 'price')
  const found = book.quote(pair, options.now, 'price')
  const rate = parseDecimal(found.rate, { field: 'rate' })
  const amountDue = priceToUnits(price.value, rate, asset.decimals)
  // rounded down: the tolerance never exceeds what the merchant allowed
  const tolerance =
    options.toleranceFiat === undefined
      ? undefined
      : priceToUnits(options.toleranceFiat, rate, asset.decimals, 'floor')
  return {
    amountDue,
    tolerance,
    priced: {
      priceAmount: price.text,
      priceCurrency: price.currency,
      rate: found.rate,
      rateSources: { method: found.method, sources: found.sources },
      rateAt: found.at,
      rateLockedUntil: new Date(options.now.getTime() + book.lockSeconds * 1000),
    },
  }
}

/**
 * Base units of an asset in a payment's fiat currency at its rate, rounded down (what over- and underpayment are
 * reported in). Null for a payment priced in the asset.
 *
 * @example
 * fiatValue(payment, 12_500_000n, 6) // '12.5'
 */
export function fiatValue(
  p: { rate: string | null; priceCurrency: string | null },
  units: bigint,
  assetDecimals: number,
): string | null {
  if (p.rate === null || p.priceCurrency === null) return null
  const rate = parseDecimal(p.rate, { field: 'rate' })
  return units === 0n ? '0' : unitsToFiat(units, assetDecimals, rate, currencyDecimals(p.priceCurrency))
}

/**
 * What arrived, in the payment's currency: the price less what is still owed at the current rate, or plus what
 * was paid beyond it — so money that came in under an earlier quote keeps the value it had then. Rounded down;
 * null for a payment priced in the asset.
 *
 * @example
 * receivedFiat(payment, 18) // '12.5' after half of a 25 USD payment arrived, whatever re-quotes came since
 */
export function receivedFiat(
  p: {
    rate: string | null
    priceAmount: string | null
    priceCurrency: string | null
    amountDue: bigint
    amountReceived: bigint
  },
  assetDecimals: number,
): string | null {
  if (p.rate === null || p.priceAmount === null || p.priceCurrency === null) return null
  const rate = parseDecimal(p.rate, { field: 'rate' })
  const price = parseDecimal(p.priceAmount, { field: 'price' })
  // price + (received − due) × rate, exactly
  const value = add(price, unitsValue(p.amountReceived - p.amountDue, assetDecimals, rate))
  return value.num <= 0n ? '0' : formatDecimal(value, currencyDecimals(p.priceCurrency), 'floor')
}
