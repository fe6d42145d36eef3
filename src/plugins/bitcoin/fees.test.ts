import { describe, expect, test } from 'bun:test'
import { isDriverError } from '@tollgate/sdk'
import { scaledDecimal } from './decimal.ts'
import { chooseFeeRate, feeFor, feeRateFromBtcPerKvB, feeRateFromSatPerVb, formatRate } from './fees.ts'

/** What `fn` throws; fails the test when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  expect.unreachable('expected a throw')
}

describe('decimal reading of JSON numbers', () => {
  test('default: BTC amounts and rates as nodes write them become exact satoshis', () => {
    expect(scaledDecimal(0.00012345, 8)).toBe(12345n)
    expect(scaledDecimal(21_000_000, 8)).toBe(2_100_000_000_000_000n)
    expect(scaledDecimal(0.1, 8)).toBe(10_000_000n)
    // values a double cannot hold exactly still read as the literal they were written as
    expect(scaledDecimal(0.29, 8)).toBe(29_000_000n)
    expect(scaledDecimal(1.13, 8)).toBe(113_000_000n)
    expect(scaledDecimal(20999999.97690001, 8)).toBe(2_099_999_997_690_001n)
    expect(scaledDecimal(-0.5, 8)).toBe(-50_000_000n)
  })

  test('args: exponent forms (1e-7, 1.5e-8) are read from the exponent, not by multiplying', () => {
    expect(String(1e-7)).toBe('1e-7')
    expect(scaledDecimal(1e-7, 8)).toBe(10n)
    expect(scaledDecimal(1.5e-7, 8)).toBe(15n)
    expect(scaledDecimal(1e21, 0)).toBe(10n ** 21n)
  })

  test('error: more decimals than the scale are refused unless rounding up is asked for', () => {
    expect(() => scaledDecimal(0.000000001, 8)).toThrow(/more than 8 decimals/)
    expect(scaledDecimal(0.000012345, 8, 'ceil')).toBe(1235n)
    expect(scaledDecimal(1.5e-9, 8, 'ceil')).toBe(1n)
    expect(() => scaledDecimal(Number.NaN, 8)).toThrow(/finite/)
  })

  test('error: a value that is not finite or has too many decimals is a non-retryable INVALID_DECIMAL', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, 0.000000001]) {
      const err = thrown(() => scaledDecimal(value, 8))
      expect(isDriverError(err), String(value)).toBe(true)
      expect(err, String(value)).toMatchObject({ code: 'INVALID_DECIMAL', retryable: false })
    }
  })
})

describe('fee rates', () => {
  test('default: sat/vB options and BTC/kvB estimates in sat/kvB; fees round up', () => {
    expect(feeRateFromSatPerVb(2)).toBe(2000n)
    expect(feeRateFromSatPerVb(1.5)).toBe(1500n)
    expect(feeRateFromSatPerVb(0.0011)).toBe(2n)
    expect(feeRateFromBtcPerKvB(0.00001)).toBe(1000n)
    expect(feeRateFromBtcPerKvB(0.00012345)).toBe(12345n)
    expect(feeFor(2000n, 141)).toBe(282n)
    expect(feeFor(1234n, 141)).toBe(174n)
    expect(formatRate(1500n)).toBe('1.5')
  })

  test('behavior: estimate or fallback, floored at the relay fee, bumped, refused above the maximum', () => {
    const policy = { fallback: 2000n, max: 10_000n, minRelay: 1000n }
    expect(chooseFeeRate(undefined, policy)).toBe(2000n)
    expect(chooseFeeRate(4321n, policy)).toBe(4321n)
    expect(chooseFeeRate(500n, policy)).toBe(1000n)
    expect(chooseFeeRate(4000n, policy, 125)).toBe(5000n)
    expect(chooseFeeRate(1001n, policy, 150)).toBe(1502n)
    expect(() => chooseFeeRate(10_001n, policy)).toThrow(
      expect.objectContaining({ code: 'FEE_TOO_HIGH', retryable: true }),
    )
    expect(() => chooseFeeRate(9000n, policy, 120)).toThrow(expect.objectContaining({ code: 'FEE_TOO_HIGH' }))
    expect(() => chooseFeeRate(1000n, policy, 90)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }))
  })

  test('error: a configured fee rate that is not positive is a non-retryable INVALID_FEE_RATE', () => {
    for (const rate of [0, -1, Number.NaN]) {
      const err = thrown(() => feeRateFromSatPerVb(rate))
      expect(isDriverError(err), String(rate)).toBe(true)
      expect(err, String(rate)).toMatchObject({ code: 'INVALID_FEE_RATE', retryable: false })
      expect((err as Error).message).toBe(`a fee rate must be positive, got ${rate}`)
    }
  })
})
