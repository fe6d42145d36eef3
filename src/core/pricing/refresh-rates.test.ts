import { afterAll, describe, expect, test } from 'bun:test'
import { DriverError, type PricingConfig, type RatePair, type RateQuote } from '@tollgate/sdk'
import { openUnitDb } from '../../../test/helpers/unit.ts'
import { rates } from '../../db/schema/index.ts'
import type { LoadedRateProvider } from '../../plugins/registry.ts'
import { openRateBook } from './book.ts'
import { refreshRates } from './refresh-rates.ts'

const handle = await openUnitDb()
afterAll(() => handle.close())
const db = handle.db

/** A provider over a table the test edits; `down` fails it the way a source that cannot answer does. */
function source(
  name: string,
  table: Record<string, string>,
  options: { down?: boolean; ageSeconds?: number } = {},
) {
  const asked: RatePair[][] = []
  const provider: LoadedRateProvider = {
    name,
    module: 'test',
    provider: {
      async fetchRates(pairs): Promise<RateQuote[]> {
        asked.push([...pairs])
        if (options.down) throw new DriverError('RATE_UNAVAILABLE', 'HTTP 503', { retryable: true })
        const at = new Date(Date.now() - (options.ageSeconds ?? 0) * 1000)
        return pairs.flatMap((p) => {
          const rate = table[`${p.base}/${p.quote}`]
          return rate ? [{ base: p.base, quote: p.quote, rate, at }] : []
        })
      },
    },
  }
  return { provider, asked, table, options }
}

const logs: Array<{ msg?: string; fields: object }> = []
const log = {
  debug() {},
  info() {},
  warn: (fields: object, msg?: string) => logs.push({ fields, msg }),
  error: (fields: object, msg?: string) => logs.push({ fields, msg }),
}
const registry = (...sources: Array<ReturnType<typeof source>>) =>
  new Map(sources.map((s) => [s.provider.name, s.provider]))
const stored = async (pair: string) =>
  (await db.select().from(rates)).find((r) => `${r.base}/${r.quote}` === pair)

describe('refreshRates', () => {
  test('default: the first fresh source in fallback order decides; a source that is down is passed over and said', async () => {
    const kraken = source('kraken', { 'AAA/USD': '100.5' }, { down: true })
    const coinbase = source('coinbase', { 'AAA/USD': '101.25' })
    const pricing: PricingConfig = { pairs: { 'AAA/USD': { sources: ['kraken', 'coinbase'] } } }
    const result = await refreshRates({ db, rates: registry(kraken, coinbase), pricing, log })
    expect(result).toMatchObject({
      stored: ['AAA/USD'],
      failed: [{ provider: 'kraken', code: 'RATE_UNAVAILABLE' }],
    })
    expect(await stored('AAA/USD')).toMatchObject({
      rate: '101.25',
      method: 'fallback',
      sources: [{ provider: 'coinbase', rate: '101.25' }],
    })
    expect(kraken.asked).toEqual([[{ base: 'AAA', quote: 'USD' }]])
  })

  test('behavior: in median mode a source more than 50% off the others is ignored with a warning', async () => {
    const a = source('a', { 'BBB/USD': '200' })
    const b = source('b', { 'BBB/USD': '202' })
    const c = source('c', { 'BBB/USD': '320' })
    const pricing: PricingConfig = { pairs: { 'BBB/USD': { sources: ['a', 'b', 'c'], mode: 'median' } } }
    logs.length = 0
    await refreshRates({ db, rates: registry(a, b, c), pricing, log })
    expect(await stored('BBB/USD')).toMatchObject({ rate: '201', method: 'median' })
    expect(
      logs.some(
        (l) => l.msg === 'rates: an outlier quote was ignored' && JSON.stringify(l.fields).includes('"c"'),
      ),
    ).toBe(true)
  })

  test('behavior: a bridged pair is stored from its legs; a pin needs no source; the book serves both', async () => {
    const fx = source('fx', { 'CCC/USD': '50', 'EUR/USD': '1.25' })
    const pricing: PricingConfig = {
      pairs: {
        'CCC/USD': { sources: ['fx'] },
        'EUR/USD': { sources: ['fx'] },
        'CCC/EUR': { via: 'USD' },
        'STB/USD': { pin: '1' },
      },
    }
    await refreshRates({ db, rates: registry(fx), pricing, log })
    // CCC/EUR = CCC/USD × USD/EUR = 50 / 1.25
    expect(await stored('CCC/EUR')).toMatchObject({ rate: '40', method: 'derived' })
    const book = await openRateBook(db, pricing, { reloadMs: 60_000 })
    try {
      expect(book.quote('CCC/EUR').rate).toBe('40')
      expect(book.quote('STB/USD')).toMatchObject({ rate: '1', method: 'pinned' })
    } finally {
      book.close()
    }
  })

  test('error: with every source down a pair keeps its last rate, which ages until the book refuses it', async () => {
    const only = source('only', { 'DDD/USD': '10' })
    const pricing: PricingConfig = { pairs: { 'DDD/USD': { sources: ['only'], maxAgeSeconds: 60 } } }
    await refreshRates({ db, rates: registry(only), pricing, log })
    only.options.down = true
    const result = await refreshRates({ db, rates: registry(only), pricing, log })
    expect(result.unavailable).toEqual([{ pair: 'DDD/USD', reason: 'no-quotes' }])
    expect(await stored('DDD/USD')).toMatchObject({ rate: '10' })
    const book = await openRateBook(db, pricing, { reloadMs: 60_000 })
    try {
      expect(book.quote('DDD/USD').rate).toBe('10')
      let refused: unknown
      try {
        book.quote('DDD/USD', new Date(Date.now() + 120_000))
      } catch (err) {
        refused = err
      }
      expect(refused).toMatchObject({ code: 'RATE_UNAVAILABLE' })
      expect((refused as Error).message).toContain('DDD/USD')
    } finally {
      book.close()
    }
  })

  test('error: a quote that breaks the contract is ignored (never stored); an older rate never replaces a newer one', async () => {
    const bad = source('bad', { 'EEE/USD': '1e5' })
    const good = source('good', { 'EEE/USD': '7' })
    const pricing: PricingConfig = { pairs: { 'EEE/USD': { sources: ['bad', 'good'] } } }
    logs.length = 0
    await refreshRates({ db, rates: registry(bad, good), pricing, log })
    expect(await stored('EEE/USD')).toMatchObject({ rate: '7', sources: [{ provider: 'good' }] })
    expect(logs.some((l) => l.msg === 'rates: a provider answered a bad quote; ignored')).toBe(true)
    // a run whose only quote is older than what is stored leaves the stored rate
    const late = source('late', { 'EEE/USD': '6' }, { ageSeconds: 30 })
    await refreshRates({
      db,
      rates: registry(late),
      pricing: { pairs: { 'EEE/USD': { sources: ['late'] } } },
      log,
    })
    expect(await stored('EEE/USD')).toMatchObject({ rate: '7' })
  })
})
