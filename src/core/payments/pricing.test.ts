import { describe, expect, test } from 'bun:test'
import type { PricingConfig } from '@tollgate/sdk'
import { asc, eq } from 'drizzle-orm'
import { creditOf, paymentRow, rejection, storeRate, unitStage } from '../../../test/helpers/unit.ts'
import { paymentEvents, payments } from '../../db/schema/index.ts'
import type { ErrorCode } from '../errors.ts'
import { openRateBook } from '../pricing/book.ts'
import { createPayment } from './create.ts'
import { fiatValue, receivedFiat } from './pricing.ts'
import { requoteExpiredLocks } from './requote.ts'

const { db, merchantId, scene } = await unitStage('pricing')

const pricing: PricingConfig = {
  pairs: {
    'TOY/USD': { sources: ['desk'], maxAgeSeconds: 60 },
    'TOK/USD': { pin: '1' },
    'TOY/EUR': { sources: ['desk'] },
  },
  rateLockSeconds: 900,
}

const setRate = (pair: string, rate: string, ageSeconds = 0) => storeRate(db, pair, rate, ageSeconds)

async function setup() {
  const s = scene({ confirmations: 1 })
  const book = await openRateBook(db, pricing, { reloadMs: 60_000 })
  s.payCtx.rateBook = book
  const priced = (amount: string, currency = 'USD', extra: Record<string, unknown> = {}) =>
    createPayment(s.payCtx, merchantId, {
      chain: s.toy.chain.name,
      asset: s.toy.native.id,
      price: { amount, currency },
      ...extra,
    })
  const countPayments = async () => (await db.select({ id: payments.id }).from(payments)).length
  return { ...s, book, priced, countPayments }
}

describe('fiat-priced payments', () => {
  test('default: 25.00 USD at TOY/USD 97123.45 is 25741 base units (rounded up), with the rate, its sources and lock stored', async () => {
    await setRate('TOY/USD', '97123.45')
    const { priced, book } = await setup()
    await book.reload()
    const before = Date.now()
    const { payment } = await priced('25.00')
    expect(payment).toMatchObject({
      amountDue: 25741n,
      priceAmount: '25.00',
      priceCurrency: 'USD',
      rate: '97123.45',
      rateSources: { method: 'fallback', sources: [{ provider: 'desk', rate: '97123.45' }] },
    })
    expect(payment.rateLockedUntil!.getTime()).toBeGreaterThanOrEqual(before + 900_000)
    // as stored, not only as answered
    const stored = await paymentRow(db, payment.id)
    expect(stored).toMatchObject({
      amountDue: 25741n,
      priceAmount: '25.00',
      priceCurrency: 'USD',
      rate: '97123.45',
    })
    // reported back in the currency, rounded down: 25741 units at 97123.45 = 25.0004… USD
    expect(fiatValue(stored, stored.amountDue, 8)).toBe('25')
  })

  test('args: a pinned stablecoin, a fiat tolerance, and the same idempotent request after the rate moved', async () => {
    await setRate('TOY/USD', '50000')
    const { priced, book, toy, payCtx } = await setup()
    await book.reload()
    const tok = toy.chain.driver.assets.find((a) => a.symbol === 'TOK')!
    // TOK/USD is pinned to 1: no rate row needed
    const pinned = await createPayment(payCtx, merchantId, {
      chain: toy.chain.name,
      asset: tok.id,
      price: { amount: '12.5', currency: 'USD' },
    })
    expect(pinned.payment.amountDue).toBe(12_500_000n)
    const tolerant = await priced('100', 'USD', { priceTolerance: '0.50' })
    // 0.50 USD at 50000 = 0.00001 TOY = 1000 units
    expect(tolerant.payment.amountTolerance).toBe(1000n)
    const first = await priced('10', 'USD', { idempotencyKey: 'order-77' })
    await setRate('TOY/USD', '40000')
    await book.reload()
    const again = await priced('10', 'USD', { idempotencyKey: 'order-77' })
    expect(again).toMatchObject({
      replayed: true,
      payment: { id: first.payment.id, amountDue: first.payment.amountDue },
    })
  })

  test('error: no fresh rate is RATE_UNAVAILABLE naming the pair and the rate’s time; nothing is created', async () => {
    await setRate('TOY/EUR', '90000', 3600)
    const { priced, book, countPayments } = await setup()
    await book.reload()
    const before = await countPayments()
    const stale = await rejection(priced('10', 'EUR'))
    expect(stale).toMatchObject({ code: 'RATE_UNAVAILABLE', field: 'price' })
    expect(stale.message).toContain('TOY/EUR')
    expect(stale.message).toContain('out of date')
    const noRule = await rejection(priced('10', 'GBP'))
    expect(noRule).toMatchObject({ code: 'RATE_UNAVAILABLE' })
    expect(noRule.message).toContain('TOY/GBP')
    expect(await countPayments()).toBe(before)
  })

  test('error: hostile prices are typed errors and write nothing', async () => {
    await setRate('TOY/USD', '97123.45')
    const { payCtx, toy, book, countPayments } = await setup()
    await book.reload()
    const before = await countPayments()
    const base = { chain: toy.chain.name, asset: toy.native.id }
    const cases: Array<[Record<string, unknown>, ErrorCode, string]> = [
      [{ price: { amount: '25', currency: 'usd' } }, 'INVALID_INPUT', 'price.currency'],
      [{ price: { amount: '25', currency: 'XYZ' } }, 'INVALID_INPUT', 'price.currency'],
      [{ price: { amount: '25', currency: 'BTC' } }, 'INVALID_INPUT', 'price.currency'],
      [{ price: { amount: '-25', currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: '25.001', currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: '1e3', currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: '0', currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: '9'.repeat(40), currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: '1.5', currency: 'JPY' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: 25, currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: 'USD 25' }, 'INVALID_INPUT', 'price'],
      [{ price: { amount: '25', currency: 'USD' }, amount: '1' }, 'INVALID_INPUT', 'amount'],
      [{}, 'INVALID_INPUT', 'amount'],
      [{ price: { amount: '25', currency: 'USD' }, priceTolerance: '25' }, 'INVALID_INPUT', 'priceTolerance'],
      [
        { price: { amount: '25', currency: 'USD' }, priceTolerance: '0.001' },
        'INVALID_AMOUNT',
        'priceTolerance',
      ],
      [{ amount: '1', priceTolerance: '1' }, 'INVALID_INPUT', 'priceTolerance'],
    ]
    for (const [input, code, field] of cases) {
      const err = await rejection(createPayment(payCtx, merchantId, { ...base, ...input } as never))
      expect({ input, code: err.code, field: err.field }).toEqual({ input, code, field })
    }
    expect(await countPayments()).toBe(before)
  })
})

describe('re-quoting after the lock', () => {
  test('behavior: an unpaid payment is quoted again at the current rate once its lock ran out (payment.requoted)', async () => {
    await setRate('TOY/USD', '50000')
    const { priced, book, payCtx } = await setup()
    await book.reload()
    const { payment } = await priced('25')
    expect(payment.amountDue).toBe(50_000n)
    await setRate('TOY/USD', '40000')
    await book.reload()
    // within the lock nothing moves
    expect((await requoteExpiredLocks({ db, chains: payCtx.chains, rateBook: book })).requoted).toBe(0)
    const later = new Date(Date.now() + 901_000)
    // fresh at that later time
    await setRate('TOY/USD', '40000', -901)
    await book.reload()
    const result = await requoteExpiredLocks({ db, chains: payCtx.chains, rateBook: book, now: () => later })
    expect(result.requoted).toBeGreaterThanOrEqual(1)
    const row = await paymentRow(db, payment.id)
    expect(row).toMatchObject({ amountDue: 62_500n, rate: '40000' })
    expect(row.rateLockedUntil!.getTime()).toBe(later.getTime() + 900_000)
    const [event] = await db
      .select()
      .from(paymentEvents)
      .where(eq(paymentEvents.paymentId, payment.id))
      .orderBy(asc(paymentEvents.seq))
      .then((rows) => rows.filter((e) => e.type === 'payment.requoted'))
    expect(event?.data).toMatchObject({
      rate: '40000',
      previousRate: '50000',
      amountDue: '62500',
      previousAmountDue: '50000',
    })
  })

  test('behavior: money already received keeps its rate; the rest is quoted at the new one, and it completes on that', async () => {
    await setRate('TOY/USD', '50000')
    const { priced, book, payCtx, toy, pay, sync } = await setup()
    await book.reload()
    const { payment } = await priced('20')
    expect(payment.amountDue).toBe(40_000n)
    // half arrives at 50000: worth 10 USD
    toy.mine([pay(payment, '0xh1', 20_000n)])
    await sync()
    expect((await paymentRow(db, payment.id)).status).toBe('PARTIALLY_PAID')
    const later = new Date(Date.now() + 901_000)
    await setRate('TOY/USD', '25000', -901)
    await book.reload()
    await requoteExpiredLocks({ db, chains: payCtx.chains, rateBook: book, now: () => later })
    // the other 10 USD at 25000 = 40000 units: 20000 + 40000
    expect(await paymentRow(db, payment.id)).toMatchObject({ amountDue: 60_000n, rate: '25000' })
    // what arrived is still worth the 10 USD it came in at, not 20000 units at the new rate (5 USD)
    expect(receivedFiat(await paymentRow(db, payment.id), 8)).toBe('10')
    // another lock runs out at the same rate: the amount holds (no drift), the lock is renewed, no event
    const events = async () =>
      (await db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, payment.id))).length
    const before = await events()
    const evenLater = new Date(later.getTime() + 901_000)
    await setRate('TOY/USD', '25000', -1802)
    await book.reload()
    await requoteExpiredLocks({ db, chains: payCtx.chains, rateBook: book, now: () => evenLater })
    const renewed = await paymentRow(db, payment.id)
    expect(renewed.amountDue).toBe(60_000n)
    expect(renewed.rateLockedUntil!.getTime()).toBe(evenLater.getTime() + 900_000)
    expect(await events()).toBe(before)
    toy.mine([pay(payment, '0xh2', 40_000n)])
    await sync()
    expect((await paymentRow(db, payment.id)).status).toBe('COMPLETED')
    expect(await creditOf(db, payment.id)).toBe(60_000n)
  })

  test('error: without a fresh rate the payment keeps its amount and is reported, not re-quoted', async () => {
    await setRate('TOY/USD', '50000')
    const { priced, book, payCtx } = await setup()
    await book.reload()
    const { payment } = await priced('5')
    const later = new Date(Date.now() + 3_600_000)
    const result = await requoteExpiredLocks({ db, chains: payCtx.chains, rateBook: book, now: () => later })
    expect(result.unavailable).toContain('TOY/USD')
    expect(await paymentRow(db, payment.id)).toMatchObject({ amountDue: 10_000n, rate: '50000' })
  })
})
