import { describe, expect, test } from 'bun:test'
import { asc, eq } from 'drizzle-orm'
import { creditOf, paymentRow, postingsOf, unitStage } from '../../../test/helpers/unit.ts'
import { paymentEvents, transfers } from '../../db/schema/index.ts'
import type { PaymentRow } from './queries.ts'
import { paymentsAwaitingConfirmations, refreshPayments } from './refresh.ts'

const { db, scene } = await unitStage('refresh')

function setup(options: { confirmations?: number; toleranceBps?: number } = {}) {
  const { toy, create, pay, sync } = scene(options)
  /** Syncs and answers the payment as stored. */
  const syncedRow = async (p: PaymentRow) => {
    await sync()
    return paymentRow(db, p.id)
  }
  return { toy, create, pay, syncedRow }
}

const eventsOf = (paymentId: string) =>
  db
    .select({ seq: paymentEvents.seq, type: paymentEvents.type, data: paymentEvents.data })
    .from(paymentEvents)
    .where(eq(paymentEvents.paymentId, paymentId))
    .orderBy(asc(paymentEvents.seq))
const refresh = (paymentIds: string[], tips?: Map<string, bigint>) =>
  db.transaction((tx) => refreshPayments(tx, { paymentIds, now: new Date(), ...(tips ? { tips } : {}) }))

describe('refreshPayments through the scanner', () => {
  test('default: PENDING → PARTIALLY_PAID → PROCESSING → COMPLETED at the required confirmations', async () => {
    const { toy, create, pay, syncedRow } = setup({ confirmations: 3 })
    const p = await create(100n)
    expect(await syncedRow(p)).toMatchObject({ status: 'PENDING', amountReceived: 0n })

    toy.mine([pay(p, '0x01', 40n)]) // height 1
    expect(await syncedRow(p)).toMatchObject({ status: 'PARTIALLY_PAID', amountReceived: 40n })

    toy.mine([pay(p, '0x02', 60n)]) // height 2
    expect(await syncedRow(p)).toMatchObject({
      status: 'PROCESSING',
      amountReceived: 100n,
      amountConfirmed: 0n,
    })

    toy.mineEmpty(1) // tip 3: the first transfer has 3 confirmations, the second 2
    expect(await syncedRow(p)).toMatchObject({ status: 'PROCESSING', amountConfirmed: 40n })
    expect(await creditOf(db, p.id)).toBe(0n)

    toy.mineEmpty(1) // tip 4: both deep enough
    const done = await syncedRow(p)
    expect(done).toMatchObject({ status: 'COMPLETED', amountReceived: 100n, amountConfirmed: 100n })
    expect(done.completedAt).toBeInstanceOf(Date)
    expect((await eventsOf(p.id)).map((e) => [e.seq, e.type])).toEqual([
      [1, 'payment.created'],
      [2, 'payment.partially_paid'],
      [3, 'payment.processing'],
      [4, 'payment.completed'],
    ])
    expect((await eventsOf(p.id)).at(-1)!.data).toEqual({ amountReceived: '100', amountConfirmed: '100' })
    expect(await creditOf(db, p.id)).toBe(100n)
    const rows = await db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(rows.map((t) => t.status)).toEqual(['confirmed', 'confirmed'])
  })

  test('behavior: a shortfall within the tolerance completes the payment; one unit more does not', async () => {
    const { toy, create, pay, syncedRow } = setup({ toleranceBps: 100 })
    const enough = await create(1000n) // tolerance 10
    const short = await create(1000n)
    toy.mine([pay(enough, '0x03', 990n), pay(short, '0x04', 989n)])
    expect(await syncedRow(enough)).toMatchObject({ status: 'COMPLETED', amountReceived: 990n })
    expect(await paymentRow(db, short.id)).toMatchObject({ status: 'PARTIALLY_PAID', amountReceived: 989n })
    expect(await creditOf(db, enough.id)).toBe(990n)
  })

  test('behavior: an overpayment after completion is credited once it is confirmed', async () => {
    const { toy, create, pay, syncedRow } = setup({ confirmations: 2 })
    const p = await create(100n)
    toy.mine([pay(p, '0x05', 100n)])
    toy.mineEmpty(1)
    expect(await syncedRow(p)).toMatchObject({ status: 'COMPLETED' })
    toy.mine([pay(p, '0x06', 50n)])
    expect(await syncedRow(p)).toMatchObject({
      status: 'COMPLETED',
      amountReceived: 150n,
      amountConfirmed: 100n,
    })
    expect(await creditOf(db, p.id)).toBe(100n)
    toy.mineEmpty(1)
    expect(await syncedRow(p)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 150n })
    expect(await creditOf(db, p.id)).toBe(150n)
    expect((await eventsOf(p.id)).map((e) => e.type)).toEqual(['payment.created', 'payment.completed'])
  })
})

describe('refreshPayments', () => {
  test('behavior: refreshing again changes nothing: no change, no event, no posting', async () => {
    const { toy, create, pay, syncedRow } = setup()
    const p = await create(100n)
    toy.mine([pay(p, '0x08', 100n)])
    const before = await syncedRow(p)
    const postings = await postingsOf(db, p.id)
    expect(await refresh([p.id, p.id])).toEqual([])
    expect(await refresh([p.id])).toEqual([])
    expect(await paymentRow(db, p.id)).toEqual(before)
    expect(await eventsOf(p.id)).toHaveLength(2)
    expect(await postingsOf(db, p.id)).toEqual(postings)
  })

  test("behavior: without tips, confirmations count up to the chain's cursor, never the node's tip", async () => {
    const { toy, create, pay, syncedRow } = setup({ confirmations: 3 })
    const p = await create(100n)
    toy.mine([pay(p, '0x09', 100n)])
    expect(await syncedRow(p)).toMatchObject({ status: 'PROCESSING' })
    toy.mineEmpty(5) // the node is far ahead; the scanner has not checked these blocks yet
    expect(await refresh([p.id])).toEqual([])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PROCESSING', amountConfirmed: 0n })
    expect(await syncedRow(p)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 100n })
  })

  test('default: an unknown id or an empty list changes nothing', async () => {
    expect(await refresh([])).toEqual([])
    expect(await refresh(['pay_missing'])).toEqual([])
  })
})

describe('paymentsAwaitingConfirmations', () => {
  test('default: lists the payments that still have unconfirmed transfers, once each', async () => {
    const { toy, create, pay, syncedRow } = setup({ confirmations: 2 })
    const waiting = await create(100n)
    const done = await create(100n)
    toy.mine([pay(done, '0x0a', 100n)])
    toy.mine([pay(waiting, '0x0b', 50n), { ...pay(waiting, '0x0b', 50n), index: 1 }])
    await syncedRow(waiting)
    const ids = await db.transaction((tx) => paymentsAwaitingConfirmations(tx, toy.chain.name))
    expect(ids).toEqual([waiting.id])
  })
})
