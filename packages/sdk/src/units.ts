/** Largest magnitude a `numeric(78,0)` column (where the gateway keeps amounts) holds. */
const maxBaseUnits = 10n ** 78n - 1n
const decimalPattern = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/

/** A decimal string read as base units, or why it cannot be. */
export type UnitsParse = { ok: true; units: bigint } | { ok: false; reason: string }

/**
 * Reads a positive decimal string in whole units as base units, exactly (no floats). Refuses signs, exponents,
 * hex, spaces, leading zeros, more fraction digits than `decimals`, zero, and values beyond 78 digits.
 *
 * @example
 * parseUnits('12.5', 6) // { ok: true, units: 12500000n }
 * parseUnits('1e3', 6)  // { ok: false, reason: 'amount must be a plain decimal string such as "12.5"' }
 */
export function parseUnits(input: string, decimals: number): UnitsParse {
  if (input.length > 100) return { ok: false, reason: 'amount is too long' }
  const match = decimalPattern.exec(input)
  if (!match) return { ok: false, reason: 'amount must be a plain decimal string such as "12.5"' }
  const whole = match[1] ?? '0'
  const fraction = match[2] ?? ''
  if (fraction.length > decimals)
    return { ok: false, reason: `amount has more than ${decimals} decimal places` }
  const units = BigInt(whole + fraction.padEnd(decimals, '0'))
  if (units === 0n) return { ok: false, reason: 'amount must be greater than zero' }
  if (units > maxBaseUnits) return { ok: false, reason: 'amount is too large' }
  return { ok: true, units }
}

/**
 * Formats base units as a decimal string in whole units, without trailing zeros.
 *
 * @example
 * formatUnits(12500000n, 6) // '12.5'
 */
export function formatUnits(units: bigint, decimals: number): string {
  const negative = units < 0n
  const digits = (negative ? -units : units).toString().padStart(decimals + 1, '0')
  const whole = digits.slice(0, digits.length - decimals)
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '')
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}
