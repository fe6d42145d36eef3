import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { PricingConfig } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import { parseEther, parseUnits } from 'viem'
import { createWebhookEndpoint } from '../../src/core/webhooks/endpoints.ts'
import { webhookEventTypes } from '../../src/core/webhooks/events.ts'
import { paymentEvents, payments, rates } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { recordingWebhookReceiver } from '../helpers/kyt.ts'
import {
  createPricedPayment,
  paymentRows,
  type RateStandIns,
  ratesOf,
  startRateStandIns,
  waitForPayment,
  waitForRate,
  withPricing,
} from '../helpers/pricing.ts'
import { waitFor } from '../helpers/processes.ts'

// Fiat-priced payments through the whole gateway: the rates job asks the Kraken, Coinbase and CoinGecko
// stand-ins every second, the API prices payments from the rates it stored, the chain worker sees them paid on
// anvil, the expire job quotes unpaid ones again after their 2 s lock, and webhooks carry the price and rate.

const pricing: PricingConfig = {
  pairs: {
    'USDT/USD': { sources: ['kraken'] },
    'ETH/USD': { sources: ['kraken', 'coinbase'] },
    'ETH/EUR': { sources: ['kraken', 'coinbase', 'gecko'], mode: 'median', outlierBps: 1000 },
    'ETH/GBP': { sources: ['kraken', 'coinbase'], maxAgeSeconds: 3 },
  },
  refreshSeconds: 1,
  rateLockSeconds: 2,
}

/** What the Coinbase stand-in answers for ETH (its recorded rates, with GBP added for ETH/GBP). */
const coinbaseEth = { BTC: '0.05231741', ETH: '1.0', EUR: '3140.21', GBP: '2701.35', USD: '3400.55' }

let devnet: Devnet
let standIns: RateStandIns
let app: TestApp
let key: string
let hooks: ReturnType<typeof recordingWebhookReceiver>
let stopWorkers: (() => Promise<void>) | undefined
let miner: ReturnType<typeof setInterval> | undefined

beforeAll(async () => {
  devnet = await startDevnet()
  standIns = startRateStandIns()
  standIns.kraken.setMarket('ETHGBP', 'XETHZGBP', '2701.30000')
  standIns.coinbase.setRates('ETH', coinbaseEth)
  hooks = recordingWebhookReceiver()
  app = await createTestApp({
    config: withPricing(testConfig(devnet.url), standIns, pricing),
    env: { TOLLGATE_SEED: gatewayMnemonic, WEBHOOK_ALLOW_PRIVATE: 'true' },
  })
  const merchant = await app.merchant('Priced shop')
  key = merchant.key
  await createWebhookEndpoint(app.ctx, merchant.id, { url: hooks.url, events: webhookEventTypes })
  // the rates job runs once at worker start, then every refreshSeconds
  stopWorkers = await startWorkers(app.ctx)
  miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
}, 30_000)
afterAll(async () => {
  if (miner) clearInterval(miner)
  await stopWorkers?.()
  await app?.close()
  hooks?.stop()
  await standIns?.stop()
  await devnet?.stop()
})

/** createPayment through GraphQL priced in `currency`; the created payment (fails the test on a refusal). */
async function priced(asset: 'ETH' | 'USDT', amount: string, currency = 'USD') {
  const { result, errors } = await createPricedPayment(app, key, {
    chain: 'devnet',
    asset,
    price: { amount, currency },
  })
  expect(errors).toBeUndefined()
  expect(result.__typename).toBe('CreatePaymentPayload')
  return result.payment
}

const statusIs = (id: string, status: string) =>
  waitForPayment(app, key, id, ({ row }) => row.status === status, status)
const rateIs = (id: string, rate: string) =>
  waitForPayment(app, key, id, ({ row }) => row.rate === rate, `re-quoted at ${rate}`)
const hookOf = (id: string, type: string, check: (h: any) => boolean = () => true) =>
  waitFor(`${type} webhook of ${id}`, () => hooks.of(id).find((h) => h.type === type && check(h)))

/** Moves ETH/USD on both of its sources (they stay within the outlier guard of each other). */
function setEthUsd(price: string) {
  standIns.kraken.setMarket('ETHUSD', 'XETHZUSD', price)
  standIns.coinbase.setRates('ETH', { ...coinbaseEth, USD: price })
}

describe('the rates job', () => {
  test('default: run at worker start and every refreshSeconds, it stores every pair’s rate by its rule; the rates query serves them', async () => {
    const pairs = Object.keys(pricing.pairs).sort()
    // the book the query serves from, polled; then the query itself
    const rated = await waitFor(
      'a fresh rate for every pair',
      () => app.ctx.rateBook?.all().filter((r) => r.fresh).length === pairs.length,
      10_000,
    )
      .then(() => ratesOf(app, key, pairs))
      .catch(() => undefined)
    // a failing rates job says why in the worker's log
    const jobErrors = app.logs
      .filter((l) => (l.level as number) >= 40 && typeof l.msg === 'string' && /rates/.test(l.msg) && l.err)
      .map((l) => `${l.msg}: ${(l.err as { message?: string }).message?.split('\n')[0]}`)
    expect([...new Set(jobErrors)]).toEqual([])
    expect(rated?.map((r) => `${r.pair} ${r.rate} ${r.method}`).sort()).toEqual([
      'ETH/EUR 3140.21 median',
      'ETH/GBP 2701.3 fallback',
      'ETH/USD 3400.51 fallback',
      'USDT/USD 1.0002 fallback',
    ])
    const stored = await app.ctx.db.select().from(rates)
    expect(stored.map((r) => `${r.base}/${r.quote}`).sort()).toEqual(pairs)
    // a pair asked for that has no rule is simply not there
    expect(await ratesOf(app, key, ['ETH/CHF'])).toEqual([])
  }, 15_000)
})

describe('fiat-priced payments paid on anvil', () => {
  test('default: 25.00 USD in USDT (Kraken) and in ETH (Kraken, Coinbase behind it), paid at the quoted amounts → COMPLETED, the price, rate, lock and sources shown and sent', async () => {
    const usdtRate = await waitForRate(app, key, 'USDT/USD', (r) => r.fresh)
    expect(usdtRate).toMatchObject({
      pair: 'USDT/USD',
      rate: '1.0002',
      method: 'fallback',
      fresh: true,
      sources: [{ provider: 'kraken', rate: '1.00020000' }],
    })
    const [ethRate] = await ratesOf(app, key, ['ETH/USD'])
    // fallback: the first source that answered, Kraken; Coinbase is not used while it does
    expect(ethRate).toMatchObject({
      rate: '3400.51',
      method: 'fallback',
      sources: [{ provider: 'kraken', rate: '3400.51000' }],
    })

    const before = Date.now()
    const usdt = await priced('USDT', '25.00')
    const eth = await priced('ETH', '25.00')
    // 25 / 1.0002 = 24.9950009998…, rounded up to the token's 6 decimals
    expect(usdt).toMatchObject({
      status: 'PENDING',
      amountDue: '24.995001',
      price: { amount: '25.00', currency: 'USD' },
      rate: '1.0002',
      amountRemainingFiat: '25',
      amountReceivedFiat: '0',
    })
    // 25 / 3400.51 = 0.0073518384007104816…, rounded up to wei
    expect(eth).toMatchObject({
      amountDue: '0.007351838400710482',
      price: { amount: '25.00', currency: 'USD' },
      rate: '3400.51',
    })
    for (const p of [usdt, eth]) expect(Date.parse(p.rateLockedUntil)).toBeGreaterThanOrEqual(before + 2000)

    await devnet.payToken(usdt.address, 24_995_001n)
    await devnet.payNative(eth.address, 7_351_838_400_710_482n)
    const [usdtDone, ethDone] = await Promise.all([
      statusIs(usdt.id, 'COMPLETED'),
      statusIs(eth.id, 'COMPLETED'),
    ])
    expect(usdtDone).toMatchObject({
      amountReceived: '24.995001',
      overpaidAmount: '0',
      price: { amount: '25.00', currency: 'USD' },
      rate: '1.0002',
      amountRemainingFiat: '0',
      overpaidFiat: '0',
    })
    expect(ethDone).toMatchObject({
      amountReceived: '0.007351838400710482',
      rate: '3400.51',
      amountReceivedFiat: '25',
      amountRemainingFiat: '0',
    })

    // what the merchant's backend is told: the price and the rate with its sources, for its books
    const completed = await hookOf(eth.id, 'payment.completed')
    expect(completed.data).toMatchObject({
      status: 'COMPLETED',
      amountDue: '0.007351838400710482',
      price: { amount: '25.00', currency: 'USD' },
      rate: {
        value: '3400.51',
        sources: { method: 'fallback', sources: [{ provider: 'kraken', rate: '3400.51000' }] },
      },
      amountReceivedFiat: '25',
    })
    expect(Date.parse((completed.data as any).rate.at)).not.toBeNaN()
    expect((completed.data as any).rateLockedUntil).toBe(ethDone.rateLockedUntil)
    const usdtCompleted = await hookOf(usdt.id, 'payment.completed')
    expect(usdtCompleted.data).toMatchObject({
      price: { amount: '25.00', currency: 'USD' },
      rate: { value: '1.0002', sources: { sources: [{ provider: 'kraken', rate: '1.00020000' }] } },
    })
  }, 30_000)
})

describe('rate providers failing', () => {
  test('behavior: Kraken answering 503 → the Coinbase rate is used, the rates query names it, and payments are priced at it', async () => {
    try {
      standIns.kraken.misbehave({ kind: 'status', status: 503 })
      const rate = await waitForRate(app, key, 'ETH/USD', (r) => r.sources[0]?.provider === 'coinbase')
      expect(rate).toMatchObject({
        rate: '3400.55',
        method: 'fallback',
        fresh: true,
        sources: [{ provider: 'coinbase', rate: '3400.55' }],
      })
      expect(
        app.logs.some(
          (l) =>
            l.msg === 'rates: a provider could not answer; the others decide' &&
            l.provider === 'kraken' &&
            l.code === 'RATE_UNAVAILABLE',
        ),
      ).toBe(true)
      const p = await priced('ETH', '25.00')
      // 25 / 3400.55, rounded up to wei
      expect(p).toMatchObject({ amountDue: '0.007351751922483128', rate: '3400.55' })
    } finally {
      standIns.heal()
    }
    // Kraken back: the first source in the rule's order counts again
    await waitForRate(app, key, 'ETH/USD', (r) => r.sources[0]?.provider === 'kraken')
  })

  test('behavior: three sources in median mode, one 50 % off → it is ignored with a warning, the rate is the median of the other two', async () => {
    try {
      const healthy = await waitForRate(app, key, 'ETH/EUR', (r) => r.sources.length === 3)
      // 3140.18, 3140.21, 3140.21
      expect(healthy).toMatchObject({ rate: '3140.21', method: 'median' })
      standIns.gecko.setPrice('ethereum', 'eur', 1570.1)
      const rate = await waitForRate(app, key, 'ETH/EUR', (r) => r.sources.length === 2)
      // the mean of the two middle (and only) ones: (3140.18 + 3140.21) / 2
      expect(rate).toMatchObject({ rate: '3140.195', method: 'median', fresh: true })
      expect(rate.sources.map((s) => `${s.provider} ${s.rate}`).sort()).toEqual([
        'coinbase 3140.21',
        'kraken 3140.18000',
      ])
      const warning = app.logs.find(
        (l) => l.msg === 'rates: an outlier quote was ignored' && l.provider === 'gecko',
      )
      expect(warning).toMatchObject({
        level: 40,
        kind: 'outlier',
        pair: 'ETH/EUR',
        rate: '1570.1',
        medianOfOthers: '3140.195',
      })
      const p = await priced('ETH', '25.00', 'EUR')
      // 25 / 3140.195, rounded up to wei
      expect(p).toMatchObject({ amountDue: '0.007961289028229139', rate: '3140.195' })
    } finally {
      standIns.gecko.reset()
    }
  })

  test('error: every source down and the last rate older than maxAgeSeconds → RATE_UNAVAILABLE naming the pair, nothing created', async () => {
    try {
      const fresh = await waitForRate(app, key, 'ETH/GBP', (r) => r.fresh)
      expect(fresh).toMatchObject({ rate: '2701.3', sources: [{ provider: 'kraken' }] })
      standIns.kraken.misbehave({ kind: 'status', status: 503 })
      standIns.coinbase.misbehave({ kind: 'rate-limited', retryAfter: '30' })
      // the stored rate ages past its 3 s: shown as not fresh, and no longer priced with
      const stale = await waitForRate(app, key, 'ETH/GBP', (r) => !r.fresh)
      expect(stale.rate).toBe('2701.3')
      const before = await paymentRows(app)
      const { result } = await createPricedPayment(app, key, {
        chain: 'devnet',
        asset: 'ETH',
        price: { amount: '25.00', currency: 'GBP' },
      })
      expect(result).toMatchObject({ __typename: 'UserError', code: 'RATE_UNAVAILABLE', field: 'price' })
      expect(result.message).toContain('ETH/GBP')
      expect(result.message).toContain('out of date')
      expect(await paymentRows(app)).toEqual(before)
    } finally {
      standIns.heal()
    }
    // a source answering again makes the pair priceable again
    await waitForRate(app, key, 'ETH/GBP', (r) => r.fresh)
    expect((await priced('ETH', '25.00', 'GBP')).rate).toBe('2701.3')
  })
})

describe('re-quoting after the rate lock', () => {
  test('behavior: an unpaid payment follows the moved rate after its lock (payment.requoted), and paying the new amount completes it', async () => {
    setEthUsd('2500.00000')
    await waitForRate(app, key, 'ETH/USD', (r) => r.rate === '2500')
    const p = await priced('ETH', '25.00')
    expect(p).toMatchObject({ amountDue: '0.01', rate: '2500' })

    setEthUsd('2000.00000')
    await waitForRate(app, key, 'ETH/USD', (r) => r.rate === '2000')
    const requoted = await rateIs(p.id, '2000')
    expect(requoted).toMatchObject({
      status: 'PENDING',
      amountDue: '0.0125',
      amountRemaining: '0.0125',
      price: { amount: '25.00', currency: 'USD' },
      amountRemainingFiat: '25',
    })
    expect(Date.parse(requoted.rateLockedUntil)).toBeGreaterThan(Date.parse(p.rateLockedUntil))
    const event = requoted.events.find((e: any) => e.type === 'payment.requoted' && e.data.rate === '2000')
    expect(event.data).toMatchObject({
      previousRate: '2500',
      amountDue: '12500000000000000',
      previousAmountDue: '10000000000000000',
    })
    const hook = await hookOf(p.id, 'payment.requoted', (h) => h.data.rate?.value === '2000')
    expect(hook.data).toMatchObject({ status: 'PENDING', amountDue: '0.0125', price: { amount: '25.00' } })

    await devnet.payNative(p.address, parseEther('0.0125'))
    const done = await statusIs(p.id, 'COMPLETED')
    expect(done).toMatchObject({ amountReceived: '0.0125', overpaidAmount: '0', rate: '2000' })
  }, 30_000)

  describe('a payment half-paid before its lock ran out', () => {
    // two payments of 25.00 USD at 2000 (0.0125 ETH), each half-paid (12.50 USD), then the rate moves to 2500
    let paidInFull: { id: string; address: string }
    let leftHalfPaid: { id: string }
    let afterRequote: any

    beforeAll(async () => {
      setEthUsd('2000.00000')
      await waitForRate(app, key, 'ETH/USD', (r) => r.rate === '2000')
      paidInFull = await priced('ETH', '25.00')
      leftHalfPaid = await priced('ETH', '25.00')
      for (const p of [paidInFull, leftHalfPaid] as any[]) {
        expect(p.amountDue).toBe('0.0125')
        await devnet.payNative(p.address, parseEther('0.00625'))
      }
      await statusIs(paidInFull.id, 'PARTIALLY_PAID')
      await statusIs(leftHalfPaid.id, 'PARTIALLY_PAID')
      setEthUsd('2500.00000')
      await waitForRate(app, key, 'ETH/USD', (r) => r.rate === '2500')
      afterRequote = await rateIs(paidInFull.id, '2500')
      await rateIs(leftHalfPaid.id, '2500')
    }, 30_000)

    test('behavior: the half keeps its 12.50 USD; the other 12.50 is quoted at the new rate and paying it completes the payment', async () => {
      const event = afterRequote.events.find(
        (e: any) => e.type === 'payment.requoted' && e.data.rate === '2500',
      )
      // 0.00625 ETH received (12.50 USD at 2000) + 12.50 USD at 2500 (0.005 ETH)
      expect(event.data).toMatchObject({
        previousRate: '2000',
        amountDue: '11250000000000000',
        previousAmountDue: '12500000000000000',
      })
      expect(afterRequote).toMatchObject({
        status: 'PARTIALLY_PAID',
        amountReceived: '0.00625',
        amountDue: '0.01125',
        amountRemaining: '0.005',
        amountRemainingFiat: '12.5',
      })
      await devnet.payNative(paidInFull.address, parseUnits('0.005', 18))
      const done = await statusIs(paidInFull.id, 'COMPLETED')
      expect(done.amountReceived).toBe('0.01125')
      const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, paidInFull.id))
      expect(row).toMatchObject({
        status: 'COMPLETED',
        amountReceived: 11_250_000_000_000_000n,
        rate: '2500',
      })
    })

    test('behavior: the fiat value of what arrived counts each part at the rate it arrived under (12.50 + 12.50 = 25 USD)', async () => {
      // right after the re-quote: 12.50 USD received (at 2000), 12.50 USD to go (at 2500)
      expect({
        received: afterRequote.amountReceivedFiat,
        remaining: afterRequote.amountRemainingFiat,
      }).toEqual({ received: '12.5', remaining: '12.5' })
      const done = await statusIs(paidInFull.id, 'COMPLETED')
      expect({ received: done.amountReceivedFiat, overpaid: done.overpaidFiat }).toEqual({
        received: '25',
        overpaid: '0',
      })
      const completed = await hookOf(paidInFull.id, 'payment.completed')
      expect((completed.data as any).amountReceivedFiat).toBe('25')
    })

    test('behavior: a later lock running out at the same rate renews the lock and leaves the amount due as it was (no drift, no event)', async () => {
      const [first] = await app.ctx.db.select().from(payments).where(eq(payments.id, leftHalfPaid.id))
      const renewed = await waitForPayment(
        app,
        key,
        leftHalfPaid.id,
        ({ row }) =>
          row.status !== 'PARTIALLY_PAID' ||
          (row.rateLockedUntil?.getTime() ?? 0) > (first?.rateLockedUntil?.getTime() ?? 0),
        'the lock renewed at 2500',
      )
      // 0.00625 ETH received at 2000 (12.50 USD) + 12.50 USD at 2500 = 0.01125 ETH, however many locks run out
      expect(renewed).toMatchObject({ status: 'PARTIALLY_PAID', amountDue: '0.01125' })
      const events = await app.ctx.db
        .select()
        .from(paymentEvents)
        .where(eq(paymentEvents.paymentId, leftHalfPaid.id))
      expect(
        events.filter((e) => e.type === 'payment.requoted' && (e.data as { rate?: string })?.rate === '2500'),
      ).toHaveLength(1)
    }, 20_000)
  })
})

describe('hostile input through GraphQL', () => {
  test('error: unknown currency, bad or over-precise or huge prices, both amount and price, a pair without a rule → typed UserErrors, nothing written', async () => {
    const base = { chain: 'devnet', asset: 'ETH' }
    const price = (amount: string, currency = 'USD') => ({ price: { amount, currency } })
    const cases: Array<[string, Record<string, unknown>, string, string]> = [
      ['unknown currency', price('25.00', 'XYZ'), 'INVALID_INPUT', 'price.currency'],
      ['lower-case currency', price('25.00', 'usd'), 'INVALID_INPUT', 'price.currency'],
      ['an asset as the currency', price('25.00', 'BTC'), 'INVALID_INPUT', 'price.currency'],
      ['an empty currency', price('25.00', ''), 'INVALID_INPUT', 'price.currency'],
      ['negative', price('-25.00'), 'INVALID_AMOUNT', 'price.amount'],
      ['zero', price('0.00'), 'INVALID_AMOUNT', 'price.amount'],
      ['over-precise', price('25.001'), 'INVALID_AMOUNT', 'price.amount'],
      ['JPY has no minor units', price('25.5', 'JPY'), 'INVALID_AMOUNT', 'price.amount'],
      ['an exponent', price('2.5e1'), 'INVALID_AMOUNT', 'price.amount'],
      ['padded', price(' 25'), 'INVALID_AMOUNT', 'price.amount'],
      ['not a number', price('twenty'), 'INVALID_AMOUNT', 'price.amount'],
      ['just above 10^15', price('1000000000000000.01'), 'INVALID_AMOUNT', 'price.amount'],
      ['ten thousand digits', price('9'.repeat(10_000)), 'INVALID_AMOUNT', 'price.amount'],
      ['five thousand decimals', price(`25.${'0'.repeat(5_000)}1`), 'INVALID_AMOUNT', 'price.amount'],
      ['amount and price', { amount: '0.01', ...price('25.00') }, 'INVALID_INPUT', 'amount'],
      ['neither amount nor price', {}, 'INVALID_INPUT', 'amount'],
      [
        'a tolerance as large as the price',
        { ...price('25.00'), priceTolerance: '25.00' },
        'INVALID_INPUT',
        'priceTolerance',
      ],
      [
        'a negative tolerance',
        { ...price('25.00'), priceTolerance: '-1' },
        'INVALID_AMOUNT',
        'priceTolerance',
      ],
      [
        'an over-precise tolerance',
        { ...price('25.00'), priceTolerance: '0.001' },
        'INVALID_AMOUNT',
        'priceTolerance',
      ],
      [
        'a tolerance without a price',
        { amount: '0.01', priceTolerance: '1' },
        'INVALID_INPUT',
        'priceTolerance',
      ],
      ['a pair with no rule (ETH/CHF)', price('25.00', 'CHF'), 'RATE_UNAVAILABLE', 'price'],
    ]
    const before = await paymentRows(app)
    for (const [what, input, code, field] of cases) {
      const { result, errors } = await createPricedPayment(app, key, { ...base, ...input })
      expect({ what, errors, result: { ...result, message: undefined } }).toEqual({
        what,
        errors: undefined,
        result: { __typename: 'UserError', code, field, message: undefined },
      })
      expect(result.message.length).toBeGreaterThan(0)
      expect(result.message.length).toBeLessThan(400)
    }
    // no rule for the pair: named in the message, for the other asset of the chain too
    const noRule = await createPricedPayment(app, key, {
      chain: 'devnet',
      asset: 'USDT',
      ...price('5', 'EUR'),
    })
    expect(noRule.result).toMatchObject({ code: 'RATE_UNAVAILABLE', field: 'price' })
    expect(noRule.result.message).toContain('USDT/EUR')
    // a price that is not a string is refused by the schema itself
    const numeric = await createPricedPayment(app, key, { ...base, price: { amount: 25, currency: 'USD' } })
    expect(numeric.result).toBeNull()
    expect(numeric.errors).toBeDefined()
    expect(await paymentRows(app)).toEqual(before)
  })

  test('args: the largest price, 10^15 USD, is quoted exactly in base units', async () => {
    setEthUsd('2500.00000')
    await waitForRate(app, key, 'ETH/USD', (r) => r.rate === '2500')
    const p = await priced('ETH', '1000000000000000')
    // 10^15 / 2500 = 4 × 10^11 ETH, exactly
    expect(p).toMatchObject({
      amountDue: '400000000000',
      rate: '2500',
      price: { amount: '1000000000000000', currency: 'USD' },
    })
    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, p.id))
    expect(row!.amountDue).toBe(parseEther(p.amountDue))
  })
})
