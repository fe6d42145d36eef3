import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import {
  eventTypes,
  openUnitDb,
  type UnitScene,
  unitMerchant,
  unitScene,
} from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { payments } from '../../db/schema/index.ts'
import { expireDuePayments } from './expiry.ts'
import type { PaymentRow } from './queries.ts'

// expiry looks at every payment in the database: each test gets its own
let handle: DbHandle
let merchantId: string
let scene: UnitScene
let toy: UnitScene['toy']
beforeEach(async () => {
  handle = await openUnitDb()
  merchantId = await unitMerchant(handle)
  scene = unitScene(handle, { merchantId, name: 'expiry', confirmations: 3, defaultExpiresIn: 600 })
  toy = scene.toy
})
afterEach(() => handle.close())

const create = (amount: bigint, expiresIn = 600) => scene.create(amount, toy.native, { expiresIn })
const pay = (p: PaymentRow, txHash: string, amount: bigint) => scene.pay(p, txHash, amount)
const sync = (now = new Date()) => scene.sync(now)
const expire = (now: Date, limit?: number) => expireDuePayments({ db: handle.db, now: () => now }, limit)
const after = (p: PaymentRow, ms = 1000) => new Date(p.expiresAt.getTime() + ms)
const statusOf = async (id: string) =>
  (await handle.db.select({ status: payments.status }).from(payments).where(eq(payments.id, id)))[0]!.status

describe('expireDuePayments', () => {
  test('default: a PENDING payment past its deadline becomes EXPIRED, exactly once', async () => {
    const p = await create(100n)
    const changes = await expire(after(p))
    expect(changes).toEqual([
      { paymentId: p.id, merchantId, seq: 2, type: 'payment.expired', from: 'PENDING', to: 'EXPIRED' },
    ])
    expect(await expire(after(p, 2000))).toEqual([])
    expect(await statusOf(p.id)).toBe('EXPIRED')
    expect(await eventTypes(handle.db, p.id)).toEqual(['payment.created', 'payment.expired'])
  })

  test('behavior: a partially paid payment past its deadline becomes UNDERPAID, exactly once', async () => {
    const p = await create(100n)
    toy.mine([pay(p, '0x01', 40n)])
    await sync()
    expect(await statusOf(p.id)).toBe('PARTIALLY_PAID')
    const changes = await expire(after(p))
    expect(changes.map((c) => [c.paymentId, c.type, c.from, c.to])).toEqual([
      [p.id, 'payment.underpaid', 'PARTIALLY_PAID', 'UNDERPAID'],
    ])
    expect(await expire(after(p, 2000))).toEqual([])
    expect(await eventTypes(handle.db, p.id)).toEqual([
      'payment.created',
      'payment.partially_paid',
      'payment.underpaid',
    ])
  })

  test('behavior: payments not yet due, at their deadline, or paid in full are left alone', async () => {
    const due = await create(100n, 60)
    const later = await create(100n, 3600)
    const paid = await create(100n, 60)
    toy.mine([pay(paid, '0x02', 100n)]) // PROCESSING: 1 of 3 confirmations
    await sync()
    expect(await expire(due.expiresAt)).toEqual([]) // the deadline itself is not past it
    const changes = await expire(after(due))
    expect(changes.map((c) => c.paymentId)).toEqual([due.id])
    expect(await statusOf(later.id)).toBe('PENDING')
    expect(await statusOf(paid.id)).toBe('PROCESSING')
    expect(await eventTypes(handle.db, paid.id)).toEqual(['payment.created', 'payment.processing'])
  })

  test('behavior: at most `limit` per call; repeating finishes the rest', async () => {
    const created = [await create(1n, 60), await create(2n, 60), await create(3n, 60)]
    const now = after(created[2]!)
    const first = await expire(now, 2)
    const second = await expire(now, 2)
    expect(first).toHaveLength(2)
    expect(second).toHaveLength(1)
    expect(await expire(now, 2)).toEqual([])
    expect(new Set([...first, ...second].map((c) => c.paymentId))).toEqual(new Set(created.map((p) => p.id)))
    for (const p of created) expect(await statusOf(p.id)).toBe('EXPIRED')
  })

  test('behavior: funds that arrive after expiry still complete the payment', async () => {
    const p = await create(100n)
    await expire(after(p))
    toy.mine([pay(p, '0x03', 100n)])
    toy.mineEmpty(2)
    await sync(after(p, 60_000))
    expect(await statusOf(p.id)).toBe('COMPLETED')
    expect(await eventTypes(handle.db, p.id)).toEqual([
      'payment.created',
      'payment.expired',
      'payment.completed',
    ])
  })
})
