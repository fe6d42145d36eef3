import { describe, expect, test } from 'bun:test'
import { asc, eq } from 'drizzle-orm'
import { creditOf, cursorOf, paymentRow, transfersOf, unitStage } from '../../../test/helpers/unit.ts'
import { blockRefs, chainCursors, paymentEvents } from '../../db/schema/index.ts'
import { GatewayError, TollgateError } from '../errors.ts'
import { ReorgTooDeepError } from './errors.ts'
import { findCommonAncestor, resumeChain } from './reorg.ts'

const { db, scene: setup } = await unitStage('reorg')

const eventsOf = (paymentId: string) =>
  db
    .select({
      seq: paymentEvents.seq,
      type: paymentEvents.type,
      from: paymentEvents.fromStatus,
      to: paymentEvents.toStatus,
    })
    .from(paymentEvents)
    .where(eq(paymentEvents.paymentId, paymentId))
    .orderBy(asc(paymentEvents.seq))
const storedRefs = async (chain: string) =>
  new Map(
    (await db.select().from(blockRefs).where(eq(blockRefs.chain, chain))).map((b) => [b.height, b.hash]),
  )

describe('a shallow reorg', () => {
  test('default: transfers above the common ancestor are orphaned and a COMPLETED payment is reverted', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 2, finalityDepth: 6 })
    const kept = await create(100n)
    const lost = await create(100n)
    toy.mine([pay(kept, '0x01', 100n)]) // height 1, below the fork
    toy.mine([pay(lost, '0x02', 100n)]) // height 2
    toy.mineEmpty(1)
    await sync()
    expect(await paymentRow(db, lost.id)).toMatchObject({ status: 'COMPLETED' })
    expect(await creditOf(db, lost.id)).toBe(100n)

    toy.reorg(2, [[], [], []]) // heights 2..3 replaced by 2'..4', without the payment
    const result = await sync()
    expect(result).toMatchObject({ reorgDepth: 2, height: 4n })
    expect(result.changes.map((c) => [c.paymentId, c.type, c.from, c.to])).toEqual([
      [lost.id, 'payment.reverted', 'COMPLETED', 'PENDING'],
    ])
    expect((await transfersOf(db, lost.id)).map((t) => t.status)).toEqual(['orphaned'])
    expect((await transfersOf(db, kept.id)).map((t) => t.status)).toEqual(['confirmed'])
    expect(await paymentRow(db, lost.id)).toMatchObject({
      status: 'PENDING',
      amountReceived: 0n,
      amountConfirmed: 0n,
      completedAt: null,
    })
    expect(await paymentRow(db, kept.id)).toMatchObject({ status: 'COMPLETED', amountReceived: 100n })
    expect((await eventsOf(lost.id)).at(-1)).toMatchObject({
      type: 'payment.reverted',
      from: 'COMPLETED',
      to: 'PENDING',
    })
    expect(await creditOf(db, lost.id)).toBe(0n)
    expect(await creditOf(db, kept.id)).toBe(100n)
    // the stored window follows the node's new branch
    const refs = await storedRefs(toy.chain.name)
    for (const b of toy.blocks) expect(refs.get(b.height)).toBe(b.hash)
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ height: 4n, hash: toy.blocks[4]!.hash })
  })

  test('behavior: a PROCESSING payment whose funds leave the chain goes back with payment.reverted', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 3, finalityDepth: 6 })
    const p = await create(100n)
    toy.mineEmpty(1)
    toy.mine([pay(p, '0x03', 100n)])
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PROCESSING', amountReceived: 100n })

    toy.reorg(1, [[], []])
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PENDING', amountReceived: 0n })
    expect(await eventsOf(p.id)).toEqual([
      { seq: 1, type: 'payment.created', from: null, to: 'PENDING' },
      { seq: 2, type: 'payment.processing', from: 'PENDING', to: 'PROCESSING' },
      { seq: 3, type: 'payment.reverted', from: 'PROCESSING', to: 'PENDING' },
    ])
  })

  test('behavior: a transfer re-included in the new branch is revived once, never doubled', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 2, finalityDepth: 6 })
    const p = await create(100n)
    toy.mineEmpty(1)
    toy.mine([pay(p, '0x04', 100n)]) // height 2
    toy.mineEmpty(1)
    await sync()
    const [before] = await transfersOf(db, p.id)
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED' })

    toy.reorg(2, [[], [pay(p, '0x04', 100n)], []]) // the same transaction, now at height 3
    const result = await sync()
    expect(result.reorgDepth).toBe(2)
    const rows = await transfersOf(db, p.id)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      id: before!.id,
      status: 'confirmed',
      blockHeight: 3n,
      blockHash: toy.blocks[3]!.hash,
      amount: 100n,
    })
    expect(await paymentRow(db, p.id)).toMatchObject({
      status: 'COMPLETED',
      amountReceived: 100n,
      amountConfirmed: 100n,
    })
    expect((await eventsOf(p.id)).map((e) => e.type)).toEqual([
      'payment.created',
      'payment.completed',
      'payment.reverted',
      'payment.completed',
    ])
    expect(await creditOf(db, p.id)).toBe(100n)
  })
})

describe('a reorg deeper than the finality depth', () => {
  test('error: the chain halts with REORG_TOO_DEEP and nothing is rolled back', async () => {
    const { toy, syncCtx, create, pay, sync } = setup({ confirmations: 1, finalityDepth: 3 })
    const p = await create(100n)
    toy.mineEmpty(1)
    toy.mine([pay(p, '0x05', 100n)]) // height 2
    toy.mineEmpty(3)
    await sync()
    const cursor = await cursorOf(db, toy.chain.name)
    expect(cursor.height).toBe(5n)

    toy.reorg(4, [[], [], [], [], []]) // heights 2..5 replaced: the fork is 4 blocks deep
    const err = await findCommonAncestor(db, toy.chain, cursor).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ReorgTooDeepError)
    expect(err).toMatchObject({ code: 'REORG_TOO_DEEP', kind: 'permanent', chain: toy.chain.name })

    const result = await sync()
    expect(result.halted).toContain('reorg deeper than the finality depth')
    expect(result.blocks).toBe(0)
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({
      height: 5n,
      hash: cursor.hash,
      haltedReason: result.halted,
    })
    expect((await transfersOf(db, p.id)).map((t) => t.status)).toEqual(['confirmed'])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED' })

    // halted: later runs neither scan nor roll back
    const scans = toy.scans.length
    expect(await sync()).toMatchObject({ halted: result.halted, blocks: 0 })
    expect(toy.scans.length).toBe(scans)

    // the operator resumes below the fork: its transfers are orphaned, the halt cleared, the new branch scanned
    const changes = (await resumeChain(syncCtx, toy.chain, 2n)).payments
    expect(changes.map((c) => [c.paymentId, c.type, c.to])).toEqual([[p.id, 'payment.reverted', 'PENDING']])
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({
      height: 1n,
      hash: toy.blocks[1]!.hash,
      haltedReason: null,
    })
    const resumed = await sync()
    expect(resumed).toMatchObject({ height: 6n, blocks: 5 })
    expect(resumed.halted).toBeUndefined()
    expect((await transfersOf(db, p.id)).map((t) => t.status)).toEqual(['orphaned'])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PENDING', amountReceived: 0n })
    expect(await creditOf(db, p.id)).toBe(0n)
  })

  test('behavior: a reorg one block shallower than the finality depth is followed, not halted', async () => {
    const { toy, sync } = setup({ finalityDepth: 3 })
    toy.mineEmpty(5)
    await sync()
    toy.reorg(2, [[], []])
    const result = await sync()
    expect(result).toMatchObject({ reorgDepth: 2, height: 5n })
    expect(result.halted).toBeUndefined()
  })
})

describe('resumeChain', () => {
  test('error: a negative height is INVALID_INPUT and a chain never scanned is NO_CURSOR', async () => {
    const { toy, syncCtx } = setup()
    toy.mineEmpty(2)
    const negative = await resumeChain(syncCtx, toy.chain, -1n).catch((e: unknown) => e)
    expect(negative).toBeInstanceOf(TollgateError)
    expect(negative).toMatchObject({ code: 'INVALID_INPUT', field: 'fromHeight' })
    const never = await resumeChain(syncCtx, toy.chain, 1n).catch((e: unknown) => e)
    expect(never).toBeInstanceOf(GatewayError)
    expect(never).toMatchObject({ code: 'NO_CURSOR' })
    expect(await db.select().from(chainCursors).where(eq(chainCursors.chain, toy.chain.name))).toEqual([])
  })
})
