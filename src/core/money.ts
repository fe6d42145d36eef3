import { TollgateError } from './errors.ts'

/** Largest magnitude a `numeric(78,0)` column holds. */
const maxBaseUnits = 10n ** 78n - 1n
const decimalPattern = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/

/**
 * Parses a positive decimal string in whole units into base units, exactly. Refuses signs, exponents, hex,
 * spaces, leading zeros, more fraction digits than the asset has, and values that do not fit numeric(78,0).
 *
 * @example
 * parseAmount('12.5', 6) // 12500000n
 */
export function parseAmount(input: string, decimals: number, field = 'amount'): bigint {
  if (input.length > 100) throw new TollgateError('INVALID_AMOUNT', 'amount is too long', field)
  const match = decimalPattern.exec(input)
  if (!match)
    throw new TollgateError('INVALID_AMOUNT', 'amount must be a plain decimal string such as "12.5"', field)
  const whole = match[1] ?? '0'
  const fraction = match[2] ?? ''
  if (fraction.length > decimals)
    throw new TollgateError('INVALID_AMOUNT', `amount has more than ${decimals} decimal places`, field)
  const units = BigInt(whole + fraction.padEnd(decimals, '0'))
  if (units === 0n) throw new TollgateError('INVALID_AMOUNT', 'amount must be greater than zero', field)
  if (units > maxBaseUnits) throw new TollgateError('INVALID_AMOUNT', 'amount is too large', field)
  return units
}

/**
 * Formats base units as a decimal string in whole units, without trailing zeros.
 *
 * @example
 * formatAmount(12500000n, 6) // '12.5'
 */
export function formatAmount(units: bigint, decimals: number): string {
  const negative = units < 0n
  const digits = (negative ? -units : units).toString().padStart(decimals + 1, '0')
  const whole = digits.slice(0, digits.length - decimals)
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '')
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}
