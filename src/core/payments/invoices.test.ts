import { describe, expect, test } from 'bun:test'
import type { PricingConfig } from '@tollgate/sdk'
import { asc, eq } from 'drizzle-orm'
import {
  creditOf,
  paymentRow,
  rejection,
  storeRate,
  unitMerchant,
  unitStage,
} from '../../../test/helpers/unit.ts'
import { invoiceEvents, invoices, payments } from '../../db/schema/index.ts'
import type { ErrorCode } from '../errors.ts'
import { openRateBook } from '../pricing/book.ts'
import { type CreateInvoiceInput, createInvoice } from './invoice-create.ts'
import { expireDueInvoices } from './invoice-expiry.ts'
import { chooseInvoiceMethod, getInvoice, invoicePayments } from './invoice-method.ts'
import { requoteInvoices } from './invoice-requote.ts'

const { db, handle, merchantId, scene } = await unitStage('invoice')

const pricing: PricingConfig = {
  pairs: {
    'TOY/USD': { sources: ['desk'], maxAgeSeconds: 60 },
    'TOK/USD': { pin: '1' },
  },
  rateLockSeconds: 900,
}

const setRate = (pair: string, rate: string, ageSeconds = 0) => storeRate(db, pair, rate, ageSeconds)

async function setup(rate = '50000') {
  await setRate('TOY/USD', rate)
  const s = scene({ confirmations: 1 })
  const book = await openRateBook(db, pricing, { reloadMs: 60_000 })
  s.payCtx.rateBook = book
  const both = [
    { chain: s.toy.chain.name, asset: 'TOY' },
    { chain: s.toy.chain.name, asset: 'TOK' },
  ]
  const invoice = async (amount: string, extra: Partial<CreateInvoiceInput> = {}) =>
    (
      await createInvoice(s.payCtx, merchantId, {
        price: { amount, currency: 'USD' },
        accept: both,
        ...extra,
      })
    ).invoice
  const choose = async (invoiceId: string, asset: string) =>
    (await chooseInvoiceMethod(s.payCtx, { merchantId }, { invoiceId, chain: s.toy.chain.name, asset }))
      .payment
  const tok = s.toy.token
  return { ...s, book, invoice, choose, tok }
}

const invoiceRow = async (id: string) => (await db.select().from(invoices).where(eq(invoices.id, id)))[0]!
const invoiceEventTypes = async (id: string) =>
  (
    await db
      .select({ type: invoiceEvents.type })
      .from(invoiceEvents)
      .where(eq(invoiceEvents.invoiceId, id))
      .orderBy(asc(invoiceEvents.seq))
  ).map((e) => e.type)
const count = async () => ({
  invoices: (await db.select({ id: invoices.id }).from(invoices)).length,
  payments: (await db.select({ id: payments.id }).from(payments)).length,
})

describe('invoices: one fiat price, any accepted asset', () => {
  test('default: 25.00 USD accepting TOY and TOK quotes both at the locked rate and takes no address yet', async () => {
    const { invoice, toy } = await setup('50000')
    const before = await count()
    const inv = await invoice('25.00')
    expect(inv).toMatchObject({ status: 'PENDING', priceAmount: '25.00', priceCurrency: 'USD' })
    // 25 USD at 50000 = 0.0005 TOY = 50000 units; TOK pinned at 1 = 25 TOK = 25 000 000 units
    expect(inv.methods.map((m) => [m.symbol, m.amountDue, m.rate])).toEqual([
      ['TOY', '50000', '50000'],
      ['TOK', '25000000', '1'],
    ])
    expect(inv.methods[0]!.chain).toBe(toy.chain.name)
    expect(inv.rateLockedUntil.getTime()).toBeGreaterThan(Date.now() + 899_000)
    expect(await count()).toEqual({ invoices: before.invoices + 1, payments: before.payments })
    expect(await invoiceEventTypes(inv.id)).toEqual(['invoice.created'])
    // as stored
    expect((await invoiceRow(inv.id)).methods).toEqual(inv.methods)
  })

  test('args: without accept, every configured asset with a fresh rate is a method', async () => {
    const { payCtx } = await setup('50000')
    const { invoice } = await createInvoice(payCtx, merchantId, { price: { amount: '10', currency: 'USD' } })
    expect(invoice.methods.map((m) => m.symbol)).toEqual(['TOY', 'TOK'])
    // EUR has no rule for either asset: no method at all is RATE_UNAVAILABLE
    const none = await rejection(
      createInvoice(payCtx, merchantId, { price: { amount: '10', currency: 'EUR' } }),
    )
    expect(none).toMatchObject({ code: 'RATE_UNAVAILABLE', field: 'price' })
  })

  test('error: hostile input is a typed error naming the field, and writes nothing', async () => {
    const { payCtx, toy } = await setup('50000')
    const before = await count()
    const chain = toy.chain.name
    const cases: Array<[Record<string, unknown>, ErrorCode, string]> = [
      [{ price: { amount: '25', currency: 'XYZ' } }, 'INVALID_INPUT', 'price.currency'],
      [{ price: { amount: '-1', currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: '1.001', currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: `1${'0'.repeat(40)}`, currency: 'USD' } }, 'INVALID_AMOUNT', 'price.amount'],
      [{ price: { amount: '25', currency: 'USD' }, priceTolerance: '25' }, 'INVALID_INPUT', 'priceTolerance'],
      [{ price: { amount: '25', currency: 'USD' }, accept: [] }, 'INVALID_INPUT', 'accept'],
      [
        { price: { amount: '25', currency: 'USD' }, accept: [{ chain: 'nope', asset: 'TOY' }] },
        'UNKNOWN_CHAIN',
        'accept.0',
      ],
      [
        { price: { amount: '25', currency: 'USD' }, accept: [{ chain, asset: 'DOGE' }] },
        'UNKNOWN_ASSET',
        'accept.0',
      ],
      [
        {
          price: { amount: '25', currency: 'USD' },
          accept: [
            { chain, asset: 'TOY' },
            { chain, asset: 'TOY' },
          ],
        },
        'INVALID_INPUT',
        'accept.1',
      ],
      [{ price: { amount: '25', currency: 'USD' }, accept: ['TOY'] }, 'INVALID_INPUT', 'accept.0'],
      [
        { price: { amount: '25', currency: 'GBP' }, accept: [{ chain, asset: 'TOY' }] },
        'RATE_UNAVAILABLE',
        'accept.0',
      ],
      [{ price: { amount: '25', currency: 'USD' }, expiresIn: 5 }, 'INVALID_INPUT', 'expiresIn'],
      [{ price: { amount: '25', currency: 'USD' }, metadata: [1] }, 'INVALID_INPUT', 'metadata'],
    ]
    for (const [input, code, field] of cases) {
      const err = await rejection(createInvoice(payCtx, merchantId, input as CreateInvoiceInput))
      expect({ input, code: err.code, field: err.field }).toEqual({ input, code, field })
    }
    expect(await count()).toEqual(before)
  })

  test('behavior: the same idempotency key answers the first invoice, even after the rate moved; other parameters are refused', async () => {
    const { invoice, book } = await setup('50000')
    const first = await invoice('10', { idempotencyKey: 'inv-order-1' })
    await setRate('TOY/USD', '40000')
    await book.reload()
    const other = await rejection(invoice('11', { idempotencyKey: 'inv-order-1' }))
    expect(other).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'idempotencyKey' })
    const replay = await invoice('10', { idempotencyKey: 'inv-order-1' })
    // the first invoice's quotes, not the moved rate's
    expect(replay).toMatchObject({ id: first.id, methods: first.methods })
    expect(replay.methods[0]!.rate).toBe('50000')
  })

  test('behavior: choosing a method makes it a payment of the invoice at the locked rate; choosing it again answers the same payment', async () => {
    const { invoice, choose, payCtx, book, toy } = await setup('50000')
    const inv = await invoice('25')
    await setRate('TOY/USD', '10000')
    await book.reload()
    const p = await choose(inv.id, 'TOY')
    // still the locked 50000, not the moved 10000
    expect(p).toMatchObject({
      invoiceId: inv.id,
      amountDue: 50_000n,
      rate: '50000',
      priceAmount: '25.00',
      priceCurrency: 'USD',
    })
    expect(p.expiresAt.getTime()).toBe(inv.expiresAt.getTime())
    expect(p.rateLockedUntil!.getTime()).toBe(inv.rateLockedUntil.getTime())
    const again = await choose(inv.id, 'TOY')
    expect(again.id).toBe(p.id)
    expect((await invoicePayments({ db }, inv.id)).map((m) => m.id)).toEqual([p.id])
    // the buyer's way in: the client secret, not another merchant's key, not a wrong secret
    const viaSecret = await chooseInvoiceMethod(
      payCtx,
      { clientSecret: inv.clientSecret },
      { invoiceId: inv.id, chain: toy.chain.name, asset: 'TOY' },
    )
    expect(viaSecret.payment.id).toBe(p.id)
    const other = await unitMerchant(handle, 'Other Shop')
    const before = await count()
    for (const access of [
      { merchantId: other },
      { clientSecret: `${inv.clientSecret}x` },
      { clientSecret: '' },
    ]) {
      const err = await rejection(
        chooseInvoiceMethod(payCtx, access, { invoiceId: inv.id, chain: toy.chain.name, asset: 'TOK' }),
      )
      expect(err.code).toBe('NOT_FOUND')
    }
    expect(await getInvoice({ db }, { merchantId: other }, inv.id)).toBeUndefined()
    const wrongAsset = await chooseInvoiceMethod(
      payCtx,
      { merchantId },
      { invoiceId: inv.id, chain: toy.chain.name, asset: 'DOGE' },
    ).catch((e) => e)
    expect(wrongAsset).toMatchObject({ code: 'UNKNOWN_ASSET' })
    expect(await count()).toEqual(before)
  })

  test('error: a method the invoice does not accept is refused, nothing written', async () => {
    const { payCtx, toy } = await setup('50000')
    const { invoice } = await createInvoice(payCtx, merchantId, {
      price: { amount: '5', currency: 'USD' },
      accept: [{ chain: toy.chain.name, asset: 'TOK' }],
    })
    const before = await count()
    const err = await rejection(
      chooseInvoiceMethod(
        payCtx,
        { merchantId },
        { invoiceId: invoice.id, chain: toy.chain.name, asset: 'TOY' },
      ),
    )
    expect(err).toMatchObject({ code: 'INVALID_INPUT', field: 'asset' })
    expect(err.message).toContain('TOK on')
    expect(await count()).toEqual(before)
  })

  test('behavior: half paid in TOY and half in TOK completes when the fiat sum reaches the price; both halves are credited', async () => {
    const { invoice, choose, toy, pay, sync, tok } = await setup('50000')
    const inv = await invoice('25')
    const viaToy = await choose(inv.id, 'TOY')
    // 25 000 units of TOY at 50000 = 12.50 USD
    toy.mine([pay(viaToy, '0xi1', 25_000n)])
    await sync()
    expect(await invoiceRow(inv.id)).toMatchObject({
      status: 'PARTIALLY_PAID',
      amountReceivedFiat: '12.5',
      amountConfirmedFiat: '12.5',
    })
    expect((await paymentRow(db, viaToy.id)).status).toBe('PARTIALLY_PAID')
    expect(await creditOf(db, viaToy.id)).toBe(0n)
    // the second method is quoted for what is left: 12.50 USD in TOK
    const viaTok = await choose(inv.id, 'TOK')
    expect(viaTok).toMatchObject({ amountDue: 12_500_000n, priceAmount: '12.50' })
    toy.mine([pay(viaTok, '0xi2', 12_500_000n, tok)])
    await sync()
    expect(await invoiceRow(inv.id)).toMatchObject({
      status: 'COMPLETED',
      amountReceivedFiat: '25',
      amountConfirmedFiat: '25',
    })
    expect((await paymentRow(db, viaToy.id)).status).toBe('COMPLETED')
    expect((await paymentRow(db, viaTok.id)).status).toBe('COMPLETED')
    expect(await creditOf(db, viaToy.id)).toBe(25_000n)
    expect(await creditOf(db, viaTok.id)).toBe(12_500_000n)
    expect(await invoiceEventTypes(inv.id)).toEqual([
      'invoice.created',
      'invoice.partially_paid',
      'invoice.completed',
    ])
    // a paid invoice takes no new method
    const closed = await rejection(
      chooseInvoiceMethod(
        (await setup()).payCtx,
        { merchantId },
        { invoiceId: inv.id, chain: toy.chain.name, asset: 'TOK' },
      ),
    )
    expect(closed.code).toBe('INVALID_STATE')
  })

  test('behavior: a reorg that takes one half away reverts the invoice and both credits', async () => {
    const { invoice, choose, toy, pay, sync, tok } = await setup('50000')
    const inv = await invoice('10')
    const a = await choose(inv.id, 'TOY')
    toy.mine([pay(a, '0xr1', 10_000n)]) // 5 USD
    await sync()
    const b = await choose(inv.id, 'TOK')
    toy.mine([pay(b, '0xr2', 5_000_000n, tok)])
    await sync()
    expect((await invoiceRow(inv.id)).status).toBe('COMPLETED')
    toy.reorg(1, [[]])
    await sync()
    expect((await invoiceRow(inv.id)).status).toBe('PARTIALLY_PAID')
    expect(await creditOf(db, a.id)).toBe(0n)
    expect(await creditOf(db, b.id)).toBe(0n)
    expect((await invoiceEventTypes(inv.id)).at(-1)).toBe('invoice.reverted')
  })

  test('behavior: past the deadline an invoice with nothing is EXPIRED, one with part of the price UNDERPAID', async () => {
    const { invoice, choose, toy, pay, sync } = await setup('50000')
    const empty = await invoice('3', { expiresIn: 60 })
    const part = await invoice('4', { expiresIn: 60 })
    const method = await choose(part.id, 'TOY')
    toy.mine([pay(method, '0xe1', 2_000n)])
    await sync()
    const later = new Date(Date.now() + 61_000)
    const { invoices: n } = await expireDueInvoices({ db, now: () => later })
    expect(n).toBeGreaterThanOrEqual(2)
    expect((await invoiceRow(empty.id)).status).toBe('EXPIRED')
    expect(await invoiceRow(part.id)).toMatchObject({ status: 'UNDERPAID', amountReceivedFiat: '1' })
    expect((await paymentRow(db, method.id)).status).toBe('UNDERPAID')
    expect(await invoiceEventTypes(empty.id)).toEqual(['invoice.created', 'invoice.expired'])
    // nothing left to expire: a second run changes nothing
    expect((await expireDueInvoices({ db, now: () => later })).changes).toEqual([])
  })

  test('behavior: after the lock an unpaid invoice is quoted again; a chosen method moves with it and money received keeps its rate', async () => {
    const { invoice, choose, toy, pay, sync, book, payCtx } = await setup('50000')
    const inv = await invoice('20')
    const method = await choose(inv.id, 'TOY')
    toy.mine([pay(method, '0xq1', 20_000n)]) // 10 USD at 50000
    await sync()
    const later = new Date(Date.now() + 901_000)
    await setRate('TOY/USD', '25000', -901)
    await book.reload()
    const result = await requoteInvoices({ db, rateBook: book, now: () => later })
    expect(result.requoted).toBeGreaterThanOrEqual(1)
    const requoted = await invoiceRow(inv.id)
    // 10 USD left: 40000 units of TOY at 25000; 10 TOK
    expect(requoted.methods.map((m) => [m.symbol, m.amountDue, m.rate])).toEqual([
      ['TOY', '40000', '25000'],
      ['TOK', '10000000', '1'],
    ])
    expect(requoted.rateLockedUntil.getTime()).toBe(later.getTime() + 900_000)
    expect(await paymentRow(db, method.id)).toMatchObject({ amountDue: 60_000n, rate: '25000' })
    expect(await invoiceEventTypes(inv.id)).toContain('invoice.requoted')
    // judged by the new amount: 40000 more units complete it
    toy.mine([pay(method, '0xq2', 40_000n)])
    await sync()
    expect(await invoiceRow(inv.id)).toMatchObject({ status: 'COMPLETED', amountReceivedFiat: '20' })
    expect(await creditOf(db, method.id)).toBe(60_000n)
    expect(payCtx.rateBook).toBe(book)
  })

  test('behavior: a lock running out at unchanged rates renews it without an event', async () => {
    const { invoice, book } = await setup('50000')
    const inv = await invoice('6')
    const later = new Date(Date.now() + 901_000)
    await setRate('TOY/USD', '50000', -901)
    await book.reload()
    await requoteInvoices({ db, rateBook: book, now: () => later })
    expect((await invoiceRow(inv.id)).rateLockedUntil.getTime()).toBe(later.getTime() + 900_000)
    expect(await invoiceEventTypes(inv.id)).toEqual(['invoice.created'])
  })

  test('error: without a fresh rate an invoice past its lock keeps its quotes and is reported', async () => {
    const { invoice, book } = await setup('50000')
    const inv = await invoice('5')
    const later = new Date(Date.now() + 3_600_000)
    const result = await requoteInvoices({ db, rateBook: book, now: () => later })
    expect(result.unavailable).toContain('TOY/USD')
    expect((await invoiceRow(inv.id)).methods).toEqual(inv.methods)
  })
})
