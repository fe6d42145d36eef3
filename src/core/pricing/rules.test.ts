import { describe, expect, test } from 'bun:test'
import type { RateQuote } from '@tollgate/sdk'
import { TollgateError } from '../errors.ts'
import { divide, formatSignificant, parseDecimal, priceToUnits } from './decimal.ts'
import { rateUnavailable } from './errors.ts'
import {
  type PricingRules,
  parsePairKey,
  type QuotesBySource,
  type RateUnavailable,
  type ResolvedRate,
  resolveRate,
  ruleFor,
} from './rules.ts'

const now = new Date('2026-01-31T12:00:00.000Z')
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000)

/** A quote of `pair` ('BTC/USD') at `rate`, observed `age` seconds before `now`. */
function q(pair: string, rate: string, age = 10): RateQuote {
  const [base = '', quote = ''] = pair.split('/')
  return { base, quote, rate, at: ago(age) }
}
const quotes = (entries: Record<string, RateQuote[]>): QuotesBySource => new Map(Object.entries(entries))

function ok(result: ResolvedRate | RateUnavailable): ResolvedRate {
  if (!result.ok) throw new Error(`expected a rate, got ${JSON.stringify(result)}`)
  return result
}
function unavailable(result: ResolvedRate | RateUnavailable): RateUnavailable {
  if (result.ok) throw new Error(`expected no rate, got ${JSON.stringify(result)}`)
  return result
}

describe('resolveRate: sources', () => {
  test('default: fallback takes the first fresh source in the rule’s order', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['kraken', 'coinbase'] } } }
    const r = ok(
      resolveRate(
        'BTC/USD',
        rules,
        quotes({ kraken: [q('BTC/USD', '97123.45', 30)], coinbase: [q('BTC/USD', '97200', 5)] }),
        now,
      ),
    )
    expect(r).toEqual({
      ok: true,
      pair: 'BTC/USD',
      rate: '97123.45',
      method: 'fallback',
      sources: [{ provider: 'kraken', pair: 'BTC/USD', rate: '97123.45', at: ago(30) }],
      at: ago(30),
      spreadBps: 0,
      warnings: [],
    })
  })

  test('behavior: fallback skips a stale or silent source for the next fresh one', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['silent', 'kraken', 'coinbase'] } } }
    const r = ok(
      resolveRate(
        'BTC/USD',
        rules,
        quotes({ kraken: [q('BTC/USD', '97123.45', 601)], coinbase: [q('BTC/USD', '97200', 5)] }),
        now,
      ),
    )
    expect(r.rate).toBe('97200')
    expect(r.sources.map((s) => s.provider)).toEqual(['coinbase'])
  })

  test('default: maxAgeSeconds is 600: a quote exactly 600 s old is fresh, 601 s old is stale', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['kraken'] } } }
    expect(ok(resolveRate('BTC/USD', rules, quotes({ kraken: [q('BTC/USD', '1', 600)] }), now)).rate).toBe(
      '1',
    )
    expect(
      unavailable(resolveRate('BTC/USD', rules, quotes({ kraken: [q('BTC/USD', '1', 601)] }), now)),
    ).toEqual({
      ok: false,
      pair: 'BTC/USD',
      reason: 'stale',
      lastAt: ago(601),
      warnings: [],
    })
  })

  test('args: maxAgeSeconds from the rule', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['kraken'], maxAgeSeconds: 60 } } }
    expect(resolveRate('BTC/USD', rules, quotes({ kraken: [q('BTC/USD', '1', 61)] }), now).ok).toBe(false)
    expect(resolveRate('BTC/USD', rules, quotes({ kraken: [q('BTC/USD', '1', 60)] }), now).ok).toBe(true)
  })

  test('error: every source stale: unavailable, lastAt the newest quote seen', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['a', 'b', 'c'], mode: 'median' } } }
    const r = unavailable(
      resolveRate(
        'BTC/USD',
        rules,
        quotes({ a: [q('BTC/USD', '1', 5000)], b: [q('BTC/USD', '1', 700)], c: [q('BTC/USD', '1', 90_000)] }),
        now,
      ),
    )
    expect(r.reason).toBe('stale')
    expect(r.lastAt).toEqual(ago(700))
  })

  test('behavior: each source’s newest quote of exactly the pair counts (older ones, other pairs and the inverse do not)', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['kraken'] } } }
    const r = resolveRate(
      'BTC/USD',
      rules,
      quotes({
        kraken: [
          q('BTC/USD', '90000', 2),
          q('BTC/USD', '97000', 1),
          q('BTC/USD', '80000', 3),
          q('ETH/USD', '3000', 0),
        ],
      }),
      now,
    )
    expect(ok(r).rate).toBe('97000')
    // a source quoting only the inverse does not price the pair
    const inverse = resolveRate('BTC/USD', rules, quotes({ kraken: [q('USD/BTC', '0.00001', 1)] }), now)
    expect(unavailable(inverse).reason).toBe('no-quotes')
    // the newest quote being stale is not rescued by an older fresh-looking one: only the newest counts
    const stale = resolveRate(
      'BTC/USD',
      rules,
      quotes({ kraken: [q('BTC/USD', '1', 700), q('BTC/USD', '2', 900)] }),
      now,
    )
    expect(unavailable(stale).lastAt).toEqual(ago(700))
  })

  test('default: median mode takes the exact median of the fresh sources (the mean of the middle two for an even count)', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['a', 'b', 'c', 'd'], mode: 'median' } } }
    const three = resolveRate(
      'BTC/USD',
      rules,
      quotes({
        a: [q('BTC/USD', '97000', 40)],
        b: [q('BTC/USD', '97300', 10)],
        c: [q('BTC/USD', '97100', 20)],
      }),
      now,
    )
    expect(ok(three)).toMatchObject({ rate: '97100', method: 'median', at: ago(40) })
    expect(ok(three).sources.map((s) => s.provider)).toEqual(['a', 'b', 'c'])
    const four = resolveRate(
      'BTC/USD',
      rules,
      quotes({
        a: [q('BTC/USD', '97000.01')],
        b: [q('BTC/USD', '97300')],
        c: [q('BTC/USD', '97100')],
        d: [q('BTC/USD', '97000.02', 700)],
      }),
      now,
    )
    expect(ok(four).rate).toBe('97100') // d is stale: median of three
    const even = resolveRate(
      'BTC/USD',
      rules,
      quotes({
        a: [q('BTC/USD', '97000.01')],
        b: [q('BTC/USD', '97300')],
        c: [q('BTC/USD', '97100')],
        d: [q('BTC/USD', '97000.02')],
      }),
      now,
    )
    expect(ok(even).rate).toBe('97050.01') // (97000.02 + 97100) / 2
  })

  test('error: an empty source list, no source with quotes, and a pair without a rule', () => {
    expect(
      unavailable(resolveRate('BTC/USD', { pairs: { 'BTC/USD': { sources: [] } } }, quotes({}), now)).reason,
    ).toBe('no-sources')
    expect(unavailable(resolveRate('BTC/USD', { pairs: { 'BTC/USD': {} } }, quotes({}), now)).reason).toBe(
      'no-sources',
    )
    expect(
      unavailable(
        resolveRate(
          'BTC/USD',
          { pairs: { 'BTC/USD': { sources: ['kraken'] } } },
          quotes({ kraken: [] }),
          now,
        ),
      ),
    ).toEqual({ ok: false, pair: 'BTC/USD', reason: 'no-quotes', warnings: [] })
    expect(
      unavailable(resolveRate('ETH/USD', { pairs: { 'BTC/USD': { sources: ['k'] } } }, quotes({}), now))
        .reason,
    ).toBe('no-rule')
    // defaults alone make no rule; prototype keys are not rules
    const defaults: PricingRules = { defaults: { sources: ['k'] }, pairs: {} }
    expect(
      unavailable(resolveRate('BTC/USD', defaults, quotes({ k: [q('BTC/USD', '1')] }), now)).reason,
    ).toBe('no-rule')
    expect(unavailable(resolveRate('constructor', defaults, quotes({}), now)).reason).toBe('no-rule')
    expect(unavailable(resolveRate('__proto__', defaults, quotes({}), now)).reason).toBe('no-rule')
  })

  test('behavior: an unreadable quote (not a positive plain decimal) is skipped and reported', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['bad', 'good'] } } }
    const r = ok(
      resolveRate(
        'BTC/USD',
        rules,
        quotes({ bad: [q('BTC/USD', '9.7e4')], good: [q('BTC/USD', '97000')] }),
        now,
      ),
    )
    expect(r.rate).toBe('97000')
    expect(r.warnings).toEqual([{ kind: 'unreadable', pair: 'BTC/USD', provider: 'bad', rate: '9.7e4' }])
    for (const rate of ['0', '-97000', '', 'NaN'])
      expect(
        unavailable(
          resolveRate(
            'BTC/USD',
            { pairs: { 'BTC/USD': { sources: ['bad'] } } },
            quotes({ bad: [q('BTC/USD', rate)] }),
            now,
          ),
        ).reason,
      ).toBe('no-quotes')
  })

  test('args: an 80+ digit rate goes through exactly', () => {
    const huge = `${'9'.repeat(85)}.5`
    const r = ok(
      resolveRate(
        'SHIB/XYZ',
        { pairs: { 'SHIB/XYZ': { sources: ['k'] } } },
        quotes({ k: [q('SHIB/XYZ', huge)] }),
        now,
      ),
    )
    expect(r.rate).toBe('9'.repeat(85)) // the integer digits are all kept; the fraction is past 20 significant digits
    const tiny = `0.${'0'.repeat(30)}123456789012345678901234567`
    const t = ok(
      resolveRate(
        'SHIB/XYZ',
        { pairs: { 'SHIB/XYZ': { sources: ['k'] } } },
        quotes({ k: [q('SHIB/XYZ', tiny)] }),
        now,
      ),
    )
    expect(t.rate).toBe(`0.${'0'.repeat(30)}1234567890123456789`) // 20 significant digits, the last a 0
  })
})

describe('resolveRate: the outlier guard', () => {
  test('behavior: median mode ignores a source further than outlierBps from the median of the others, and reports it', () => {
    const rules: PricingRules = {
      pairs: { 'BTC/USD': { sources: ['a', 'b', 'c'], mode: 'median', outlierBps: 500 } },
    }
    const r = ok(
      resolveRate(
        'BTC/USD',
        rules,
        quotes({ a: [q('BTC/USD', '97000')], b: [q('BTC/USD', '150000')], c: [q('BTC/USD', '97200')] }),
        now,
      ),
    )
    expect(r.rate).toBe('97100')
    expect(r.sources.map((s) => s.provider)).toEqual(['a', 'c'])
    expect(r.warnings).toEqual([
      {
        kind: 'outlier',
        pair: 'BTC/USD',
        provider: 'b',
        rate: '150000',
        at: ago(10),
        medianOfOthers: '97100',
        distanceBps: '5447.99', // (150000 − 97100) / 97100 × 10000 = 5447.99…
      },
    ])
  })

  test('default: outlierBps is 5000 (50 %): 149 % of the others passes, 151 % does not', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['a', 'b', 'c'], mode: 'median' } } }
    const run = (rate: string) =>
      ok(
        resolveRate(
          'BTC/USD',
          rules,
          quotes({ a: [q('BTC/USD', '100')], b: [q('BTC/USD', '100')], c: [q('BTC/USD', rate)] }),
          now,
        ),
      )
    expect(run('149').warnings).toEqual([])
    expect(run('150').warnings).toEqual([]) // exactly 5000 bps is not further than the limit
    expect(run('151').warnings.map((w) => w.provider)).toEqual(['c'])
  })

  test('behavior: fallback mode guards too when 2+ sources are fresh: a wild first source gives way to the next', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['a', 'b', 'c'], outlierBps: 1000 } } }
    const r = ok(
      resolveRate(
        'BTC/USD',
        rules,
        quotes({ a: [q('BTC/USD', '9712.345')], b: [q('BTC/USD', '97123.45')], c: [q('BTC/USD', '97000')] }),
        now,
      ),
    )
    expect(r).toMatchObject({ rate: '97123.45', method: 'fallback' })
    expect(r.sources.map((s) => s.provider)).toEqual(['b'])
    expect(r.warnings.map((w) => [w.kind, w.provider])).toEqual([['outlier', 'a']])
  })

  test('behavior: one fresh source is not judged (a stale far-off one is no reference)', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['a', 'b'], outlierBps: 100 } } }
    const r = ok(
      resolveRate('BTC/USD', rules, quotes({ a: [q('BTC/USD', '1', 900)], b: [q('BTC/USD', '97000')] }), now),
    )
    expect(r).toMatchObject({ rate: '97000', warnings: [] })
  })

  test('error: two fresh sources further apart than the limit: both ignored, since neither is corroborated', () => {
    // 100 vs 200: 200 is 10000 bps from 100; which one is right cannot be told
    for (const mode of ['fallback', 'median'] as const) {
      const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['a', 'b'], mode } } }
      const none = unavailable(
        resolveRate(
          'BTC/USD',
          rules,
          quotes({ a: [q('BTC/USD', '200')], b: [q('BTC/USD', '100', 20)] }),
          now,
        ),
      )
      expect(none).toMatchObject({ reason: 'sources-disagree', lastAt: ago(10) })
      expect(none.warnings.map((w) => (w.kind === 'outlier' ? [w.provider, w.distanceBps] : []))).toEqual([
        ['a', '10000'],
        ['b', '5000'],
      ])
    }
    // within the limit, both count
    const near: PricingRules = { pairs: { 'BTC/USD': { sources: ['a', 'b'], mode: 'median' } } }
    expect(
      ok(resolveRate('BTC/USD', near, quotes({ a: [q('BTC/USD', '140')], b: [q('BTC/USD', '100')] }), now)),
    ).toMatchObject({ rate: '120', warnings: [] })
  })

  test('error: all sources outliers (1, 3 and 9 with a 10 % limit): unavailable, each one reported', () => {
    for (const mode of ['median', 'fallback'] as const) {
      const rules: PricingRules = {
        pairs: { 'BTC/USD': { sources: ['a', 'b', 'c'], mode, outlierBps: 1000 } },
      }
      const r = unavailable(
        resolveRate(
          'BTC/USD',
          rules,
          quotes({ a: [q('BTC/USD', '1')], b: [q('BTC/USD', '3')], c: [q('BTC/USD', '9')] }),
          now,
        ),
      )
      expect(r.reason).toBe('sources-disagree')
      // 9 is furthest from the median of 1 and 3; then 1 and 3 disagree with each other
      expect(r.warnings.map((w) => (w.kind === 'outlier' ? [w.provider, w.medianOfOthers] : []))).toEqual([
        ['c', '2'],
        ['a', '3'],
        ['b', '1'],
      ])
    }
  })

  test('behavior: the verdict does not depend on the sources’ order; two wild ones in opposite directions both go', () => {
    const book = quotes({
      a: [q('BTC/USD', '97000')],
      b: [q('BTC/USD', '40000')],
      c: [q('BTC/USD', '97100')],
      d: [q('BTC/USD', '250000')],
      e: [q('BTC/USD', '97200')],
    })
    const orders = [
      ['a', 'b', 'c', 'd', 'e'],
      ['e', 'd', 'c', 'b', 'a'],
      ['d', 'b', 'a', 'e', 'c'],
    ]
    for (const sources of orders) {
      const r = ok(
        resolveRate(
          'BTC/USD',
          { pairs: { 'BTC/USD': { sources, mode: 'median', outlierBps: 1000 } } },
          book,
          now,
        ),
      )
      expect(r.rate).toBe('97100')
      expect(r.warnings.map((w) => w.provider).sort()).toEqual(['b', 'd'])
    }
  })
})

describe('resolveRate: spread, pin, rule merging', () => {
  test('behavior: the spread lowers the rate in the merchant’s favour, rounded down to 20 significant digits', () => {
    const rules: PricingRules = { pairs: { 'BTC/USD': { sources: ['k'], spreadBps: 50 } } }
    const r = ok(resolveRate('BTC/USD', rules, quotes({ k: [q('BTC/USD', '97123.45')] }), now))
    expect(r).toMatchObject({ rate: '96637.83275', spreadBps: 50 })
    expect(r.sources[0]?.rate).toBe('97123.45') // sources show what they said
    // the buyer pays more of the asset than at the raw rate
    expect(priceToUnits(parseDecimal('25'), parseDecimal(r.rate), 8)).toBe(25_870n) // 25869.78… at the lower rate, 25741 at the raw one
    const third = ok(
      resolveRate(
        'ABC/USD',
        { pairs: { 'ABC/USD': { sources: ['k'], spreadBps: 1 } } },
        quotes({ k: [q('ABC/USD', '1')] }),
        now,
      ),
    )
    expect(third.rate).toBe('0.9999')
    const odd = ok(
      resolveRate(
        'ABC/USD',
        { pairs: { 'ABC/USD': { sources: ['k'], spreadBps: 3 } } },
        quotes({ k: [q('ABC/USD', '0.3333333333333333333333')] }),
        now,
      ),
    )
    // 0.3333333333333333333333 × 0.9997 = 0.33323333333333333333330001: floor at 20 significant digits
    expect(odd.rate).toBe('0.33323333333333333333')
  })

  test('behavior: a pin needs no source; the spread still applies to it', () => {
    const rules: PricingRules = {
      defaults: { sources: ['k'] },
      pairs: { 'USDT/USD': { pin: '1' }, 'USDC/USD': { pin: '1', spreadBps: 100 } },
    }
    expect(ok(resolveRate('USDT/USD', rules, quotes({}), now))).toEqual({
      ok: true,
      pair: 'USDT/USD',
      rate: '1',
      method: 'pinned',
      sources: [],
      at: now,
      spreadBps: 0,
      warnings: [],
    })
    // the pin wins over the sources of the defaults, even with quotes there
    expect(ok(resolveRate('USDT/USD', rules, quotes({ k: [q('USDT/USD', '0.97')] }), now)).rate).toBe('1')
    expect(ok(resolveRate('USDC/USD', rules, quotes({}), now)).rate).toBe('0.99')
    expect(
      unavailable(resolveRate('USDT/USD', { pairs: { 'USDT/USD': { pin: '1e0' } } }, quotes({}), now)).reason,
    ).toBe('bad-rule')
  })

  test('behavior: a pair rule’s fields win over the defaults, unset (or undefined) fields come from them', () => {
    const rules: PricingRules = {
      defaults: { sources: ['a', 'b'], mode: 'median', spreadBps: 50, maxAgeSeconds: 60 },
      pairs: { 'BTC/USD': { mode: 'fallback', spreadBps: undefined, maxAgeSeconds: 120 } },
    }
    expect(ruleFor('BTC/USD', rules)).toEqual({
      sources: ['a', 'b'],
      mode: 'fallback',
      spreadBps: 50,
      maxAgeSeconds: 120,
    })
    const r = ok(
      resolveRate('BTC/USD', rules, quotes({ a: [q('BTC/USD', '100', 100)], b: [q('BTC/USD', '101')] }), now),
    )
    expect(r).toMatchObject({ method: 'fallback', rate: '99.5', spreadBps: 50 })
    expect(ruleFor('ETH/USD', rules)).toBeUndefined()
  })

  test('error: values a rule cannot use (bad numbers, an unknown mode, sources not a list) make the pair unavailable, never a crash', () => {
    const bad = [
      { spreadBps: 10_000 },
      { maxAgeSeconds: -1 },
      { outlierBps: Number.NaN },
      { mode: 'mean' },
      { sources: 'k' },
    ] as const
    for (const fields of bad) {
      const rules = { pairs: { 'BTC/USD': { sources: ['k'], ...fields } } } as unknown as PricingRules
      expect(unavailable(resolveRate('BTC/USD', rules, quotes({ k: [q('BTC/USD', '1')] }), now)).reason).toBe(
        'bad-rule',
      )
    }
  })
})

describe('resolveRate: via bridges', () => {
  const bridge: PricingRules = {
    defaults: { sources: ['k'], spreadBps: 50 },
    pairs: {
      'BTC/EUR': { via: 'USD', spreadBps: 100 },
      'BTC/USD': {},
      'USD/EUR': {},
    },
  }

  test('default: BTC/EUR via USD is BTC/USD × USD/EUR, the legs’ own spreads left out, the pair’s taken once', () => {
    const r = ok(
      resolveRate(
        'BTC/EUR',
        bridge,
        quotes({ k: [q('BTC/USD', '97000', 30), q('USD/EUR', '0.92', 300)] }),
        now,
      ),
    )
    // 97000 × 0.92 = 89240; less 1 %: 88347.6
    expect(r).toEqual({
      ok: true,
      pair: 'BTC/EUR',
      rate: '88347.6',
      method: 'derived',
      sources: [
        { provider: 'k', pair: 'BTC/USD', rate: '97000', at: ago(30) },
        { provider: 'k', pair: 'USD/EUR', rate: '0.92', at: ago(300) },
      ],
      at: ago(300),
      spreadBps: 100,
      warnings: [],
    })
  })

  test('behavior: a leg with only its inverse rule uses 1 / rate (USD/EUR from EUR/USD)', () => {
    const rules: PricingRules = {
      defaults: { sources: ['k'] },
      pairs: { 'BTC/EUR': { via: 'USD' }, 'BTC/USD': {}, 'EUR/USD': {} },
    }
    const r = ok(
      resolveRate('BTC/EUR', rules, quotes({ k: [q('BTC/USD', '97123.45'), q('EUR/USD', '1.08')] }), now),
    )
    // 97123.45 / 1.08 = 89929.1203703703703703…, floor at 20 significant digits
    expect(r.rate).toBe('89929.12037037037037')
    expect(r.rate).toBe(
      formatSignificant(divide(parseDecimal('97123.45'), parseDecimal('1.08')), 20, 'floor'),
    )
    expect(r.sources.map((s) => s.pair)).toEqual(['BTC/USD', 'EUR/USD'])
    // the leg's own rule is preferred over its inverse when both exist
    const both: PricingRules = { ...rules, pairs: { ...rules.pairs, 'USD/EUR': { pin: '0.9' } } }
    expect(
      ok(resolveRate('BTC/EUR', both, quotes({ k: [q('BTC/USD', '100'), q('EUR/USD', '1.08')] }), now)).rate,
    ).toBe('90')
  })

  test('behavior: legs resolve by their own rules (a pinned leg, a median leg, a nested bridge)', () => {
    const rules: PricingRules = {
      pairs: {
        'USDT/EUR': { via: 'USD' },
        'USDT/USD': { pin: '1' },
        'USD/EUR': { sources: ['a', 'b', 'c'], mode: 'median' },
        'USDT/CHF': { via: 'EUR' },
        'EUR/CHF': { sources: ['a'] },
      },
    }
    const book = quotes({
      a: [q('USD/EUR', '0.91'), q('EUR/CHF', '0.95', 50)],
      b: [q('USD/EUR', '0.93')],
      c: [q('USD/EUR', '0.92', 100)],
    })
    expect(ok(resolveRate('USDT/EUR', rules, book, now))).toMatchObject({
      rate: '0.92',
      at: ago(100),
      method: 'derived',
    })
    const nested = ok(resolveRate('USDT/CHF', rules, book, now))
    expect(nested).toMatchObject({ rate: '0.874', at: ago(100) }) // 1 × 0.92 × 0.95
    expect(nested.sources.map((s) => s.pair)).toEqual(['USD/EUR', 'USD/EUR', 'USD/EUR', 'EUR/CHF'])
    // two pinned legs: no source, at is now
    const pins: PricingRules = {
      pairs: { 'A1/C1': { via: 'B1' }, 'A1/B1': { pin: '2' }, 'B1/C1': { pin: '0.5' } },
    }
    expect(ok(resolveRate('A1/C1', pins, quotes({}), now))).toMatchObject({ rate: '1', at: now, sources: [] })
  })

  test('error: a failing leg makes the pair unavailable, naming the leg', () => {
    const stale = unavailable(
      resolveRate('BTC/EUR', bridge, quotes({ k: [q('BTC/USD', '97000'), q('USD/EUR', '0.92', 900)] }), now),
    )
    expect(stale).toEqual({
      ok: false,
      pair: 'BTC/EUR',
      reason: 'stale',
      leg: 'USD/EUR',
      lastAt: ago(900),
      warnings: [],
    })
    const noLeg: PricingRules = {
      defaults: { sources: ['k'] },
      pairs: { 'BTC/EUR': { via: 'USD' }, 'BTC/USD': {} },
    }
    expect(unavailable(resolveRate('BTC/EUR', noLeg, quotes({ k: [q('BTC/USD', '1')] }), now))).toMatchObject(
      {
        reason: 'no-rule',
        leg: 'USD/EUR',
      },
    )
    // an inverted leg failing is named as the leg asked for
    const inv: PricingRules = {
      defaults: { sources: ['k'] },
      pairs: { 'BTC/EUR': { via: 'USD' }, 'BTC/USD': {}, 'EUR/USD': {} },
    }
    expect(unavailable(resolveRate('BTC/EUR', inv, quotes({ k: [q('BTC/USD', '1')] }), now))).toMatchObject({
      reason: 'no-quotes',
      leg: 'USD/EUR',
    })
  })

  test('error: via chains that come back (directly, through an inverse, or longer) are cycles, not endless loops', () => {
    const direct: PricingRules = {
      pairs: { 'BTC/EUR': { via: 'USD' }, 'BTC/USD': { via: 'EUR' }, 'USD/EUR': { pin: '1' } },
    }
    expect(unavailable(resolveRate('BTC/EUR', direct, quotes({}), now))).toMatchObject({
      reason: 'via-cycle',
      leg: 'BTC/EUR',
    })
    // EUR/USD via BTC needs BTC/USD (its inverse USD/BTC has no rule… but BTC/USD does) and USD/EUR through EUR/USD itself
    const inverse: PricingRules = {
      pairs: { 'EUR/USD': { via: 'BTC' }, 'EUR/BTC': { pin: '0.00001' }, 'BTC/USD': { via: 'EUR' } },
    }
    expect(unavailable(resolveRate('EUR/USD', inverse, quotes({}), now)).reason).toBe('via-cycle')
    const long: PricingRules = {
      pairs: {
        'AA/DD': { via: 'BB' },
        'AA/BB': { pin: '1' },
        'BB/DD': { via: 'CC' },
        'BB/CC': { pin: '1' },
        'CC/DD': { via: 'AA' },
        'CC/AA': { pin: '1' },
      },
    }
    expect(unavailable(resolveRate('AA/DD', long, quotes({}), now))).toMatchObject({
      reason: 'via-cycle',
      leg: 'AA/DD',
    })
  })

  test('error: a via equal to the base or the quote is a bad rule', () => {
    for (const via of ['BTC', 'USD', 'usd'])
      expect(
        unavailable(
          resolveRate('BTC/USD', { pairs: { 'BTC/USD': { via }, 'BTC/BTC': { pin: '1' } } }, quotes({}), now),
        ).reason,
      ).toBe('bad-rule')
  })
})

describe('parsePairKey / rateUnavailable', () => {
  test('default: BASE/QUOTE of two different codes', () => {
    expect(parsePairKey('BTC/USD')).toEqual({ base: 'BTC', quote: 'USD' })
    expect(parsePairKey('USDT0/EUR')).toEqual({ base: 'USDT0', quote: 'EUR' })
    for (const key of [
      'btc/usd',
      'BTC-USD',
      'BTC/',
      '/USD',
      'BTC/USD/EUR',
      'BTC/BTC',
      ' BTC/USD',
      'B/USD',
      'ABCDEFGHIJK/USD',
      '',
    ])
      expect(parsePairKey(key)).toBeUndefined()
  })

  test('error: rateUnavailable is a RATE_UNAVAILABLE user error that says why and since when', () => {
    const err = rateUnavailable(
      { pair: 'BTC/EUR', reason: 'stale', leg: 'USD/EUR', lastAt: ago(900) },
      'asset',
    )
    expect(err).toBeInstanceOf(TollgateError)
    expect(err.code).toBe('RATE_UNAVAILABLE')
    expect(err.field).toBe('asset')
    expect(err.message).toBe(
      'no rate for BTC/EUR (through USD/EUR): every source is out of date; newest quote from 2026-01-31T11:45:00.000Z',
    )
    expect(rateUnavailable({ pair: 'BTC/USD', reason: 'no-rule' }).message).toBe(
      'no rate for BTC/USD: no pricing rule covers it',
    )
  })
})
