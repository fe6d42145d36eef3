import { DriverError } from '@tollgate/sdk'

const invalid = (message: string) => new DriverError('INVALID_DECIMAL', message, { retryable: false })

/**
 * The exact decimal a JSON number was written as, scaled to an integer: `value × 10^scale`, without
 * floating-point arithmetic.
 *
 * JSON-RPC nodes write BTC amounts and fee rates as decimal literals (`0.00012345`); `JSON.parse` turns them
 * into the nearest double. `String(value)` gives back the shortest decimal that maps to that same double
 * (ECMAScript Number::toString). That is the literal itself whenever no other literal of as many decimals maps
 * to the same double: always for 15 significant digits or fewer, and for every BTC amount up to 21 M with 8
 * decimals (near 2^24 BTC doubles are 2^-28 apart, under half of 10^-8). So the digits are read from that
 * string — mantissa and exponent (`1e-7`, `1.5e-8`) — and scaled with bigints; no float arithmetic happens.
 * Digits beyond `scale` are not dropped silently: `rounding` says whether to round up (`ceil`, for fee rates: a
 * rate a hair too high never underpays) or to refuse them (`exact`, the default). What cannot be read (not
 * finite, too many decimals) is a non-retryable `INVALID_DECIMAL` DriverError.
 *
 * @example
 * scaledDecimal(0.00012345, 8) // 12345n  (BTC → satoshis)
 * scaledDecimal(1e-7, 8)       // 10n
 * scaledDecimal(1.5, 3)        // 1500n   (sat/vB → sat/kvB)
 * scaledDecimal(0.000012345, 8, 'ceil') // 1235n
 */
export function scaledDecimal(value: number, scale: number, rounding: 'exact' | 'ceil' = 'exact'): bigint {
  if (!Number.isFinite(value)) throw invalid(`not a finite number: ${value}`)
  const text = String(value)
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(text)
  if (!match) throw invalid(`not a decimal number: ${text}`)
  const [, sign, whole, fraction = '', exponent = '0'] = match
  // value = digits × 10^(exp − fraction length)
  const digits = BigInt(`${whole}${fraction}`)
  const shift = Number(exponent) - fraction.length + scale
  let scaled: bigint
  if (shift >= 0) scaled = digits * 10n ** BigInt(shift)
  else {
    const divisor = 10n ** BigInt(-shift)
    scaled = digits / divisor
    if (scaled * divisor !== digits) {
      if (rounding === 'exact') throw invalid(`${text} has more than ${scale} decimals`)
      // ceil of the magnitude; a negative value rounds towards zero, which is up as well
      if (sign !== '-') scaled += 1n
    }
  }
  return sign === '-' ? -scaled : scaled
}
