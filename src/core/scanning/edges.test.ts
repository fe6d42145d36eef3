import { describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { creditOf, paymentRow, unitStage } from '../../../test/helpers/unit.ts'
import { chainCursors, transfers } from '../../db/schema/index.ts'
import { resumeChain } from './reorg.ts'

const { db, scene: setup } = await unitStage('edge')

describe('scanning edges', () => {
  test('behavior: a reorg that takes away a confirmed overpayment takes its credit back', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 1, finalityDepth: 6 })
    const p = await create(100n)
    toy.mine([pay(p, '0x01', 100n)])
    toy.mineEmpty(2)
    await sync() // COMPLETED, credited 100 under ref `#2:100`
    toy.mine([pay(p, '0x02', 50n)])
    await sync() // COMPLETED, confirmed 150, credited 150 (ref `#2:150`)
    expect(await creditOf(db, p.id)).toBe(150n)
    toy.reorg(1, [[], []]) // the overpayment vanishes: confirmed back to 100, same status, same seq
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 100n })
    expect(await creditOf(db, p.id)).toBe(100n)
  })

  test('behavior: a transfer re-included in a block after the deadline is late', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 1, finalityDepth: 6 })
    const p = await create(100n)
    toy.blocks[0]!.time = Math.floor(p.expiresAt.getTime() / 1000) - 30 // blocks 1, 2 before, 3 after the deadline
    toy.mine([pay(p, '0x03', 100n)])
    toy.mineEmpty(1)
    await sync()
    toy.reorg(2, [[], [], [pay(p, '0x03', 100n)]]) // the same transaction, now in block 3
    await sync()
    const [row] = await db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(row).toMatchObject({ blockHeight: 3n, status: 'confirmed' })
    expect(row!.late).toBe(true)
  })

  test('behavior: a reorg exactly finalityDepth deep is followed, not halted', async () => {
    const { toy, sync } = setup({ finalityDepth: 3 })
    toy.mineEmpty(5)
    await sync()
    toy.reorg(3, [[], [], []]) // blocks 3..5 replaced; block 2 (= cursor - finalityDepth) is in the stored window
    const result = await sync()
    expect(result.halted).toBeUndefined()
    expect(result.reorgDepth).toBe(3)
  })

  test('error: resuming above the next unscanned block is refused, since the blocks between would never be scanned', async () => {
    const { toy, syncCtx, create, pay, sync } = setup({ confirmations: 1 })
    const p = await create(100n)
    toy.mineEmpty(2)
    await sync() // cursor 2
    toy.mine([pay(p, '0x04', 100n)]) // height 3, not scanned yet
    toy.mineEmpty(5)
    const refused = await resumeChain(syncCtx, toy.chain, 6n).catch((err: unknown) => err) // a mistyped --from
    expect(refused).toMatchObject({ code: 'INVALID_INPUT', field: 'fromHeight' })
    const [cursor] = await db.select().from(chainCursors).where(eq(chainCursors.chain, toy.chain.name))
    expect(cursor!.height).toBe(2n)
    await resumeChain(syncCtx, toy.chain, 3n) // the next unscanned block is allowed
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ amountReceived: 100n })
  })
})
