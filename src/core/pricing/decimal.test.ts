import { describe, expect, test } from 'bun:test'
import { GatewayError, TollgateError } from '../errors.ts'
import {
  applySpread,
  compare,
  decimalParse,
  distanceBps,
  divide,
  formatDecimal,
  formatSignificant,
  median,
  multiply,
  parseDecimal,
  priceToUnits,
  type Rational,
  rational,
  unitsToFiat,
} from './decimal.ts'

const d = (text: string) => parseDecimal(text)

/** Runs `fn` and returns what it threw (fails the test when it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

function expectBug(fn: () => unknown, code: string) {
  const err = thrown(fn)
  expect(err).toBeInstanceOf(GatewayError)
  expect((err as GatewayError).kind).toBe('bug')
  expect((err as GatewayError).code).toBe(code)
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

describe('priceToUnits / unitsToFiat', () => {
  test('default: 25.00 USD at BTC/USD 97123.45 is 25741 sats (exactly 25740.4365…, rounded up)', () => {
    const price = d('25.00')
    const rate = d('97123.45')
    const units = priceToUnits(price, rate, 8)
    expect(units).toBe(25741n)
    // exact check: 25740 sats pay less than the price, 25741 at least the price (2500000000 / 97123.45)
    const paid = (sats: bigint) => multiply(rational(sats, 10n ** 8n), rate)
    expect(compare(paid(25740n), price)).toBe(-1)
    expect(compare(paid(25741n), price)).toBe(1)
    expect(divide(multiply(price, rational(10n ** 8n)), rate)).toEqual(rational(50_000_000_000n, 1_942_469n))
  })

  test('default: 25.00 USD of USDT (6 decimals) at 1 is 25000000 units, with no rounding', () => {
    expect(priceToUnits(d('25.00'), d('1'), 6)).toBe(25_000_000n)
    expect(unitsToFiat(25_000_000n, 6, d('1'), 2)).toBe('25')
  })

  test('behavior: an exact result is not rounded up; any remainder rounds up by one base unit', () => {
    expect(priceToUnits(d('10'), d('4'), 2)).toBe(250n) // 2.5 exactly
    expect(priceToUnits(d('10'), d('3'), 2)).toBe(334n) // 333.33… → 334
    expect(priceToUnits(d('0.01'), d('1000000000'), 8)).toBe(1n) // 0.001 sat → 1, never 0
    expect(priceToUnits(d('1'), d('3'), 0)).toBe(1n)
  })

  test('behavior: the merchant is never short (random prices and rates: units − 1 pay less, units pay at least the price)', () => {
    const next = prng(20_250_101n)
    for (let i = 0; i < 500; i++) {
      const price = rational((next() % 10n ** 12n) + 1n, 10n ** (next() % 9n))
      const rate = rational((next() % 10n ** 15n) + 1n, 10n ** (next() % 13n))
      const decimals = Number(next() % 19n)
      const units = priceToUnits(price, rate, decimals)
      const paid = (u: bigint) => multiply(rational(u, 10n ** BigInt(decimals)), rate)
      expect(compare(paid(units), price)).toBeGreaterThanOrEqual(0)
      expect(compare(paid(units - 1n), price)).toBe(-1)
    }
  })

  test('behavior: unitsToFiat rounds down, so a report never shows more than was received', () => {
    // 25741 sats × 97123.45 / 1e8 = 25.0005472645…
    expect(unitsToFiat(25_741n, 8, d('97123.45'), 2)).toBe('25')
    expect(unitsToFiat(25_741n, 8, d('97123.45'), 6)).toBe('25.000547')
    expect(unitsToFiat(25_740n, 8, d('97123.45'), 2)).toBe('24.99') // 24.99957… not 25.00
    expect(unitsToFiat(1n, 8, d('97123.45'), 2)).toBe('0')
    expect(unitsToFiat(0n, 8, d('97123.45'), 2)).toBe('0')
  })

  test('args: huge values (80+ digits) are exact; a result beyond 78 digits is refused as INVALID_AMOUNT on price', () => {
    const huge = `${'9'.repeat(85)}.${'1'.repeat(10)}`
    // a huge rate makes any price one base unit at least
    expect(priceToUnits(d('0.01'), d(huge), 18)).toBe(1n)
    // 10^60 fiat at rate 1 with 18 decimals is 10^78 units: one more than a numeric(78,0) holds
    const err = thrown(() => priceToUnits(d(`1${'0'.repeat(60)}`), d('1'), 18))
    expect(err).toBeInstanceOf(TollgateError)
    expect((err as TollgateError).code).toBe('INVALID_AMOUNT')
    expect((err as TollgateError).field).toBe('price')
    expect(priceToUnits(d(`${'9'.repeat(60)}`), d('1'), 18)).toBe(10n ** 78n - 10n ** 18n)
    expect(unitsToFiat(10n ** 77n, 0, d(`1${'0'.repeat(10)}`), 2)).toBe(`1${'0'.repeat(87)}`)
  })

  test('error: zero or negative prices and rates, and impossible decimals, are bugs of the caller', () => {
    expectBug(() => priceToUnits(rational(0n), d('1'), 6), 'PRICING_BAD_ARGUMENT')
    expectBug(() => priceToUnits(rational(-5n), d('1'), 6), 'PRICING_BAD_ARGUMENT')
    expectBug(() => priceToUnits(d('1'), rational(0n), 6), 'PRICING_BAD_ARGUMENT')
    expectBug(() => priceToUnits(d('1'), rational(-1n), 6), 'PRICING_BAD_ARGUMENT')
    expectBug(() => priceToUnits(d('1'), d('1'), -1), 'PRICING_BAD_ARGUMENT')
    expectBug(() => priceToUnits(d('1'), d('1'), 1.5), 'PRICING_BAD_ARGUMENT')
    expectBug(() => priceToUnits(d('1'), d('1'), 79), 'PRICING_BAD_ARGUMENT')
    expectBug(() => unitsToFiat(-1n, 8, d('1'), 2), 'PRICING_BAD_ARGUMENT')
    expectBug(() => unitsToFiat(1n, 8, rational(0n), 2), 'PRICING_BAD_ARGUMENT')
    expectBug(() => unitsToFiat(1n, 8, d('1'), Number.NaN), 'PRICING_BAD_ARGUMENT')
  })
})

describe('decimalParse / parseDecimal', () => {
  test('default: reads a plain decimal exactly, as a reduced fraction', () => {
    expect(d('25.00')).toEqual({ num: 25n, den: 1n })
    expect(d('97123.45')).toEqual({ num: 1_942_469n, den: 20n })
    expect(d('0.5')).toEqual({ num: 1n, den: 2n })
    expect(d('0.00000015')).toEqual({ num: 3n, den: 20_000_000n })
  })

  test('args: huge values and long fractions are exact (80+ digits, 40 fraction digits)', () => {
    const whole = `1${'0'.repeat(84)}7`
    expect(d(whole)).toEqual({ num: BigInt(whole), den: 1n })
    const fraction = `0.${'0'.repeat(39)}1`
    expect(d(fraction)).toEqual({ num: 1n, den: 10n ** 40n })
    const both = `${'9'.repeat(50)}.${'3'.repeat(40)}`
    expect(formatDecimal(d(both), 40)).toBe(both)
  })

  const refused: Array<[input: unknown, reason: RegExp]> = [
    ['', /plain decimal/],
    [' 1', /plain decimal/],
    ['1 ', /plain decimal/],
    ['+1', /plain decimal/],
    ['-1', /plain decimal/],
    ['-0.5', /plain decimal/],
    ['1e3', /plain decimal/],
    ['1E-3', /plain decimal/],
    ['0x10', /plain decimal/],
    ['1_000', /plain decimal/],
    ['1,000.00', /plain decimal/],
    ['1.', /plain decimal/],
    ['.5', /plain decimal/],
    ['007', /plain decimal/],
    ['00.5', /plain decimal/],
    ['NaN', /plain decimal/],
    ['Infinity', /plain decimal/],
    ['١٢', /plain decimal/],
    ['1.2.3', /plain decimal/],
    ['0', /greater than zero/],
    ['0.000', /greater than zero/],
    [`1${'0'.repeat(100)}`, /longer than 100/],
    [25, /decimal string/],
    [25n, /decimal string/],
    [null, /decimal string/],
    [undefined, /decimal string/],
  ]
  for (const [input, reason] of refused)
    test(`error: refuses ${typeof input === 'string' ? JSON.stringify(input.slice(0, 20)) : String(input)}`, () => {
      const parsed = decimalParse(input)
      expect(parsed.ok).toBe(false)
      expect(parsed.ok ? '' : parsed.reason).toMatch(reason)
    })

  test('args: maxFractionDigits refuses over-precision and accepts up to it (trailing zeros count)', () => {
    expect(decimalParse('25.001', 2)).toEqual({ ok: false, reason: 'has more than 2 decimal places' })
    expect(decimalParse('25.000', 2).ok).toBe(false)
    expect(decimalParse('25.01', 2)).toEqual({ ok: true, value: rational(2501n, 100n) })
    expect(decimalParse('25', 0)).toEqual({ ok: true, value: rational(25n) })
    expect(decimalParse('25.0', 0).ok).toBe(false)
  })

  test('error: parseDecimal throws INVALID_AMOUNT naming the field', () => {
    const err = thrown(() => parseDecimal('1e3', { field: 'price' }))
    expect(err).toBeInstanceOf(TollgateError)
    expect((err as TollgateError).code).toBe('INVALID_AMOUNT')
    expect((err as TollgateError).field).toBe('price')
    expect((err as TollgateError).message).toBe('price must be a plain decimal string such as "12.5"')
    const over = thrown(() =>
      parseDecimal('1.234', { field: 'price', maxFractionDigits: 2 }),
    ) as TollgateError
    expect(over.message).toBe('price has more than 2 decimal places')
    expect((thrown(() => parseDecimal('-1')) as TollgateError).field).toBe('amount')
  })
})

describe('arithmetic', () => {
  test('default: multiply, divide and compare are exact (0.1 × 3 is 0.3, 1 ÷ 3 × 3 is 1)', () => {
    expect(multiply(d('0.1'), d('3'))).toEqual(d('0.3'))
    expect(multiply(divide(d('1'), d('3')), d('3'))).toEqual(rational(1n))
    expect(compare(d('0.1'), d('0.10'))).toBe(0)
    expect(compare(d('0.1'), d('0.09'))).toBe(1)
    expect(compare(d('0.09'), d('0.1'))).toBe(-1)
    expect(compare(rational(-1n), rational(1n, 1000n))).toBe(-1)
  })

  test('behavior: a rational is always reduced with a positive denominator', () => {
    expect(rational(50n, 100n)).toEqual({ num: 1n, den: 2n })
    expect(rational(3n, -6n)).toEqual({ num: -1n, den: 2n })
    expect(rational(0n, -7n)).toEqual({ num: 0n, den: 1n })
    expect(divide(d('2'), rational(-4n))).toEqual({ num: -1n, den: 2n })
  })

  test('error: dividing by zero is a bug', () => {
    expectBug(() => rational(1n, 0n), 'DIVISION_BY_ZERO')
    expectBug(() => divide(d('1'), rational(0n)), 'DIVISION_BY_ZERO')
    expectBug(() => distanceBps(d('1'), rational(0n)), 'DIVISION_BY_ZERO')
  })

  test('behavior: huge operands stay exact (80+ digit values multiplied and divided back)', () => {
    const a = d(`${'7'.repeat(90)}.25`)
    const b = d(`0.${'0'.repeat(30)}3`)
    expect(divide(multiply(a, b), b)).toEqual(a)
    expect(formatDecimal(multiply(a, d('4')), 0)).toBe(`3${'1'.repeat(88)}09`)
  })
})

describe('median', () => {
  const m = (...texts: string[]) => formatDecimal(median(texts.map(d)), 30)
  test('default: the middle value of an odd count, whatever the order', () => {
    expect(m('3', '1', '2')).toBe('2')
    expect(m('97123.45', '97000', '98000.01')).toBe('97123.45')
    expect(m('5')).toBe('5')
  })

  test('behavior: the exact mean of the two middle values of an even count', () => {
    expect(m('1', '2', '4', '10')).toBe('3')
    expect(m('0.1', '0.2')).toBe('0.15')
    expect(median([d('1'), d('2')])).toEqual(rational(3n, 2n))
    expect(m('0.00000001', '0.00000002')).toBe('0.000000015')
    expect(m('2', '2', '9', '1')).toBe('2')
  })

  test('args: 80+ digit values', () => {
    const big = `1${'0'.repeat(85)}`
    expect(formatDecimal(median([d(big), d('1')]), 1)).toBe(`5${'0'.repeat(84)}.5`)
  })

  test('error: the median of nothing is a bug', () => {
    expectBug(() => median([]), 'PRICING_BAD_ARGUMENT')
  })
})

describe('distanceBps / applySpread', () => {
  test('default: distance relative to the reference, in basis points, exactly', () => {
    expect(distanceBps(d('105'), d('100'))).toEqual(rational(500n))
    expect(distanceBps(d('95'), d('100'))).toEqual(rational(500n))
    expect(distanceBps(d('100'), d('95'))).toEqual(rational(100_000n, 190n)) // 526.31…
    expect(distanceBps(d('1'), d('1'))).toEqual(rational(0n))
    expect(distanceBps(d('300'), d('100'))).toEqual(rational(20_000n))
  })

  test('default: a spread lowers the rate in the merchant’s favour (the buyer pays more of the asset)', () => {
    const rate = d('97123.45')
    const spread = applySpread(rate, 50)
    expect(formatDecimal(spread, 10)).toBe('96637.83275')
    expect(priceToUnits(d('25.00'), spread, 8)).toBeGreaterThan(priceToUnits(d('25.00'), rate, 8))
    expect(applySpread(rate, 0)).toEqual(rate)
    expect(applySpread(d('100'), 9999)).toEqual(d('0.01'))
  })

  const badSpreads = [10_000, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]
  for (const bps of badSpreads)
    test(`error: a spread of ${bps} bps is a bug (the config check refuses it)`, () => {
      expectBug(() => applySpread(d('100'), bps), 'PRICING_BAD_ARGUMENT')
    })
})

describe('formatDecimal / formatSignificant', () => {
  const third: Rational = rational(1n, 3n)
  const twoThirds: Rational = rational(2n, 3n)
  test('default: half-up to at most N fraction digits, trailing zeros dropped', () => {
    expect(formatDecimal(twoThirds, 4)).toBe('0.6667')
    expect(formatDecimal(third, 4)).toBe('0.3333')
    expect(formatDecimal(d('25.50'), 2)).toBe('25.5')
    expect(formatDecimal(d('25.00'), 2)).toBe('25')
    expect(formatDecimal(d('0.125'), 2)).toBe('0.13') // tie: away from zero
    expect(formatDecimal(d('0.004'), 2)).toBe('0')
    expect(formatDecimal(rational(0n), 5)).toBe('0')
  })

  test('args: rounding floor and ceil, for positive and negative values', () => {
    expect(formatDecimal(twoThirds, 4, 'floor')).toBe('0.6666')
    expect(formatDecimal(third, 4, 'ceil')).toBe('0.3334')
    expect(formatDecimal(rational(-2n, 3n), 4, 'floor')).toBe('-0.6667')
    expect(formatDecimal(rational(-2n, 3n), 4, 'ceil')).toBe('-0.6666')
    expect(formatDecimal(rational(-1n, 8n), 2)).toBe('-0.13')
    expect(formatDecimal(rational(-1n, 1000n), 2, 'ceil')).toBe('0') // never "-0"
    expect(formatDecimal(d('2.5'), 0)).toBe('3')
    expect(formatDecimal(d('2.5'), 0, 'floor')).toBe('2')
  })

  test('args: significant digits keep relative precision for tiny and large values; integer digits are kept', () => {
    expect(formatSignificant(third, 5)).toBe('0.33333')
    expect(formatSignificant(rational(1n, 300_000n), 3)).toBe('0.00000333')
    expect(formatSignificant(d('0.000000000001234'), 2, 'floor')).toBe('0.0000000000012')
    expect(formatSignificant(d('97123.45'), 3)).toBe('97123')
    expect(formatSignificant(d('97123.45'), 20)).toBe('97123.45')
    expect(formatSignificant(d('9.996'), 3)).toBe('10')
    expect(formatSignificant(d(`1${'0'.repeat(85)}`), 20)).toBe(`1${'0'.repeat(85)}`)
    expect(formatSignificant(d('0.1'), 1)).toBe('0.1')
    expect(formatSignificant(d('1'), 1)).toBe('1')
    expect(formatSignificant(d('10'), 1)).toBe('10')
  })

  test('error: impossible digit counts are bugs', () => {
    expectBug(() => formatDecimal(third, -1), 'PRICING_BAD_ARGUMENT')
    expectBug(() => formatDecimal(third, 2.5), 'PRICING_BAD_ARGUMENT')
    expectBug(() => formatSignificant(third, 0), 'PRICING_BAD_ARGUMENT')
  })
})
