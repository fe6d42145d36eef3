import { describe, expect, test } from 'bun:test'
import { TollgateError } from './errors.ts'
import { formatAmount, parseAmount } from './money.ts'

const maxUnits = 10n ** 78n - 1n

/** Runs `fn` and returns what it threw (fails the test when it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

function expectInvalidAmount(input: string, decimals: number) {
  const err = thrown(() => parseAmount(input, decimals))
  expect(err).toBeInstanceOf(TollgateError)
  expect((err as TollgateError).code).toBe('INVALID_AMOUNT')
  expect((err as TollgateError).field).toBe('amount')
}

/** splitmix64: a tiny seeded PRNG, so a failing case can be replayed. */
function prng(seed: bigint) {
  let state = BigInt.asUintN(64, seed)
  return (): bigint => {
    state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n)
    let z = state
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n)
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn)
    return z ^ (z >> 31n)
  }
}

describe('parseAmount / formatAmount', () => {
  test('default: parses whole units into exact base units and formats them back', () => {
    expect(parseAmount('12.5', 6)).toBe(12_500_000n)
    expect(formatAmount(12_500_000n, 6)).toBe('12.5')
  })

  const cases: Array<[input: string, decimals: number, units: bigint]> = [
    ['1', 0, 1n],
    ['42', 0, 42n],
    ['123456789012345678901234567890', 0, 123456789012345678901234567890n],
    ['1', 6, 1_000_000n],
    ['0.000001', 6, 1n],
    ['12.345678', 6, 12_345_678n],
    ['1000000.5', 6, 1_000_000_500_000n],
    ['0.00000001', 8, 1n],
    ['21000000', 8, 2_100_000_000_000_000n],
    ['1.23456789', 8, 123_456_789n],
    ['0.000000000000000001', 18, 1n],
    ['1', 18, 10n ** 18n],
    ['123456789.123456789123456789', 18, 123456789123456789123456789n],
    ['0.1', 18, 10n ** 17n],
  ]
  for (const [input, decimals, units] of cases) {
    test(`args: "${input}" with ${decimals} decimals is ${units} base units, and back`, () => {
      expect(parseAmount(input, decimals)).toBe(units)
      expect(formatAmount(units, decimals)).toBe(input)
    })
  }

  test('args: trailing fraction zeros within the decimals are accepted and dropped on format', () => {
    expect(parseAmount('1.500000', 6)).toBe(1_500_000n)
    expect(formatAmount(parseAmount('1.500000', 6), 6)).toBe('1.5')
    expect(parseAmount('2.0', 8)).toBe(200_000_000n)
  })

  test('args: the field name is carried on the error', () => {
    const err = thrown(() => parseAmount('-1', 6, 'input.amount')) as TollgateError
    expect(err.code).toBe('INVALID_AMOUNT')
    expect(err.field).toBe('input.amount')
  })

  test('behavior: 10^78 - 1 base units (numeric(78,0) max) is accepted at every decimals', () => {
    const digits = maxUnits.toString()
    expect(digits).toHaveLength(78)
    for (const decimals of [0, 6, 8, 18]) {
      const text = formatAmount(maxUnits, decimals)
      expect(parseAmount(text, decimals)).toBe(maxUnits)
    }
    expect(parseAmount('9'.repeat(78), 0)).toBe(maxUnits)
    expect(parseAmount(`${'9'.repeat(60)}.${'9'.repeat(18)}`, 18)).toBe(maxUnits)
  })

  test('error: 10^78 base units is refused as too large', () => {
    const tooBig = 10n ** 78n
    for (const decimals of [0, 6, 8, 18]) expectInvalidAmount(formatAmount(tooBig, decimals), decimals)
    expectInvalidAmount(`1${'0'.repeat(78)}`, 0)
    expectInvalidAmount(`1${'0'.repeat(60)}`, 18)
    expect(() => parseAmount(`1${'0'.repeat(78)}`, 0)).toThrow(/too large/)
  })

  const malformed: Array<[input: string, decimals: number]> = [
    ['', 6],
    [' ', 6],
    [' 1', 6],
    ['1 ', 6],
    ['1\n', 6],
    ['\t1', 6],
    ['-1', 6],
    ['+1', 6],
    ['-0.5', 6],
    ['1e6', 6],
    ['1E6', 6],
    ['1e-6', 6],
    ['0x10', 6],
    ['0b1', 6],
    ['01', 6],
    ['00', 6],
    ['00.5', 6],
    ['1.', 6],
    ['.5', 6],
    ['.', 6],
    ['1,5', 6],
    ['1,000', 6],
    ['1_000', 6],
    ['1.2.3', 6],
    ['1 000', 6],
    ['abc', 6],
    ['NaN', 6],
    ['Infinity', 6],
    ['１', 6],
    ['١', 6],
    ['1.1234567', 6],
    ['0.000000001', 8],
    ['0.0000000000000000001', 18],
    ['1.5', 0],
    ['1.0', 0],
    ['0', 6],
    ['0.0', 6],
    ['0.000000', 6],
    ['0', 0],
    [`1${'0'.repeat(100)}`, 0],
    [`0.${'0'.repeat(99)}1`, 200],
  ]
  for (const [input, decimals] of malformed) {
    const label = input.length > 30 ? `${input.slice(0, 8)}… (${input.length} chars)` : input
    test(`error: ${JSON.stringify(label)} with ${decimals} decimals is refused with INVALID_AMOUNT`, () => {
      expectInvalidAmount(input, decimals)
    })
  }

  test('behavior: formatAmount writes zero, sub-unit and negative values plainly', () => {
    expect(formatAmount(0n, 6)).toBe('0')
    expect(formatAmount(0n, 0)).toBe('0')
    expect(formatAmount(1n, 18)).toBe('0.000000000000000001')
    expect(formatAmount(10n, 2)).toBe('0.1')
    expect(formatAmount(100n, 2)).toBe('1')
    expect(formatAmount(-1_500_000n, 6)).toBe('-1.5')
    expect(formatAmount(-1n, 8)).toBe('-0.00000001')
    expect(formatAmount(7n, 0)).toBe('7')
  })

  test('behavior: parse(format(x)) === x for thousands of random base-unit values (seeded)', () => {
    const next = prng(0x70_11_6a_7en)
    let checked = 0
    for (let i = 0; i < 4000; i++) {
      // random magnitude: 1 to 78 digits, so small and huge values are both common
      const digits = Number(next() % 78n) + 1
      let x = 0n
      while (x.toString().length < digits) x = x * 2n ** 64n + next()
      x = (x % 10n ** BigInt(digits)) % (maxUnits + 1n)
      if (x === 0n) x = 1n
      for (const decimals of [0, 6, 8, 18]) {
        const text = formatAmount(x, decimals)
        expect(text).toMatch(/^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/)
        const back = parseAmount(text, decimals)
        if (back !== x) throw new Error(`round trip failed for ${x} at ${decimals} decimals: ${back}`)
        checked++
      }
    }
    expect(checked).toBe(16_000)
  })
})
