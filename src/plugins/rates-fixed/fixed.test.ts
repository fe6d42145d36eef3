import { afterEach, describe, expect, setSystemTime, test } from 'bun:test'
import { type DriverLogger, type RateContext, rates } from '@tollgate/sdk'
import { driverRejection } from '@tollgate/sdk/testing'
import { loadRateProviders, PluginConfigError } from '../registry.ts'
import fixed, { createFixedProvider } from './index.ts'
import { fixedOptionsSchema } from './options.ts'

// The operator's own rates: exactly the pairs configured, dated at each fetch, and options that refuse anything
// but currency pairs with positive decimal strings.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const ctx: RateContext = { name: 'fixed', log: silent }
const provider = (rateTable: Record<string, string>) =>
  createFixedProvider(fixedOptionsSchema.parse({ rates: rateTable }), ctx)
const pair = (text: string) => {
  const [base = '', quote = ''] = text.split('/')
  return { base, quote }
}

afterEach(() => {
  setSystemTime()
})

describe('fixed rates', () => {
  test('default: each configured pair asked is answered at its rate, dated at the fetch', async () => {
    const now = new Date('2026-12-04T10:00:00Z')
    setSystemTime(now)
    const quotes = await provider({ 'USDT/USD': '1', 'EUR/USD': '1.08' }).fetchRates([
      pair('EUR/USD'),
      pair('USDT/USD'),
    ])
    expect(quotes.map((q) => [q.base, q.quote, q.rate])).toEqual([
      ['EUR', 'USD', '1.08'],
      ['USDT', 'USD', '1'],
    ])
    for (const q of quotes) expect(q.at).toEqual(now)
  })

  test('behavior: every fetch is dated anew: a fixed rate never goes stale', async () => {
    setSystemTime(new Date('2026-12-04T10:00:00Z'))
    const fixedRates = provider({ 'USDT/USD': '1' })
    const hourLater = new Date('2026-12-04T11:00:00Z')
    setSystemTime(hourLater)
    const [quote] = await fixedRates.fetchRates([pair('USDT/USD')])
    expect(quote?.at).toEqual(hourLater)
  })

  test('behavior: pairs not configured are left out: no inverse, no chain, no guess', async () => {
    const quotes = await provider({ 'USDT/USD': '1', 'EUR/USD': '1.08' }).fetchRates(
      ['USD/EUR', 'USDT/EUR', 'BTC/USD', 'USDT/USD', 'USDT/USD'].map(pair),
    )
    expect(quotes.map((q) => `${q.base}/${q.quote} ${q.rate}`)).toEqual(['USDT/USD 1'])
    expect(await provider({ 'USDT/USD': '1' }).fetchRates([])).toEqual([])
  })

  test('error: a malformed pair asked is refused as RATE_BAD_REQUEST', async () => {
    expect(await driverRejection(provider({ 'USDT/USD': '1' }).fetchRates([pair('usdt/usd')]))).toMatchObject(
      {
        code: 'RATE_BAD_REQUEST',
        retryable: false,
      },
    )
  })
})

describe('options', () => {
  const paths = async (options: unknown) => {
    const result = await fixed.options['~standard'].validate(options)
    return (result.issues ?? []).map((i) => (i.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)))
  }

  test('default: rates as given are the options', async () => {
    const result = await fixed.options['~standard'].validate({
      rates: { 'USDT/USD': '1', 'EUR/USD': '1.08' },
    })
    expect(result.issues).toBeUndefined()
    expect((result as { value: unknown }).value).toEqual({ rates: { 'USDT/USD': '1', 'EUR/USD': '1.08' } })
    expect(fixed).toMatchObject({ apiVersion: 1, name: 'rates-fixed' })
  })

  test('error: invalid options are refused, each at its field path', async () => {
    const refused: Array<[unknown, Array<Array<string | number>>]> = [
      [{}, [['rates']]],
      [{ rates: {} }, [['rates']]],
      [{ rates: { 'usdt/usd': '1' } }, [['rates', 'usdt/usd']]],
      [{ rates: { USDTUSD: '1' } }, [['rates', 'USDTUSD']]],
      [{ rates: { 'USD/USD': '1' } }, [['rates', 'USD/USD']]],
      [{ rates: { 'EUR/USD': 1.08 } }, [['rates', 'EUR/USD']]],
      [{ rates: { 'EUR/USD': '0' } }, [['rates', 'EUR/USD']]],
      [{ rates: { 'EUR/USD': '0.000' } }, [['rates', 'EUR/USD']]],
      [{ rates: { 'EUR/USD': '-1.08' } }, [['rates', 'EUR/USD']]],
      [{ rates: { 'EUR/USD': '1.08e0' } }, [['rates', 'EUR/USD']]],
      [{ rates: { 'EUR/USD': '.5' } }, [['rates', 'EUR/USD']]],
      [{ rates: { 'EUR/USD': `1.${'0'.repeat(40)}` } }, [['rates', 'EUR/USD']]],
      [{ rates: { 'EUR/USD': '1.08', 'USDT/USD': 'one' } }, [['rates', 'USDT/USD']]],
      [{ rates: { 'USDT/USD': '1' }, at: 'now' }, [[]]],
    ]
    for (const [options, expected] of refused) expect(await paths(options)).toEqual(expected)
  })
})

describe('loading', () => {
  test('default: the plugin loads through loadRateProviders; bad options are named under the provider', async () => {
    const registry = await loadRateProviders(
      { chains: {}, rates: { pinned: rates(() => import('./index.ts'), { rates: { 'USDT/USD': '1' } }) } },
      silent,
    )
    const quotes = await registry.get('pinned')!.provider.fetchRates([pair('USDT/USD')])
    expect(quotes.map((q) => q.rate)).toEqual(['1'])
    const err = await loadRateProviders(
      { chains: {}, rates: { pinned: rates(() => import('./index.ts'), { rates: { 'EUR/USD': 1.08 } }) } },
      silent,
    ).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(PluginConfigError)
    expect((err as PluginConfigError).problems).toHaveLength(1)
    expect((err as PluginConfigError).problems[0]).toStartWith(
      'rate provider "pinned" (module "./index.ts"): invalid options:',
    )
    expect((err as PluginConfigError).problems[0]).toContain('rates.EUR/USD')
  })
})
