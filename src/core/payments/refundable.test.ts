import { describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { late, refundScene, refundSceneDb } from '../../../test/helpers/refund-scene.ts'
import { paymentRow, unitMerchant } from '../../../test/helpers/unit.ts'
import { type KytState, kytChecks, paymentEvents, transfers } from '../../db/schema/index.ts'
import { cancelRefund } from '../payouts/refunds.ts'
import { transitionWithdrawal } from '../payouts/withdrawal-transitions.ts'
import { listPayments } from './queries.ts'
import { acceptPayment, cancelPayment } from './resolution.ts'

const handle = await refundSceneDb(4)
const { db } = handle
const merchantId = await unitMerchant(handle, 'Refundable Shop')
const actor = { keyId: 'key_refundable' }

/** The merchant's refund scene: a toy chain of its own, deposits as the scanner stores them, refunds. */
const setup = (merchant = merchantId) =>
  refundScene(handle, { merchantId: merchant, name: 'refundable', actor })

const setKyt = (transferId: string, state: KytState) =>
  db
    .update(kytChecks)
    .set({ state })
    .where(and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, transferId)))

describe('refundableOf', () => {
  test('default: an underpaid payment’s confirmed funds are uncredited; unconfirmed and unscreened ones are not', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 40n, { at: late() })
    await s.deposit(p, 7n, { kyt: 'pending', at: late() })
    await s.deposit(p, 9n, { kyt: 'held', at: late() })
    await s.deposit(p, 11n, { confirmed: false, at: late() })
    // the held deposit makes the payment wait for an admin; the rest is 40 confirmed, 11 on its way
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'HELD', amountConfirmed: 40n })
    expect(await s.refundable(p)).toEqual({ uncredited: 40n, credited: 0n, overpaid: 0n })
  })

  test('behavior: a canceled payment’s late funds and a rejected payment’s deposit are uncredited', async () => {
    const s = setup()
    const canceled = await s.create(100n)
    await cancelPayment(s.ctx, merchantId, canceled.id, actor)
    await s.deposit(canceled, 25n)
    expect(await s.refundable(canceled)).toEqual({ uncredited: 25n, credited: 0n, overpaid: 0n })

    const rejected = await s.create(100n)
    await s.deposit(rejected, 100n, { kyt: 'rejected' })
    expect(await paymentRow(db, rejected.id)).toMatchObject({ status: 'REJECTED', amountReceived: 0n })
    expect(await s.refundable(rejected)).toEqual({ uncredited: 100n, credited: 0n, overpaid: 0n })
  })

  test('behavior: a completed payment’s credit and overpayment, and its rejected deposits as uncredited', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 120n)
    const rejected = await s.deposit(p, 30n, { kyt: 'rejected' })
    const held = await s.deposit(p, 40n, { kyt: 'held' })
    await s.deposit(p, 50n, { kyt: 'pending' })
    await s.deposit(p, 60n, { confirmed: false })
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 120n })
    expect(await s.refundable(p)).toEqual({ uncredited: 30n, credited: 120n, overpaid: 20n })

    // the held deposit released is credited: the credit and the overpayment grow, the rejected one stays uncredited
    await setKyt(held.id, 'released')
    await s.refresh(p)
    expect(await s.refundable(p)).toEqual({ uncredited: 30n, credited: 160n, overpaid: 60n })
    expect((await db.select().from(transfers).where(eq(transfers.id, rejected.id)))[0]?.status).toBe(
      'confirmed',
    )
  })

  test('behavior: live refunds take their amount; failed and canceled ones give it back', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 40n, { at: late() })
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'UNDERPAID' })
    const sent = await s.refund(p, { amount: s.units(10n), to: 'toybuyer' })
    const link = await s.refund(p, { amount: s.units(5n) })
    expect([sent.refund.status, link.refund.status]).toEqual(['PENDING', 'AWAITING_ADDRESS'])
    expect(await s.refundable(p)).toEqual({ uncredited: 25n, credited: 0n, overpaid: 0n })

    await cancelRefund(s.ctx, merchantId, link.refund.id, actor)
    expect((await s.refundable(p)).uncredited).toBe(30n)

    await db.transaction((tx) =>
      transitionWithdrawal(tx, sent.refund.withdrawalId!, ['QUEUED'], 'FAILED', { failureReason: 'test' }),
    )
    expect((await s.refundable(p)).uncredited).toBe(40n)
  })

  test('behavior: refunds from the balance lower the credit, overpayment refunds the overpayment too', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 150n)
    expect(await s.refundable(p)).toEqual({ uncredited: 0n, credited: 150n, overpaid: 50n })

    await s.refund(p, { amount: s.units(30n), to: 'toybuyer' })
    expect(await s.refundable(p)).toEqual({ uncredited: 0n, credited: 120n, overpaid: 50n })
    await s.refund(p, { overpayment: true, to: 'toybuyer' })
    expect(await s.refundable(p)).toEqual({ uncredited: 0n, credited: 70n, overpaid: 0n })
    // the overpaid share never exceeds what is left of the credit
    await s.refund(p, { amount: s.units(70n) })
    expect(await s.refundable(p)).toEqual({ uncredited: 0n, credited: 0n, overpaid: 0n })
  })

  test('behavior: an overpaid share is capped by what balance refunds left of the credit', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 150n)
    await s.refund(p, { amount: s.units(120n) })
    expect(await s.refundable(p)).toEqual({ uncredited: 0n, credited: 30n, overpaid: 30n })
  })
})

const exceptionEvents = async (paymentId: string) =>
  (
    await db
      .select({ data: paymentEvents.data })
      .from(paymentEvents)
      .where(and(eq(paymentEvents.paymentId, paymentId), eq(paymentEvents.type, 'payment.exception')))
  ).map((e) => (e.data as { exception: string }).exception)

describe('paymentException', () => {
  test('default: none for an open, an exactly paid or an expired unpaid payment', async () => {
    const s = setup()
    const open = await s.create(100n)
    expect(await s.exception(open)).toBeNull()
    const paid = await s.create(100n)
    await s.deposit(paid, 100n)
    expect(await s.exception(paid)).toBeNull()
    const expired = await s.create(100n)
    await s.refresh(expired, late())
    expect(await paymentRow(db, expired.id)).toMatchObject({ status: 'EXPIRED' })
    expect(await s.exception(expired)).toBeNull()
  })

  test('behavior: UNDERPAID until accepted or refunded', async () => {
    const s = setup()
    const accepted = await s.create(100n)
    await s.deposit(accepted, 40n, { at: late() })
    expect(await s.exception(accepted)).toBe('UNDERPAID')
    await acceptPayment(s.ctx, merchantId, accepted.id, actor)
    expect(await s.exception(accepted)).toBeNull()

    const refunded = await s.create(100n)
    await s.deposit(refunded, 40n, { at: late() })
    expect(await s.exception(refunded)).toBe('UNDERPAID')
    await s.refund(refunded, { to: 'toybuyer' })
    expect(await s.exception(refunded)).toBeNull()
  })

  test('behavior: OVERPAID while the excess is not refunded', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 130n)
    expect(await s.exception(p)).toBe('OVERPAID')
    await s.refund(p, { overpayment: true, to: 'toybuyer' })
    expect(await s.exception(p)).toBeNull()
  })

  test('behavior: PAID_AFTER_CANCEL for funds sent to a canceled payment, resolved by a refund', async () => {
    const s = setup()
    const p = await s.create(100n)
    await cancelPayment(s.ctx, merchantId, p.id, actor)
    expect(await s.exception(p)).toBeNull()
    await s.deposit(p, 100n)
    expect(await s.exception(p)).toBe('PAID_AFTER_CANCEL')
    expect(await exceptionEvents(p.id)).toEqual(['PAID_AFTER_CANCEL'])
    await s.refund(p, { to: 'toybuyer' })
    expect(await s.exception(p)).toBeNull()
  })

  test('behavior: PAID_AFTER_REFUND for funds arriving after the uncredited funds were refunded', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 40n, { at: late() })
    await s.refund(p, { to: 'toybuyer' })
    expect(await s.exception(p)).toBeNull()
    await s.deposit(p, 60n, { at: late() })
    expect(await paymentRow(db, p.id)).toMatchObject({
      status: 'UNDERPAID',
      resolution: 'REFUNDED',
      amountReceived: 100n,
    })
    expect(await s.exception(p)).toBe('PAID_AFTER_REFUND')
    expect(await exceptionEvents(p.id)).toEqual(['PAID_AFTER_REFUND'])
  })

  test('behavior: REJECTED for a deposit screening rejected, until its funds are refunded', async () => {
    const s = setup()
    const p = await s.create(100n)
    await s.deposit(p, 100n, { kyt: 'rejected' })
    expect(await s.exception(p)).toBe('REJECTED')
    await s.refund(p, { to: 'toybuyer' })
    expect(await s.exception(p)).toBeNull()
  })
})

describe('payments(filter: { exception: true })', () => {
  test('behavior: lists exactly the payments paymentException names, and drops them once decided', async () => {
    const shop = await unitMerchant(handle, 'Exceptions Shop')
    const s = setup(shop)
    const open = await s.create(100n)
    const paid = await s.create(100n)
    await s.deposit(paid, 100n)
    const expired = await s.create(100n)
    await s.refresh(expired, late())
    const underpaid = await s.create(100n)
    await s.deposit(underpaid, 40n, { at: late() })
    const overpaid = await s.create(100n)
    await s.deposit(overpaid, 130n)
    const canceled = await s.create(100n)
    await cancelPayment(s.ctx, shop, canceled.id, actor)
    await s.deposit(canceled, 100n)
    const canceledUnpaid = await s.create(100n)
    await cancelPayment(s.ctx, shop, canceledUnpaid.id, actor)
    const rejected = await s.create(100n)
    await s.deposit(rejected, 100n, { kyt: 'rejected' })
    const refundedTwice = await s.create(100n)
    await s.deposit(refundedTwice, 40n, { at: late() })
    await s.refund(refundedTwice, { to: 'toybuyer' })
    await s.deposit(refundedTwice, 60n, { at: late() })
    const refundedOnce = await s.create(100n)
    await s.deposit(refundedOnce, 40n, { at: late() })
    await s.refund(refundedOnce, { to: 'toybuyer' })
    const all = [
      open,
      paid,
      expired,
      underpaid,
      overpaid,
      canceled,
      canceledUnpaid,
      rejected,
      refundedTwice,
      refundedOnce,
    ]
    const listed = async () =>
      (await listPayments({ db }, shop, { filter: { exception: true }, first: 100 })).rows
        .map((p) => p.id)
        .sort()
    const named = async () => {
      const ids: string[] = []
      for (const p of all) if ((await s.exception(p)) !== null) ids.push(p.id)
      return ids.sort()
    }
    expect(await named()).toEqual(
      [underpaid.id, overpaid.id, canceled.id, rejected.id, refundedTwice.id].sort(),
    )
    expect(await listed()).toEqual(await named())
    // decided: accepted, refunded; each leaves the list as it leaves paymentException
    await acceptPayment(s.ctx, shop, underpaid.id, actor)
    await s.refund(overpaid, { overpayment: true, to: 'toybuyer' })
    await s.refund(canceled, { to: 'toybuyer' })
    await s.refund(refundedTwice, { to: 'toybuyer' })
    expect(await named()).toEqual([rejected.id])
    expect(await listed()).toEqual([rejected.id])
  })
})
