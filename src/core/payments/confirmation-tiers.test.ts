import { describe, expect, test } from 'bun:test'
import { ladder, toyLadder } from '../../../test/helpers/ladders.ts'
import { toyChain } from '../../../test/helpers/unit.ts'
import type { ConfirmationLadder } from '../../plugins/registry.ts'
import { TollgateError } from '../errors.ts'
import type { BookRate, RateBook } from '../pricing/book.ts'
import { rateUnavailable } from '../pricing/errors.ts'
import {
  confirmationsFor,
  effectiveLadder,
  ladderAmount,
  merchantLadder,
  operatorLadder,
  requiredConfirmations,
} from './confirmation-tiers.ts'

// Which step of a ladder a payment falls in, whose ladder applies (the operator's or the merchant's within its
// bounds), and what a payment is worth in a currency ladder's unit.

/** The same shape in USD: under 10 USD needs 1, under 1000 USD needs 3, the rest 6. */
const usdLadder = ladder(
  {
    tiers: [
      { below: '10', confirmations: 1 },
      { below: '1000', confirmations: 3 },
    ],
    above: 6,
    currency: 'USD',
  },
  8,
  { min: 1, max: 6 },
)

function chainWith(tiers: ConfirmationLadder, confirmations = 2) {
  const toy = toyChain({ confirmations })
  toy.chain.settings.amountTiers = new Map([[toy.native.id, tiers]])
  return toy
}

/** A rate book holding one fresh pair (others unavailable, as the real book answers for a pair without a rate). */
function bookWith(pair: string, rate: string): RateBook {
  const at = new Date()
  return {
    lockSeconds: 900,
    quote(asked: string): BookRate {
      if (asked !== pair) throw rateUnavailable({ pair: asked, reason: 'no-quotes' })
      return { pair, rate, method: 'fallback', sources: [], at }
    },
    all: () => [],
    reload: async () => {},
    close() {},
  }
}

const units = (n: bigint) => ({ num: n, den: 1n })

describe('confirmationsFor', () => {
  test('behavior: each amount gets its step; below is exclusive; from the last below on, above', () => {
    expect(confirmationsFor(toyLadder, units(1n))).toBe(1)
    expect(confirmationsFor(toyLadder, units(99_999n))).toBe(1)
    expect(confirmationsFor(toyLadder, units(100_000n))).toBe(3) // 0.001 exactly
    expect(confirmationsFor(toyLadder, units(9_999_999n))).toBe(3)
    expect(confirmationsFor(toyLadder, units(10_000_000n))).toBe(6) // 0.1 exactly
    expect(confirmationsFor(toyLadder, units(10n ** 20n))).toBe(6)
  })

  test('behavior: an amount that could not be valued needs the most the ladder asks', () => {
    expect(confirmationsFor(toyLadder, undefined)).toBe(6)
  })
})

describe('operatorLadder', () => {
  test('default: without a ladder, the asset’s confirmations (else the driver’s) for every amount, no choice', () => {
    const toy = toyChain({ confirmations: 4 })
    expect(operatorLadder(toy.chain, toy.native)).toEqual({
      tiers: [],
      above: 4,
      currency: null,
      bounds: { min: 4, max: 4 },
    })
    expect(operatorLadder(toy.chain, { ...toy.token, confirmations: 9 }).above).toBe(9)
    const pay = { asset: toy.native, amountDue: 10n ** 18n, priced: null }
    expect(requiredConfirmations(toy.chain, pay, undefined, undefined, new Date())).toBe(4)
  })
})

describe('ladderAmount', () => {
  const now = new Date()
  const toy = toyChain()
  test('behavior: an asset ladder compares base units', () => {
    expect(
      ladderAmount(toyLadder, { asset: toy.native, amountDue: 123n, priced: null }, undefined, now),
    ).toEqual(units(123n))
  })

  test('behavior: a price in the ladder’s currency is compared as given, without a rate', () => {
    const pay = { asset: toy.native, amountDue: 1n, priced: { priceAmount: '999.99', priceCurrency: 'USD' } }
    expect(confirmationsFor(usdLadder, ladderAmount(usdLadder, pay, undefined, now))).toBe(3)
  })

  test('behavior: an asset amount (or a price in another currency) is valued at the book’s fresh rate', () => {
    const book = bookWith('TOY/USD', '50000')
    // 0.0001 TOY = 5 USD; 0.01 TOY = 500 USD; 1 TOY = 50 000 USD
    const at = (amountDue: bigint, priced: { priceAmount: string; priceCurrency: string } | null = null) =>
      confirmationsFor(
        usdLadder,
        ladderAmount(usdLadder, { asset: toy.native, amountDue, priced }, book, now),
      )
    expect(at(10_000n)).toBe(1)
    expect(at(1_000_000n)).toBe(3)
    expect(at(100_000_000n)).toBe(6)
    expect(at(10_000n, { priceAmount: '4.60', priceCurrency: 'EUR' })).toBe(1)
  })

  test('error: no fresh rate (or no book) values nothing, so the payment needs the ladder’s above', () => {
    const pay = { asset: toy.native, amountDue: 10_000n, priced: null }
    expect(ladderAmount(usdLadder, pay, bookWith('TOY/EUR', '1'), now)).toBeUndefined()
    expect(ladderAmount(usdLadder, pay, undefined, now)).toBeUndefined()
    const toyUsd = chainWith(usdLadder)
    expect(
      requiredConfirmations(toyUsd.chain, { ...pay, asset: toyUsd.native }, undefined, undefined, now),
    ).toBe(6)
  })
})

describe('merchantLadder', () => {
  const toy = toyChain()
  const refusal = (fn: () => unknown) => {
    try {
      fn()
    } catch (err) {
      expect(err).toBeInstanceOf(TollgateError)
      return err as TollgateError
    }
    throw new Error('expected a refusal')
  }

  test('behavior: a fixed count or a ladder within the operator’s bounds is accepted, with those bounds', () => {
    expect(merchantLadder(toyLadder, toy.native, { confirmations: 0 })).toEqual({
      tiers: [],
      above: 0,
      currency: null,
      bounds: { min: 0, max: 6 },
    })
    const own = merchantLadder(toyLadder, toy.native, {
      tiers: [{ below: '0.5', confirmations: 2 }],
      above: 4,
    })
    expect(own.tiers).toEqual([{ below: units(50_000_000n), confirmations: 2 }])
    expect(own.above).toBe(4)
  })

  test('error: a count outside the bounds is CONFIRMATIONS_OUT_OF_BOUNDS naming the bounds', () => {
    const err = refusal(() => merchantLadder(usdLadder, toy.native, { confirmations: 0 }))
    expect(err.code).toBe('CONFIRMATIONS_OUT_OF_BOUNDS')
    expect(err.field).toBe('confirmations')
    expect(err.message).toContain('1 to 6')
    const ladderErr = refusal(() =>
      merchantLadder(usdLadder, toy.native, { tiers: [{ below: '1', confirmations: 2 }], above: 7 }),
    )
    expect(ladderErr.code).toBe('CONFIRMATIONS_OUT_OF_BOUNDS')
    expect(ladderErr.field).toBe('tiers')
  })

  const malformed: Array<[string, Parameters<typeof merchantLadder>[2], string]> = [
    [
      'tiers not ascending',
      {
        tiers: [
          { below: '1', confirmations: 1 },
          { below: '0.5', confirmations: 2 },
        ],
        above: 3,
      },
      'tiers.1.below',
    ],
    ['a negative count', { confirmations: -1 }, 'confirmations'],
    ['a fractional count', { confirmations: 1.5 }, 'confirmations'],
    ['a negative step', { tiers: [{ below: '1', confirmations: -2 }], above: 3 }, 'tiers.0.confirmations'],
    [
      'a threshold with too many digits',
      { tiers: [{ below: '0.000000001', confirmations: 1 }], above: 3 },
      'tiers.0.below',
    ],
    ['an exponent threshold', { tiers: [{ below: '1e3', confirmations: 1 }], above: 3 }, 'tiers.0.below'],
    [
      'an unknown currency',
      { tiers: [{ below: '1', confirmations: 1 }], above: 3, currency: 'XYZ' },
      'currency',
    ],
    [
      'fewer confirmations for more money',
      {
        tiers: [
          { below: '1', confirmations: 3 },
          { below: '2', confirmations: 2 },
        ],
        above: 3,
      },
      'tiers.1.confirmations',
    ],
  ]
  for (const [label, choice, field] of malformed)
    test(`error: ${label} is INVALID_INPUT naming ${field}`, () => {
      const err = refusal(() => merchantLadder(toyLadder, toy.native, choice))
      expect(err.code).toBe('INVALID_INPUT')
      expect(err.field).toBe(field)
    })
})

describe('effectiveLadder and requiredConfirmations', () => {
  const now = new Date()
  test('behavior: the merchant’s choice replaces the operator’s ladder for that asset only', () => {
    const toy = chainWith(toyLadder)
    const pay = { asset: toy.native, amountDue: 50_000n, priced: null }
    expect(requiredConfirmations(toy.chain, pay, undefined, undefined, now)).toBe(1)
    expect(requiredConfirmations(toy.chain, pay, { confirmations: 0 }, undefined, now)).toBe(0)
    expect(
      requiredConfirmations(toy.chain, { ...pay, amountDue: 10n ** 9n }, undefined, undefined, now),
    ).toBe(6)
    expect(effectiveLadder(toy.chain, toy.native, { confirmations: 2 }).source).toBe('merchant')
    expect(effectiveLadder(toy.chain, toy.native, undefined).source).toBe('operator')
  })

  test('behavior: a stored choice outside bounds the operator narrowed since is pulled into them', () => {
    const toy = chainWith(usdLadder) // bounds 1 to 6
    const { ladder: fixed } = effectiveLadder(toy.chain, toy.native, { confirmations: 0 })
    expect(fixed.above).toBe(1)
    const { ladder: own } = effectiveLadder(toy.chain, toy.native, {
      tiers: [{ below: '1', confirmations: 0 }],
      above: 9,
    })
    expect(own.tiers[0]?.confirmations).toBe(1)
    expect(own.above).toBe(6)
  })

  test('error: a stored choice the asset can no longer read falls back to the operator’s ladder', () => {
    const toy = chainWith(toyLadder)
    const stored = { tiers: [{ below: '0.123456789', confirmations: 2 }], above: 3 } // 9 digits, TOY has 8
    expect(effectiveLadder(toy.chain, toy.native, stored)).toEqual({ ladder: toyLadder, source: 'operator' })
  })
})
