import { DriverError } from '@tollgate/sdk'

/**
 * An int64 of a java-tron JSON answer as a bigint. java-tron prints int64 fields (sun, energy, weights) as JSON
 * numbers, which `JSON.parse` turns into doubles: exact only up to 2^53 − 1 (9,007,199,254,740,991 sun ≈ 9.007
 * billion TRX). Anything beyond that (or not an integer) has already lost digits, so it throws a non-retryable
 * `UNSAFE_NUMBER` instead of computing with a rounded value; a missing field (java-tron leaves out zeros) is 0.
 * The conversion goes through the decimal string form.
 *
 * @example
 * int64Of(1_100_000, 'fee') // 1100000n
 * int64Of(undefined, 'balance') // 0n
 */
export function int64Of(value: unknown, what: string): bigint {
  if (value === undefined || value === null) return 0n
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value)
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value.toString())
  throw new DriverError(
    'UNSAFE_NUMBER',
    `${what}: ${String(value)} is not an exact integer (JSON numbers are exact to 2^53)`,
    {
      retryable: false,
    },
  )
}

/** `ceil(a / b)` for non-negative bigints. */
export const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b

export const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b)
export const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b)
