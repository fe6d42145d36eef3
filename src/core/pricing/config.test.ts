import { describe, expect, test } from 'bun:test'
import { errorKind } from '../errors.ts'
import { checkPricingConfig } from './config.ts'
import { PricingConfigError, type PricingConfigProblem } from './errors.ts'

const providers = ['kraken', 'coinbase', 'fixed']

const good = {
  defaults: {
    sources: ['kraken', 'coinbase'],
    mode: 'median',
    maxAgeSeconds: 300,
    spreadBps: 50,
    outlierBps: 2000,
  },
  pairs: {
    'BTC/USD': {},
    'ETH/USD': { sources: ['coinbase'], mode: 'fallback' },
    'USDT/USD': { pin: '1', spreadBps: 0 },
    'EUR/USD': { sources: ['fixed'] },
    'BTC/EUR': { via: 'USD' },
  },
  refreshSeconds: 60,
  rateLockSeconds: 900,
}

/** The problems `checkPricingConfig` reports for `config` (fails the test when it accepts it). */
function problems(config: unknown, names: readonly string[] = providers): PricingConfigProblem[] {
  try {
    checkPricingConfig(config, names)
  } catch (err) {
    expect(err).toBeInstanceOf(PricingConfigError)
    expect((err as PricingConfigError).code).toBe('PRICING_CONFIG_INVALID')
    expect(errorKind(err)).toBe('permanent')
    return (err as PricingConfigError).problems
  }
  throw new Error('expected the config to be refused')
}
const paths = (config: unknown, names?: readonly string[]) => problems(config, names).map((p) => p.path)
const withPair = (key: string, rule: unknown) => ({ ...good, pairs: { ...good.pairs, [key]: rule } })

describe('checkPricingConfig', () => {
  test('default: a valid config is answered as it is', () => {
    expect(checkPricingConfig(good, providers)).toBe(good as never)
    expect(checkPricingConfig({ pairs: {} }, [])).toEqual({ pairs: {} })
  })

  test('error: unknown keys, in pricing and in rules', () => {
    expect(paths({ ...good, refresh: 60 })).toEqual(['pricing.refresh'])
    expect(paths(withPair('BTC/USD', { source: ['kraken'] }))).toEqual(['pricing.pairs["BTC/USD"].source'])
    expect(paths({ ...good, defaults: { ...good.defaults, spread: 5 } })).toEqual(['pricing.defaults.spread'])
  })

  test('error: malformed pair keys', () => {
    for (const key of ['btc/usd', 'BTC-USD', 'BTC/USD/EUR', 'BTC/BTC', 'BTC /USD', '', 'B/USD'])
      expect(paths(withPair(key, { sources: ['kraken'] }))).toEqual([`pricing.pairs[${JSON.stringify(key)}]`])
  })

  test('error: unknown, duplicate or missing sources, and empty source lists', () => {
    const found = problems(withPair('BTC/USD', { sources: ['kraken', 'binance', 'kraken', 7] }))
    expect(found.map((p) => p.path)).toEqual([
      'pricing.pairs["BTC/USD"].sources[1]',
      'pricing.pairs["BTC/USD"].sources[2]',
      'pricing.pairs["BTC/USD"].sources[3]',
    ])
    expect(found[0]?.message).toBe(
      'unknown rate provider "binance" (configured under rates: kraken, coinbase, fixed)',
    )
    expect(found[1]?.message).toBe('"kraken" is listed twice')
    expect(paths(withPair('BTC/USD', { sources: [] }))).toEqual(['pricing.pairs["BTC/USD"].sources'])
    expect(paths(withPair('BTC/USD', { sources: 'kraken' }))).toEqual(['pricing.pairs["BTC/USD"].sources'])
    // with no providers configured at all, any source is unknown
    expect(paths({ pairs: { 'BTC/USD': { sources: ['kraken'] } } }, [])).toEqual([
      'pricing.pairs["BTC/USD"].sources[0]',
    ])
    // a pair with nothing to make its rate from
    expect(problems({ pairs: { 'BTC/USD': {} } })).toEqual([
      {
        path: 'pricing.pairs["BTC/USD"]',
        message: 'has nothing to make its rate from: set sources (here or in defaults), pin or via',
      },
    ])
  })

  const badNumbers: Array<[field: string, value: unknown]> = [
    ['maxAgeSeconds', 0],
    ['maxAgeSeconds', -600],
    ['maxAgeSeconds', 600.5],
    ['maxAgeSeconds', '600'],
    ['maxAgeSeconds', Number.NaN],
    ['maxAgeSeconds', Number.POSITIVE_INFINITY],
    ['maxAgeSeconds', 604_801],
    ['spreadBps', -1],
    ['spreadBps', 10_000],
    ['spreadBps', 0.5],
    ['outlierBps', 0],
    ['outlierBps', 1_000_001],
    ['outlierBps', 1e21],
  ]
  for (const [field, value] of badNumbers)
    test(`error: ${field} ${typeof value === 'string' ? JSON.stringify(value) : String(value)} is refused with its path`, () => {
      expect(paths(withPair('BTC/USD', { [field]: value }))).toEqual([`pricing.pairs["BTC/USD"].${field}`])
      expect(paths({ ...good, defaults: { ...good.defaults, [field]: value } })).toEqual([
        `pricing.defaults.${field}`,
      ])
    })

  test('args: the numbers’ limits themselves are accepted', () => {
    const edges = { maxAgeSeconds: 1, spreadBps: 9999, outlierBps: 1_000_000 }
    expect(() => checkPricingConfig(withPair('BTC/USD', edges), providers)).not.toThrow()
    expect(() =>
      checkPricingConfig(
        withPair('BTC/USD', { maxAgeSeconds: 604_800, spreadBps: 0, outlierBps: 1 }),
        providers,
      ),
    ).not.toThrow()
  })

  test('error: refreshSeconds, rateLockSeconds and mode out of range', () => {
    expect(paths({ ...good, refreshSeconds: 0, rateLockSeconds: 1.5 })).toEqual([
      'pricing.refreshSeconds',
      'pricing.rateLockSeconds',
    ])
    expect(problems(withPair('BTC/USD', { mode: 'mean' }))).toEqual([
      { path: 'pricing.pairs["BTC/USD"].mode', message: 'must be "fallback" or "median", got "mean"' },
    ])
  })

  test('error: a pin that is not a positive plain decimal', () => {
    for (const pin of ['0', '-1', '1e0', ' 1', '1.', '01', 1, '', '0x1'])
      expect(paths(withPair('USDT/USD', { pin }))).toEqual(['pricing.pairs["USDT/USD"].pin'])
    expect(problems(withPair('USDT/USD', { pin: '-1' }))[0]?.message).toBe(
      'must be a positive plain decimal string such as "1": it must be a plain decimal string such as "12.5"',
    )
  })

  test('error: a via equal to the base or the quote, or not a code', () => {
    expect(problems(withPair('BTC/EUR', { via: 'BTC' }))).toEqual([
      {
        path: 'pricing.pairs["BTC/EUR"].via',
        message: 'must differ from the pair\'s base and quote, got "BTC"',
      },
    ])
    expect(paths(withPair('BTC/EUR', { via: 'EUR' }))).toEqual(['pricing.pairs["BTC/EUR"].via'])
    expect(paths(withPair('BTC/EUR', { via: 'usd' }))).toEqual(['pricing.pairs["BTC/EUR"].via'])
  })

  test('error: pin and via belong to one pair; one rule makes its rate one way', () => {
    expect(paths({ ...good, defaults: { ...good.defaults, pin: '1', via: 'USD' } })).toEqual([
      'pricing.defaults.pin',
      'pricing.defaults.via',
    ])
    expect(problems(withPair('BTC/EUR', { via: 'USD', sources: ['kraken'] }))).toEqual([
      {
        path: 'pricing.pairs["BTC/EUR"]',
        message: 'sets via and sources: a rule makes its rate from one of pin, via or sources',
      },
    ])
    expect(paths(withPair('USDT/USD', { pin: '1', via: 'EUR' }))).toEqual(['pricing.pairs["USDT/USD"]'])
  })

  test('error: a via leg with no rule, nor an inverse one', () => {
    expect(problems(withPair('BTC/GBP', { via: 'USD' }))).toEqual([
      { path: 'pricing.pairs["BTC/GBP"].via', message: 'no rule for the leg USD/GBP (nor for GBP/USD)' },
    ])
    // the inverse rule (EUR/USD for the leg USD/EUR) is enough: `good` relies on it
    expect(() => checkPricingConfig(good, providers)).not.toThrow()
  })

  test('error: via cycles, each pair on the cycle named', () => {
    const cycle = {
      pairs: { 'BTC/EUR': { via: 'USD' }, 'BTC/USD': { via: 'EUR' }, 'USD/EUR': { pin: '0.9' } },
    }
    expect(problems(cycle)).toEqual([
      {
        path: 'pricing.pairs["BTC/EUR"].via',
        message: 'the via chain comes back to the pair: BTC/EUR → BTC/USD → BTC/EUR',
      },
      {
        path: 'pricing.pairs["BTC/USD"].via',
        message: 'the via chain comes back to the pair: BTC/USD → BTC/EUR → BTC/USD',
      },
    ])
    const long = {
      pairs: {
        'AA/DD': { via: 'BB' },
        'AA/BB': { pin: '1' },
        'BB/DD': { via: 'CC' },
        'BB/CC': { pin: '1' },
        'CC/DD': { via: 'AA' },
        'CC/AA': { pin: '1' },
      },
    }
    expect(paths(long)).toEqual([
      'pricing.pairs["AA/DD"].via',
      'pricing.pairs["BB/DD"].via',
      'pricing.pairs["CC/DD"].via',
    ])
  })

  test('error: every problem is reported together', () => {
    const config = {
      extra: true,
      defaults: { spreadBps: -5 },
      pairs: { 'btc/usd': {}, 'ETH/USD': { sources: ['nope'], pin: 'one' } },
    }
    expect(paths(config)).toEqual([
      'pricing.extra',
      'pricing.defaults.spreadBps',
      'pricing.pairs["btc/usd"]',
      'pricing.pairs["ETH/USD"].sources[0]',
      'pricing.pairs["ETH/USD"].pin',
      'pricing.pairs["ETH/USD"]',
    ])
  })

  test('error: not objects where objects belong', () => {
    for (const config of [null, [], 'pricing', 42]) expect(paths(config)).toEqual(['pricing'])
    expect(paths({})).toEqual(['pricing.pairs'])
    expect(paths({ pairs: [] })).toEqual(['pricing.pairs'])
    expect(paths({ pairs: { 'BTC/USD': null } })).toEqual(['pricing.pairs["BTC/USD"]'])
    expect(paths({ pairs: {}, defaults: [] })).toEqual(['pricing.defaults'])
    expect(paths(JSON.parse('{"pairs":{"__proto__":{"pin":"1"}}}'))).toEqual(['pricing.pairs["__proto__"]'])
  })
})
