import { formatUnits, parseUnits } from '@tollgate/sdk'
import { TollgateError } from './errors.ts'

/**
 * Parses a merchant's positive decimal string in whole units into base units, exactly, or throws
 * `INVALID_AMOUNT` naming `field` (the rules are the SDK's `parseUnits`).
 *
 * @example
 * parseAmount('12.5', 6) // 12500000n
 */
export function parseAmount(input: string, decimals: number, field = 'amount'): bigint {
  const parsed = parseUnits(input, decimals)
  if (!parsed.ok) throw new TollgateError('INVALID_AMOUNT', parsed.reason, field)
  return parsed.units
}

/**
 * Formats base units as a decimal string in whole units, without trailing zeros.
 *
 * @example
 * formatAmount(12500000n, 6) // '12.5'
 */
export const formatAmount: (units: bigint, decimals: number) => string = formatUnits
