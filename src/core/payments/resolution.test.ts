import { afterAll, describe, expect, test } from 'bun:test'
import { asc, eq, sql } from 'drizzle-orm'
import { type DepositOptions, late, refundScene, refundSceneDb } from '../../../test/helpers/refund-scene.ts'
import { creditOf, eventTypes, paymentRow, rejection, unitMerchant } from '../../../test/helpers/unit.ts'
import { auditLog, ledgerPostings, type PaymentStatus, paymentEvents } from '../../db/schema/index.ts'
import { getBalances } from '../ledger/balances.ts'
import { cancelRefund } from '../payouts/refunds.ts'
import { openRateBook } from '../pricing/book.ts'
import { refreshWatchSet } from '../scanning/watch-set.ts'
import { createInvoice } from './invoice-create.ts'
import { chooseInvoiceMethod } from './invoice-method.ts'
import type { PaymentRow } from './queries.ts'
import { acceptPayment, cancelPayment } from './resolution.ts'

const handle = await refundSceneDb(4)
const { db } = handle
const merchantId = await unitMerchant(handle, 'Resolution Shop')
const otherMerchant = await unitMerchant(handle, 'Other Shop')
const actor = { keyId: 'key_resolver', requestId: 'req_1' }

/**
 * The merchant's refund scene, its deposit answering what the payment's refresh changed: a transfer into the
 * payment's address, mined at the next height and confirmed by default; `confirmed: false` leaves it above the
 * verified tip, `status` stores it as the mempool or a reorg left it.
 */
function setup() {
  const s = refundScene(handle, { merchantId, name: 'resolution', actor })
  const deposit = async (p: PaymentRow, amount: bigint, o: DepositOptions = {}) => {
    await s.store(p, amount, o)
    return s.refresh(p, o.at)
  }
  return { ...s, deposit }
}

/** Payments past cancel and accept alike: 40 of 100 paid and open, paid in full, expired unpaid, canceled. */
async function settledOrPaying(s: ReturnType<typeof setup>) {
  const partial = await s.create(100n)
  await s.deposit(partial, 40n)
  const completed = await s.create(100n)
  await s.deposit(completed, 100n)
  const expired = await s.create(100n)
  await s.refresh(expired, late())
  const canceled = await s.create(100n)
  await cancelPayment(s.ctx, merchantId, canceled.id, actor)
  return { partial, completed, expired, canceled }
}

const available = async (chain: string, who = merchantId) =>
  (await getBalances({ db }, who)).find((b) => b.chain === chain)?.available ?? 0n
const auditOf = (paymentId: string) =>
  db
    .select()
    .from(auditLog)
    .where(eq(auditLog.targetId, paymentId))
    .orderBy(asc(auditLog.createdAt), asc(auditLog.id))
const eventsOf = (paymentId: string) =>
  db
    .select()
    .from(paymentEvents)
    .where(eq(paymentEvents.paymentId, paymentId))
    .orderBy(asc(paymentEvents.seq))
/** What a refused call must leave as it was: the payment, its events, its audit rows, every posting. */
async function footprint(paymentId: string) {
  const [postings] = await db.select({ n: sql<number>`count(*)::int` }).from(ledgerPostings)
  return {
    payment: await paymentRow(db, paymentId),
    events: await eventsOf(paymentId),
    audit: await auditOf(paymentId),
    postings: postings?.n,
  }
}

/** A method of an invoice (TOK pinned at 1 USD), as its buyer chose it. */
async function invoiceMethod(s: ReturnType<typeof setup>) {
  const book = await openRateBook(db, { pairs: { 'TOK/USD': { pin: '1' } }, rateLockSeconds: 900 })
  afterAll(() => book.close())
  s.payCtx.rateBook = book
  const { invoice } = await createInvoice(s.payCtx, merchantId, {
    price: { amount: '10', currency: 'USD' },
    accept: [{ chain: s.toy.chain.name, asset: 'TOK' }],
  })
  const { payment } = await chooseInvoiceMethod(
    s.payCtx,
    { merchantId },
    { invoiceId: invoice.id, chain: s.toy.chain.name, asset: 'TOK' },
  )
  return payment
}

describe('cancelPayment', () => {
  test('default: a PENDING payment nothing was sent to is CANCELED, with its event and an audit row', async () => {
    const s = setup()
    const p = await s.create(100n)
    const { payment, changes } = await cancelPayment(s.ctx, merchantId, p.id, actor)
    expect(payment).toMatchObject({ id: p.id, status: 'CANCELED', resolution: null, amountReceived: 0n })
    expect(changes).toEqual([
      { paymentId: p.id, merchantId, seq: 2, type: 'payment.canceled', from: 'PENDING', to: 'CANCELED' },
    ])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'CANCELED', eventSeq: 2 })
    const events = await eventsOf(p.id)
    expect(events.map((e) => [e.seq, e.type, e.fromStatus, e.toStatus])).toEqual([
      [1, 'payment.created', null, 'PENDING'],
      [2, 'payment.canceled', 'PENDING', 'CANCELED'],
    ])
    expect(await auditOf(p.id)).toEqual([
      expect.objectContaining({
        merchantId,
        actor: 'key_resolver',
        requestId: 'req_1',
        action: 'payment.canceled',
        targetType: 'payment',
        targetId: p.id,
      }),
    ])
  })

  test('behavior: funds sent anyway leave it CANCELED: a payment.exception event, nothing credited', async () => {
    const s = setup()
    const p = await s.create(100n)
    await cancelPayment(s.ctx, merchantId, p.id, actor)
    const before = await available(s.toy.chain.name)
    const changes = await s.deposit(p, 100n)
    expect(changes).toEqual([
      { paymentId: p.id, merchantId, seq: 3, type: 'payment.exception', from: 'CANCELED', to: 'CANCELED' },
    ])
    expect(await paymentRow(db, p.id)).toMatchObject({
      status: 'CANCELED',
      amountReceived: 100n,
      amountConfirmed: 100n,
      completedAt: null,
    })
    const exception = (await eventsOf(p.id)).at(-1)!
    expect(exception).toMatchObject({ seq: 3, type: 'payment.exception', toStatus: 'CANCELED' })
    expect(exception.data).toEqual({
      exception: 'PAID_AFTER_CANCEL',
      amountReceived: '100',
      amountConfirmed: '100',
    })
    expect(await creditOf(db, p.id)).toBe(0n)
    expect(await available(s.toy.chain.name)).toBe(before)
    // more funds later: another exception, still nothing credited; a refresh with no news writes nothing
    await s.deposit(p, 50n)
    expect(await eventTypes(db, p.id)).toEqual([
      'payment.created',
      'payment.canceled',
      'payment.exception',
      'payment.exception',
    ])
    expect(await s.refresh(p)).toEqual([])
    expect(await eventsOf(p.id)).toHaveLength(4)
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'CANCELED', amountReceived: 150n })
    expect(await creditOf(db, p.id)).toBe(0n)
  })

  test('behavior: a canceled payment’s address stays in the watch set through the monitoring window', async () => {
    const s = setup()
    const open = await s.create(100n)
    const canceled = await s.create(100n)
    await cancelPayment(s.ctx, merchantId, canceled.id, actor)
    const ws = await refreshWatchSet({ db }, s.toy.chain.driver, s.toy.chain.name, {
      monitoringWindowMs: 24 * 3600_000,
    })
    const key = s.toy.chain.driver.addressKey(canceled.address)
    expect(ws.byKey.get(key)).toBe(canceled.id)
    expect(ws.byKey.get(s.toy.chain.driver.addressKey(open.address))).toBe(open.id)
    // past the window (its deadline more than the window ago) it drops out like an expired payment
    const after = await refreshWatchSet({ db }, s.toy.chain.driver, s.toy.chain.name, {
      monitoringWindowMs: 24 * 3600_000,
      now: new Date(canceled.expiresAt.getTime() + 25 * 3600_000),
    })
    expect(after.byKey.has(key)).toBe(false)
  })

  test('behavior: a deposit that was dropped or reorganized away does not stop a cancel', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 100n, { status: 'dropped' })
    await s.deposit(p, 100n, { status: 'orphaned' })
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PENDING' })
    const { payment } = await cancelPayment(s.ctx, merchantId, p.id, actor)
    expect(payment.status).toBe('CANCELED')
  })

  test('error: refused with nothing written for a paid, a mempool-paid, a settled or someone else’s payment', async () => {
    const s = setup()
    const { partial, completed, expired, canceled } = await settledOrPaying(s)
    const mempool = await s.create(100n)
    await s.deposit(mempool, 100n, { status: 'pending' })
    const method = await invoiceMethod(s)
    const cases: Array<[PaymentRow, PaymentStatus, string]> = [
      [partial, 'PARTIALLY_PAID', 'INVALID_STATE'],
      [mempool, 'PROCESSING', 'INVALID_STATE'],
      [completed, 'COMPLETED', 'INVALID_STATE'],
      [expired, 'EXPIRED', 'INVALID_STATE'],
      [canceled, 'CANCELED', 'INVALID_STATE'],
      [method, 'PENDING', 'INVALID_STATE'],
    ]
    for (const [p, status, code] of cases) {
      const before = await footprint(p.id)
      expect(before.payment.status).toBe(status)
      expect(await rejection(cancelPayment(s.ctx, merchantId, p.id, actor))).toMatchObject({
        code,
        field: 'id',
      })
      expect(await footprint(p.id)).toEqual(before)
    }
    // another merchant's payment, an unknown id, and ids that are not ids are the same NOT_FOUND
    const mine = await s.create(100n)
    const before = await footprint(mine.id)
    for (const id of [mine.id, 'pay_missing', 42, null, 'x'.repeat(10_000)])
      expect(
        await rejection(
          cancelPayment(s.ctx, id === mine.id ? otherMerchant : merchantId, id as string, actor),
        ),
      ).toMatchObject({ code: 'NOT_FOUND', field: 'id' })
    expect(await footprint(mine.id)).toEqual(before)
  })
})

describe('acceptPayment', () => {
  test('default: an UNDERPAID payment COMPLETES on its confirmed funds, credited exactly those, audited', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 40n, { at: late() })
    await s.deposit(p, 15n, { confirmed: false, at: late() })
    expect(await paymentRow(db, p.id)).toMatchObject({
      status: 'UNDERPAID',
      amountReceived: 55n,
      amountConfirmed: 40n,
    })
    const before = await available(s.toy.chain.name)
    const { payment, changes } = await acceptPayment(s.ctx, merchantId, p.id, actor)
    expect(payment).toMatchObject({
      status: 'COMPLETED',
      resolution: 'ACCEPTED',
      amountReceived: 55n,
      amountConfirmed: 40n,
    })
    expect(payment.resolvedAt).toBeInstanceOf(Date)
    expect(changes.map((c) => [c.type, c.from, c.to])).toEqual([
      ['payment.resolved', 'UNDERPAID', 'UNDERPAID'],
      ['payment.completed', 'UNDERPAID', 'COMPLETED'],
    ])
    expect(await creditOf(db, p.id)).toBe(40n)
    expect(await available(s.toy.chain.name)).toBe(before + 40n)
    const events = await eventsOf(p.id)
    expect(events.map((e) => e.type)).toEqual([
      'payment.created',
      'payment.underpaid',
      'payment.resolved',
      'payment.completed',
    ])
    expect(events[2]!.data).toEqual({ resolution: 'ACCEPTED', amountReceived: '55' })
    expect(await auditOf(p.id)).toEqual([
      expect.objectContaining({
        actor: 'key_resolver',
        action: 'payment.accepted',
        targetId: p.id,
        data: { status: 'UNDERPAID', amountReceived: '55' },
      }),
    ])
    // the unconfirmed rest is credited once it is confirmed
    await s.deposit(p, 1n, { at: late() })
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 56n })
    expect(await creditOf(db, p.id)).toBe(56n)
  })

  test('behavior: a canceled payment paid anyway is accepted and credited', async () => {
    const s = setup()
    const p = await s.create(100n)
    await cancelPayment(s.ctx, merchantId, p.id, actor)
    await s.deposit(p, 30n)
    const { payment } = await acceptPayment(s.ctx, merchantId, p.id, actor)
    expect(payment).toMatchObject({ status: 'COMPLETED', resolution: 'ACCEPTED', amountConfirmed: 30n })
    expect(await creditOf(db, p.id)).toBe(30n)
  })

  test('behavior: a refund that was canceled does not stop an accept', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 40n, { at: late() })
    const { refund } = await s.refund(p)
    await cancelRefund(s.ctx, merchantId, refund.id, actor)
    const { payment } = await acceptPayment(s.ctx, merchantId, p.id, actor)
    expect(payment).toMatchObject({ status: 'COMPLETED', resolution: 'ACCEPTED' })
    expect(await creditOf(db, p.id)).toBe(40n)
  })

  test('error: refused with nothing written while open, when completed, with nothing received, after a refund, for an invoice method', async () => {
    const s = setup()
    const pending = await s.create(100n)
    const { partial, completed, expired, canceled } = await settledOrPaying(s)
    const refunded = await s.create(100n)
    await s.deposit(refunded, 40n, { at: late() })
    await s.refund(refunded, { amount: '0.0000001', to: 'toybuyer' })
    const accepted = await s.create(100n)
    await s.deposit(accepted, 40n, { at: late() })
    await acceptPayment(s.ctx, merchantId, accepted.id, actor)
    const method = await invoiceMethod(s)
    const cases: Array<[PaymentRow, PaymentStatus]> = [
      [pending, 'PENDING'],
      [partial, 'PARTIALLY_PAID'],
      [completed, 'COMPLETED'],
      [expired, 'EXPIRED'],
      [canceled, 'CANCELED'],
      [refunded, 'UNDERPAID'],
      [accepted, 'COMPLETED'],
      [method, 'PENDING'],
    ]
    for (const [p, status] of cases) {
      const before = await footprint(p.id)
      expect(before.payment.status).toBe(status)
      expect(await rejection(acceptPayment(s.ctx, merchantId, p.id, actor))).toMatchObject({
        code: 'INVALID_STATE',
        field: 'id',
      })
      expect(await footprint(p.id)).toEqual(before)
    }
    const underpaid = await s.create(100n)
    await s.deposit(underpaid, 40n, { at: late() })
    const before = await footprint(underpaid.id)
    for (const id of [underpaid.id, 'pay_missing', 42, undefined])
      expect(
        await rejection(
          acceptPayment(s.ctx, id === underpaid.id ? otherMerchant : merchantId, id as string, actor),
        ),
      ).toMatchObject({ code: 'NOT_FOUND' })
    expect(await footprint(underpaid.id)).toEqual(before)
  })
})

test('behavior: a cancel at the command line is audited as the operator’s, under the payment’s merchant', async () => {
  const s = setup()
  const p = await s.create(100n)
  await cancelPayment(s.ctx, merchantId, p.id, { cli: true })
  expect((await auditOf(p.id)).map((r) => [r.merchantId, r.actor, r.requestId, r.action])).toEqual([
    [merchantId, 'cli', null, 'payment.canceled'],
  ])
})
