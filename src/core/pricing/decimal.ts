import { TollgateError } from '../errors.ts'
import { divisionByZero, invalidDecimal, pricingArgument } from './errors.ts'

/**
 * An exact rational number: `num / den` over bigint, always reduced (gcd 1) with `den > 0`, so equal numbers
 * have equal fields.
 *
 * Why a fraction and not a mantissa with a scale: pricing divides (a price by a rate, `1 / (EUR/USD)` for an
 * inverted bridge leg) and averages (the median of an even count), and those results are not finite decimals.
 * A mantissa and scale would have to round at every such step, and each rounding's direction would need its own
 * argument for why the merchant is never short. As a fraction every intermediate value is exact and the one
 * rounding happens at the edge, stated there: base units up (`priceToUnits`), fiat reports down
 * (`unitsToFiat`), a resolved rate's text down (`resolveRate`). Reducing by the gcd after each step keeps the
 * numbers as small as the value allows; pricing chains are short (a bridge has two legs), so they stay small.
 */
export type Rational = { readonly num: bigint; readonly den: bigint }

/** How a value is rounded to the digits kept: `floor` towards −∞, `ceil` towards +∞, `half-up` to the nearest (ties away from zero). */
export type Rounding = 'floor' | 'ceil' | 'half-up'

/** A decimal string read exactly, or why it cannot be. */
export type DecimalParse = { ok: true; value: Rational } | { ok: false; reason: string }

/** The longest decimal string read (characters); longer text is refused before any arithmetic. */
export const maxDecimalLength = 100
/** Largest magnitude a `numeric(78,0)` column (where the gateway keeps amounts) holds. */
const maxBaseUnits = 10n ** 78n - 1n
const decimalPattern = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/

const abs = (n: bigint) => (n < 0n ? -n : n)
function gcd(a: bigint, b: bigint): bigint {
  let [x, y] = [abs(a), abs(b)]
  while (y !== 0n) [x, y] = [y, x % y]
  return x
}

/**
 * The rational `num / den`, reduced. Throws (a bug) when `den` is zero.
 *
 * @example
 * rational(50n, 100n) // { num: 1n, den: 2n }
 */
export function rational(num: bigint, den = 1n): Rational {
  if (den === 0n) throw divisionByZero()
  const sign = den < 0n ? -1n : 1n
  const g = gcd(num, den) || 1n
  return { num: (sign * num) / g, den: (sign * den) / g }
}

/**
 * Reads a positive plain decimal string (`"25.00"`, `"97123.45"`, `"0.00000015"`) exactly. Refuses signs,
 * exponents (`"1e3"`), hex, spaces, separators, leading zeros (`"007"`), a bare point (`"1."`, `".5"`), zero,
 * text longer than `maxDecimalLength`, and, when `maxFractionDigits` is given, more fraction digits than that.
 *
 * @example
 * decimalParse('25.00')      // { ok: true, value: { num: 25n, den: 1n } }
 * decimalParse('1e3')        // { ok: false, reason: 'must be a plain decimal string such as "12.5"' }
 * decimalParse('25.001', 2)  // { ok: false, reason: 'has more than 2 decimal places' }
 */
export function decimalParse(text: unknown, maxFractionDigits?: number): DecimalParse {
  if (typeof text !== 'string') return { ok: false, reason: 'must be a decimal string such as "12.5"' }
  if (text.length > maxDecimalLength)
    return { ok: false, reason: `is longer than ${maxDecimalLength} characters` }
  const match = decimalPattern.exec(text)
  if (!match) return { ok: false, reason: 'must be a plain decimal string such as "12.5"' }
  const fraction = match[2] ?? ''
  if (maxFractionDigits !== undefined && fraction.length > maxFractionDigits)
    return { ok: false, reason: `has more than ${maxFractionDigits} decimal places` }
  const value = rational(BigInt(`${match[1]}${fraction}`), 10n ** BigInt(fraction.length))
  if (value.num === 0n) return { ok: false, reason: 'must be greater than zero' }
  return { ok: true, value }
}

/**
 * `decimalParse` for the caller's input: the value, or an `INVALID_AMOUNT` `TollgateError` naming `field`.
 *
 * @example
 * parseDecimal('25.00', { field: 'price', maxFractionDigits: 2 }) // { num: 25n, den: 1n }
 * parseDecimal('-1', { field: 'price' }) // throws INVALID_AMOUNT 'price must be a plain decimal string…'
 */
export function parseDecimal(
  text: unknown,
  options: { field?: string; maxFractionDigits?: number } = {},
): Rational {
  const field = options.field ?? 'amount'
  const parsed = decimalParse(text, options.maxFractionDigits)
  if (!parsed.ok) throw invalidDecimal(field, `${field} ${parsed.reason}`)
  return parsed.value
}

/**
 * `a × b`, exactly.
 *
 * @example
 * multiply(rational(3n, 2n), rational(2n, 3n)) // { num: 1n, den: 1n }
 */
export const multiply = (a: Rational, b: Rational): Rational => rational(a.num * b.num, a.den * b.den)

/**
 * `a ÷ b`, exactly. Throws (a bug) when `b` is zero.
 *
 * @example
 * divide(rational(1n), rational(4n)) // { num: 1n, den: 4n }
 */
export function divide(a: Rational, b: Rational): Rational {
  if (b.num === 0n) throw divisionByZero()
  return rational(a.num * b.den, a.den * b.num)
}

/**
 * `a + b`, exactly.
 *
 * @example
 * add(rational(1n, 2n), rational(1n, 3n)) // { num: 5n, den: 6n }
 */
export const add = (a: Rational, b: Rational): Rational =>
  rational(a.num * b.den + b.num * a.den, a.den * b.den)
const subtract = (a: Rational, b: Rational): Rational =>
  rational(a.num * b.den - b.num * a.den, a.den * b.den)

/**
 * −1, 0 or 1 as `a` is less than, equal to or greater than `b` (a sort comparator).
 *
 * @example
 * compare(parseDecimal('0.1'), parseDecimal('0.10')) // 0
 */
export function compare(a: Rational, b: Rational): -1 | 0 | 1 {
  const left = a.num * b.den
  const right = b.num * a.den
  return left < right ? -1 : left > right ? 1 : 0
}

/**
 * The median of the values, exactly: the middle one of an odd count, the mean of the two middle ones of an even
 * count. Throws (a bug) for an empty list.
 *
 * @example
 * median(['1', '2', '4', '10'].map((t) => parseDecimal(t))) // { num: 3n, den: 1n }
 */
export function median(values: readonly Rational[]): Rational {
  if (values.length === 0) throw pricingArgument('the median of no values')
  const sorted = [...values].sort(compare)
  const mid = sorted.length >> 1
  const upper = sorted[mid] as Rational
  if (sorted.length % 2 === 1) return upper
  return multiply(add(sorted[mid - 1] as Rational, upper), rational(1n, 2n))
}

/**
 * How far `value` is from `reference`, relative to `reference`, in basis points (`|value − reference| /
 * reference × 10000`), exactly. Throws (a bug) when `reference` is zero.
 *
 * @example
 * distanceBps(parseDecimal('105'), parseDecimal('100')) // { num: 500n, den: 1n }
 */
export function distanceBps(value: Rational, reference: Rational): Rational {
  const diff = subtract(value, reference)
  return divide(
    multiply(rational(abs(diff.num), diff.den), rational(10_000n)),
    rational(abs(reference.num), reference.den),
  )
}

/**
 * The rate with the spread taken off in the merchant's favour: `rate × (10000 − bps) / 10000`. A rate is the
 * fiat price of one unit of the asset, so a lower rate means the buyer pays more of the asset. `bps` is an
 * integer from 0 to 9999 (a bug otherwise: the configuration is checked at boot).
 *
 * @example
 * applySpread(parseDecimal('100'), 50) // { num: 199n, den: 2n } (99.5)
 */
export function applySpread(rate: Rational, bps: number): Rational {
  if (!Number.isInteger(bps) || bps < 0 || bps >= 10_000)
    throw pricingArgument(`spread must be an integer from 0 to 9999 bps, got ${bps}`)
  return multiply(rate, rational(10_000n - BigInt(bps), 10_000n))
}

/** `n / d` rounded to an integer as `rounding` says; `d > 0`. */
function divideRounded(n: bigint, d: bigint, rounding: Rounding): bigint {
  const q = n / d // truncates towards zero
  const r = n % d
  if (r === 0n) return q
  if (rounding === 'floor') return n < 0n ? q - 1n : q
  if (rounding === 'ceil') return n > 0n ? q + 1n : q
  return 2n * abs(r) >= d ? q + (n < 0n ? -1n : 1n) : q
}

function checkDigits(name: string, digits: number) {
  if (!Number.isSafeInteger(digits) || digits < 0 || digits > 1000)
    throw pricingArgument(`${name} must be a whole number from 0 to 1000, got ${digits}`)
}

/**
 * The value as a plain decimal string with at most `maxFractionDigits` digits after the point, rounded as
 * `rounding` says (default `half-up`: to the nearest, ties away from zero), trailing zeros (and a bare point)
 * dropped. The integer digits are always all there, however many.
 *
 * @example
 * formatDecimal(rational(2n, 3n), 4)          // '0.6667'
 * formatDecimal(rational(2n, 3n), 4, 'floor') // '0.6666'
 * formatDecimal(parseDecimal('25.50'), 2)     // '25.5'
 */
export function formatDecimal(
  x: Rational,
  maxFractionDigits: number,
  rounding: Rounding = 'half-up',
): string {
  checkDigits('maxFractionDigits', maxFractionDigits)
  const scaled = divideRounded(x.num * 10n ** BigInt(maxFractionDigits), x.den, rounding)
  if (scaled === 0n) return '0'
  const digits = abs(scaled)
    .toString()
    .padStart(maxFractionDigits + 1, '0')
  const whole = digits.slice(0, digits.length - maxFractionDigits)
  const fraction = digits.slice(digits.length - maxFractionDigits).replace(/0+$/, '')
  return `${scaled < 0n ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}

/**
 * The value as a plain decimal string with every digit it has (a value of decimal inputs always ends: its
 * denominator has no factor but 2 and 5). Throws (a bug) for a value that does not end, such as 1/3.
 *
 * @example
 * exactDecimal(rational(25n, 8n)) // '3.125'
 */
export function exactDecimal(x: Rational): string {
  let den = x.den
  let twos = 0
  let fives = 0
  while (den % 2n === 0n) {
    den /= 2n
    twos++
  }
  while (den % 5n === 0n) {
    den /= 5n
    fives++
  }
  if (den !== 1n) throw pricingArgument('the value has no finite decimal form')
  return formatDecimal(x, Math.max(twos, fives), 'floor')
}

/** `floor(log10 |x|)` for a nonzero `x`, exactly: 4 for 97123.45, −1 for 0.5, −8 for 0.00000001. */
function magnitude(x: Rational): number {
  const n = abs(x.num)
  let e = n.toString().length - x.den.toString().length
  const atLeast = e >= 0 ? n >= x.den * 10n ** BigInt(e) : n * 10n ** BigInt(-e) >= x.den
  if (!atLeast) e -= 1
  return e
}

/**
 * The value as a plain decimal string keeping `significantDigits` significant digits (the integer digits are
 * never rounded away), rounded as `rounding` says (default `half-up`), trailing zeros dropped. Suits rates of any
 * size: `97123.45` and `0.000000000001234` keep the same relative precision.
 *
 * @example
 * formatSignificant(rational(1n, 3n), 5)            // '0.33333'
 * formatSignificant(rational(1n, 300000n), 3)       // '0.00000333'
 * formatSignificant(parseDecimal('97123.45'), 3)    // '97123'
 */
export function formatSignificant(
  x: Rational,
  significantDigits: number,
  rounding: Rounding = 'half-up',
): string {
  checkDigits('significantDigits', significantDigits)
  if (significantDigits === 0) throw pricingArgument('significantDigits must be at least 1')
  if (x.num === 0n) return '0'
  return formatDecimal(x, Math.max(0, significantDigits - 1 - magnitude(x)), rounding)
}

function checkDecimals(name: string, decimals: number) {
  if (!Number.isSafeInteger(decimals) || decimals < 0 || decimals > 78)
    throw pricingArgument(`${name} must be a whole number from 0 to 78, got ${decimals}`)
}

/**
 * The asset amount, in base units, that pays a fiat `price` at `rate` (fiat per one whole unit of the asset):
 * `price / rate × 10^assetDecimals`, rounded UP so the merchant is never short (the buyer pays at most one base
 * unit more than the exact amount). Both must be positive (a bug otherwise). Throws `INVALID_AMOUNT` on `price`
 * when the amount exceeds what the gateway stores (78 digits).
 *
 * @example
 * priceToUnits(parseDecimal('25.00'), parseDecimal('97123.45'), 8) // 25741n (sats; exactly 25740.43…)
 * priceToUnits(parseDecimal('25.00'), parseDecimal('1'), 6)        // 25000000n (USDT)
 * priceToUnits(parseDecimal('0.50'), parseDecimal('50000'), 8, 'floor') // 1000n (a tolerance: rounded down)
 */
export function priceToUnits(
  price: Rational,
  rate: Rational,
  assetDecimals: number,
  rounding: Rounding = 'ceil',
): bigint {
  checkDecimals('assetDecimals', assetDecimals)
  if (price.num <= 0n || rate.num <= 0n) throw pricingArgument('price and rate must be positive')
  const units = divideRounded(
    price.num * rate.den * 10n ** BigInt(assetDecimals),
    price.den * rate.num,
    rounding,
  )
  if (units > maxBaseUnits)
    throw new TollgateError(
      'INVALID_AMOUNT',
      'price comes to more of the asset than the gateway can hold',
      'price',
    )
  return units
}

/**
 * What `units` base units of an asset are worth in fiat at `rate` (fiat per one whole unit), for reports: a
 * plain decimal string with at most `fiatDecimals` fraction digits, rounded DOWN (a report never claims more
 * than was received), trailing zeros dropped as `formatAmount` does. `units` must not be negative.
 *
 * @example
 * unitsToFiat(25741n, 8, parseDecimal('97123.45'), 2) // '25' (exactly 25.00054…)
 * unitsToFiat(1n, 8, parseDecimal('97123.45'), 2)     // '0'
 */
export function unitsToFiat(
  units: bigint,
  assetDecimals: number,
  rate: Rational,
  fiatDecimals: number,
): string {
  checkDecimals('assetDecimals', assetDecimals)
  checkDecimals('fiatDecimals', fiatDecimals)
  if (units < 0n) throw pricingArgument('units must not be negative')
  if (rate.num <= 0n) throw pricingArgument('rate must be positive')
  return formatDecimal(unitsValue(units, assetDecimals, rate), fiatDecimals, 'floor')
}

/**
 * What `units` base units of an asset are worth at `rate` (fiat per whole unit), exactly; negative units give a
 * negative value (a shortfall).
 *
 * @example
 * unitsValue(20000n, 8, parseDecimal('50000')) // { num: 10n, den: 1n }
 */
export function unitsValue(units: bigint, assetDecimals: number, rate: Rational): Rational {
  checkDecimals('assetDecimals', assetDecimals)
  return multiply(rational(units, 10n ** BigInt(assetDecimals)), rate)
}
