import { describe, expect, test } from 'bun:test'
import type { MempoolFate, PendingTransfer } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import { creditOf, eventTypes, paymentRow, transfersOf, unitStage } from '../../../test/helpers/unit.ts'
import { payments } from '../../db/schema/index.ts'
import type { PaymentRow } from '../payments/queries.ts'

// The core's side of a node's mempool, over a toy chain whose mempool the test holds: what the mempool shows moves
// a payment at once and is never credited before its depth; what leaves it unmined sends the payment back to
// waiting, saying why; what is mined becomes an ordinary deposit, stored once.

const { db, scene } = await unitStage('mempool')

function setup(confirmations = 2) {
  const s = scene({ confirmations })
  const pool = new Map<string, PendingTransfer>()
  const fates = new Map<string, MempoolFate>()
  let fateAsked: string[] = []
  s.toy.chain.driver.mempool = {
    pending: async (watch) => [...pool.values()].filter((t) => watch.has(t.to)),
    fate: async (txs) => {
      fateAsked = txs.map((t) => t.txHash)
      return new Map(txs.map((t) => [t.txHash, fates.get(t.txHash) ?? { state: 'pending' }]))
    },
  }
  const broadcast = (p: PaymentRow, txHash: string, amount: bigint, spends = [`${txHash}-in:0`]) =>
    pool.set(txHash, {
      txHash,
      index: 0,
      asset: s.toy.native.id,
      to: p.address,
      amount,
      spends,
      senders: ['toyPayer'],
    })
  /** The transaction leaves the mempool: mined, replaced, double-spent or dropped. */
  const leave = (txHash: string, fate: MempoolFate) => {
    pool.delete(txHash)
    fates.set(txHash, fate)
  }
  return { ...s, broadcast, leave, fateAsked: () => fateAsked }
}

describe('pending deposits from the mempool', () => {
  test('default: shown at once as PROCESSING at 0 confirmations, not received or credited; mined, it completes once at depth', async () => {
    const { toy, create, sync, broadcast, leave } = setup(2)
    const p = await create(100n)
    broadcast(p, 'tx-a', 100n)
    const first = await sync()
    expect(first.changes.map((c) => c.type)).toEqual(['payment.detected', 'payment.processing'])
    expect(await paymentRow(db, p.id)).toMatchObject({
      status: 'PROCESSING',
      amountReceived: 0n,
      amountConfirmed: 0n,
    })
    const [pending] = await transfersOf(db, p.id)
    expect(pending).toMatchObject({
      txHash: 'tx-a',
      status: 'pending',
      blockHeight: null,
      spends: ['tx-a-in:0'],
    })
    expect(await creditOf(db, p.id)).toBe(0n)
    // shown again: nothing new
    expect((await sync()).changes).toEqual([])

    // mined: the block scan finds the same (txHash, index) and the deposit is an ordinary one from then on
    leave('tx-a', { state: 'mined' })
    toy.mine([{ txHash: 'tx-a', index: 0, asset: toy.native.id, to: p.address, amount: 100n }])
    await sync()
    const mined = await transfersOf(db, p.id)
    expect(mined).toHaveLength(1)
    expect(mined[0]).toMatchObject({ status: 'seen', blockHeight: 1n, fate: null })
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PROCESSING', amountReceived: 100n })
    toy.mineEmpty(1)
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 100n })
    expect(await creditOf(db, p.id)).toBe(100n)
    expect(await eventTypes(db, p.id)).toEqual([
      'payment.created',
      'payment.detected',
      'payment.processing',
      'payment.completed',
    ])
  })

  test('behavior: a double spend sends the payment back to waiting with payment.double_spent; the transfer keeps why', async () => {
    const { create, sync, broadcast, leave, fateAsked } = setup(1)
    const p = await create(100n)
    broadcast(p, 'tx-b', 100n)
    await sync()
    leave('tx-b', { state: 'double_spent', by: 'tx-thief' })
    const result = await sync()
    expect(fateAsked()).toEqual(['tx-b'])
    expect(result.changes.map((c) => [c.type, c.to])).toEqual([
      ['payment.double_spent', 'PROCESSING'],
      ['payment.reverted', 'PENDING'],
    ])
    const [row] = await transfersOf(db, p.id)
    expect(row).toMatchObject({ status: 'dropped', fate: 'double_spent', fateBy: 'tx-thief' })
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PENDING', amountReceived: 0n })
    // a dropped deposit is asked about no more
    await sync()
    expect(fateAsked()).toEqual(['tx-b'])
  })

  test('behavior: an RBF bump to the same address ends the first as replaced and shows the replacement; the payment stays PROCESSING', async () => {
    const { create, sync, broadcast, leave } = setup(1)
    const p = await create(100n)
    broadcast(p, 'tx-c1', 100n, ['funding:0'])
    await sync()
    leave('tx-c1', { state: 'replaced', by: 'tx-c2' })
    broadcast(p, 'tx-c2', 100n, ['funding:0'])
    const result = await sync()
    expect(result.changes.map((c) => c.type)).toEqual([
      'payment.replaced',
      'payment.reverted',
      'payment.detected',
      'payment.processing',
    ])
    const rows = await transfersOf(db, p.id)
    expect(rows.map((r) => [r.txHash, r.status, r.fate])).toEqual([
      ['tx-c1', 'dropped', 'replaced'],
      ['tx-c2', 'pending', null],
    ])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PROCESSING' })
  })

  test('behavior: with no confirmation required, a pending deposit completes and is credited; its double spend takes the credit back', async () => {
    const { create, sync, broadcast, leave } = setup(1)
    const p = await create(100n)
    // a zero-confirmation tier, as a merchant may choose for small amounts
    await db.update(payments).set({ confirmationsRequired: 0 }).where(eq(payments.id, p.id))
    broadcast(p, 'tx-d', 100n)
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 100n })
    expect(await creditOf(db, p.id)).toBe(100n)
    leave('tx-d', { state: 'double_spent', by: null })
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PENDING', amountConfirmed: 0n })
    expect(await creditOf(db, p.id)).toBe(0n)
  })

  test('hostile: zero confirmations chosen for a small amount never credit a large unconfirmed one', async () => {
    const { toy, create, sync, broadcast } = setup(1)
    const p = await create(100n)
    await db.update(payments).set({ confirmationsRequired: 0 }).where(eq(payments.id, p.id))
    broadcast(p, 'tx-big', 500_000n)
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PROCESSING', amountConfirmed: 0n })
    expect(await creditOf(db, p.id)).toBe(0n)
    // in a block, it is paid as any deposit at the payment's depth
    toy.mine([{ txHash: 'tx-big', index: 0, asset: toy.native.id, to: p.address, amount: 500_000n }])
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 500_000n })
  })

  test('behavior: dropped, then seen in the mempool again, it is pending again; mined after being dropped, it is an ordinary deposit', async () => {
    const { toy, create, sync, broadcast, leave } = setup(1)
    const p = await create(100n)
    broadcast(p, 'tx-e', 100n)
    await sync()
    leave('tx-e', { state: 'dropped' })
    await sync()
    expect((await transfersOf(db, p.id))[0]).toMatchObject({ status: 'dropped', fate: 'dropped' })
    broadcast(p, 'tx-e', 100n)
    await sync()
    expect((await transfersOf(db, p.id))[0]).toMatchObject({ status: 'pending', fate: null })
    leave('tx-e', { state: 'dropped' })
    await sync()
    toy.mine([{ txHash: 'tx-e', index: 0, asset: toy.native.id, to: p.address, amount: 100n }])
    await sync()
    const rows = await transfersOf(db, p.id)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ status: 'confirmed', fate: null })
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED' })
    expect(await creditOf(db, p.id)).toBe(100n)
  })

  test('hostile: a pending transfer in another asset, or to an address nobody watches, is not a deposit', async () => {
    const { toy, create, sync, broadcast } = setup(1)
    const p = await create(100n)
    broadcast(p, 'tx-f', 100n)
    const shown = toy.chain.driver.mempool!
    toy.chain.driver.mempool = {
      ...shown,
      pending: async (watch) => [
        ...(await shown.pending(watch)).map((t) => ({ ...t, asset: toy.token.id })),
        { txHash: 'tx-g', index: 0, asset: toy.native.id, to: 'toynobody', amount: 5n, spends: [] },
      ],
    }
    expect((await sync()).changes).toEqual([])
    expect(await transfersOf(db, p.id)).toEqual([])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PENDING' })
  })
})
