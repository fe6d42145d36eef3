import { describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import {
  availableOf,
  depositBooked,
  depositEventsOf,
  depositRow,
  depositScene,
  depositsOfCustomer,
} from '../../../test/helpers/deposits.ts'
import { rejection, unitMerchant, unitStage } from '../../../test/helpers/unit.ts'
import { auditLog, kytChecks } from '../../db/schema/index.ts'
import { settleDepositsOf } from './lifecycle.ts'
import { decideDeposit } from './review.ts'
import { customerAddressScreening } from './sweep-state.ts'

const { handle, db, merchantId } = await unitStage('review')
const admin = { keyId: 'key_reviewer' }

/** A screened scene with one deposit at its depth whose screening held it for review. */
async function heldDeposit(customerId: string, amount = 250n) {
  const s = depositScene(handle, { merchantId, name: 'review', screen: true })
  const { customer, address: to } = await s.address(customerId)
  s.toy.mine([s.send(to.address, `0x${customerId}`, amount)])
  await s.sync()
  const [seen] = await depositsOfCustomer(db, customer.id)
  await db
    .update(kytChecks)
    .set({ state: 'held', reason: 'KYT_REVIEW' })
    .where(and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, seen!.transferId)))
  // the screening's decision moves it, as the screening pump does
  await settleDepositsOf({ db }, s.toy.chain, [seen!.transferId])
  const ctx = { db, chains: s.payCtx.chains }
  return { ...s, ctx, deposit: await depositRow(db, seen!.id), address: to }
}

const auditsOf = (depositId: string) =>
  db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.targetType, 'deposit'), eq(auditLog.targetId, depositId)))

describe('decideDeposit', () => {
  test('default: a release confirms and credits a held deposit, with its audit row and the decision on its check', async () => {
    const { ctx, deposit, toy } = await heldDeposit('rel1')
    expect(deposit.status).toBe('HELD')
    const changes = await decideDeposit(ctx, merchantId, deposit.id, true, {
      actor: admin,
      note: 'customer verified',
    })
    expect(changes.map((c) => [c.depositId, c.type])).toEqual([[deposit.id, 'deposit.confirmed']])
    expect(await depositRow(db, deposit.id)).toMatchObject({ status: 'CONFIRMED', credited: 250n })
    expect(await depositEventsOf(db, deposit.id)).toEqual([
      [1, 'deposit.seen'],
      [2, 'deposit.held'],
      [3, 'deposit.confirmed'],
    ])
    expect(await availableOf(db, merchantId, toy.chain.name, toy.native.id)).toBe(250n)
    const [audit] = await auditsOf(deposit.id)
    expect(audit).toMatchObject({
      merchantId,
      actor: 'key_reviewer',
      action: 'deposit.released',
      data: { note: 'customer verified', reasons: ['KYT_REVIEW'] },
    })
    const [check] = await db.select().from(kytChecks).where(eq(kytChecks.subjectId, deposit.transferId))
    expect(check).toMatchObject({ state: 'released', decidedBy: 'key_reviewer', note: 'customer verified' })
  })

  test('behavior: a rejection leaves the deposit REJECTED and uncredited, and its address never swept', async () => {
    const { ctx, deposit, toy, address } = await heldDeposit('rej1')
    const changes = await decideDeposit(ctx, merchantId, deposit.id, false, {
      actor: admin,
      note: 'sanctioned sender',
    })
    expect(changes.map((c) => c.type)).toEqual(['deposit.rejected'])
    expect(await depositRow(db, deposit.id)).toMatchObject({ status: 'REJECTED', credited: 0n })
    expect(await depositBooked(db, deposit.id)).toBe(0n)
    expect(await availableOf(db, merchantId, toy.chain.name, toy.native.id)).toBe(0n)
    expect((await auditsOf(deposit.id)).map((a) => [a.action, a.data?.note])).toEqual([
      ['deposit.rejected', 'sanctioned sender'],
    ])
    expect(await customerAddressScreening(db, address.id, toy.native.id)).toBe('rejected')
  })

  test('edge: a deposit not held for review is INVALID_STATE, and a decided one cannot be decided again', async () => {
    const { ctx, deposit, toy, send, sync, address: to } = await heldDeposit('twice')
    await decideDeposit(ctx, merchantId, deposit.id, true, { actor: admin, note: 'ok' })
    const again = await rejection(
      decideDeposit(ctx, merchantId, deposit.id, false, { actor: admin, note: 'changed my mind' }),
    )
    expect(again.code).toBe('INVALID_STATE')
    expect((await depositRow(db, deposit.id)).status).toBe('CONFIRMED')
    // screening has not answered yet: still SEEN, nothing for a reviewer to decide
    toy.mine([send(to.address, '0xpending', 5n)])
    await sync()
    const pending = (await depositsOfCustomer(db, deposit.customerId)).find((d) => d.txHash === '0xpending')!
    expect(pending.status).toBe('SEEN')
    const err = await rejection(decideDeposit(ctx, merchantId, pending.id, true, { actor: admin, note: 'x' }))
    expect(err.code).toBe('INVALID_STATE')
    expect((await auditsOf(pending.id)).length).toBe(0)
  })

  test("edge: another merchant's deposit or an unknown id is NOT_FOUND, and a note is required", async () => {
    const { ctx, deposit } = await heldDeposit('theirs')
    const other = await unitMerchant(handle, 'Other Shop')
    for (const [who, id] of [
      [other, deposit.id],
      [merchantId, 'dep_nope'],
    ] as const) {
      const err = await rejection(decideDeposit(ctx, who, id, true, { actor: admin, note: 'x' }))
      expect(err.code).toBe('NOT_FOUND')
    }
    for (const note of ['', '   ', 'x'.repeat(1001)]) {
      const err = await rejection(decideDeposit(ctx, merchantId, deposit.id, true, { actor: admin, note }))
      expect(err.code).toBe('INVALID_INPUT')
    }
    expect(await depositRow(db, deposit.id)).toMatchObject({ status: 'HELD', credited: 0n })
    expect(await auditsOf(deposit.id)).toEqual([])
  })
})
