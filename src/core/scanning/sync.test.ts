import { describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import {
  creditOf,
  cursorOf,
  eventTypes,
  paymentRow,
  postingsOf,
  transfersOf,
  unitStage,
} from '../../../test/helpers/unit.ts'
import { transfers } from '../../db/schema/index.ts'
import { resumeChain } from './reorg.ts'
import { syncChain } from './sync.ts'

const { db, scene: setup } = await unitStage('sync')

describe('syncChain: exactly-once crediting', () => {
  test("behavior: each range's changes are handed on as it commits, before the next range is read", async () => {
    const { toy, syncCtx, create, pay } = setup({ confirmations: 1 })
    const [a, b] = [await create(100n), await create(50n)]
    toy.mine([pay(a, '0xc1', 100n)])
    toy.mineEmpty(1)
    toy.mine([pay(b, '0xc2', 50n)])
    // ranges of 2 blocks at first: block 1–2 carries a's payment, block 3 b's
    syncCtx.scanner.range.set(toy.chain.name, 2)
    let scans = 0
    const scan = toy.chain.driver.scan
    toy.chain.driver.scan = (req) => {
      scans++
      return scan(req)
    }
    const seen: Array<{ ids: string[]; scans: number }> = []
    const result = await syncChain(
      { ...syncCtx, onCommitted: (changes) => seen.push({ ids: changes.map((c) => c.paymentId), scans }) },
      toy.chain,
    )
    // the first range's change went out before the second range was read
    expect(seen).toEqual([
      { ids: [a.id], scans: 1 },
      { ids: [b.id], scans: 2 },
    ])
    expect(result.changes.map((c) => c.paymentId)).toEqual([a.id, b.id])
  })

  test('default: a deposit is stored once, completes its payment and is credited once', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 2 })
    const p = await create(100n)
    toy.mine([pay(p, '0xa1', 100n)])
    toy.mineEmpty(1)
    const result = await sync()
    expect(result).toMatchObject({ height: 2n, tip: 2n, blocks: 3, transfers: 1 })
    expect(result.changes.map((c) => [c.paymentId, c.to])).toEqual([[p.id, 'COMPLETED']])
    const [row] = await transfersOf(db, p.id)
    expect(row).toMatchObject({ txHash: '0xa1', amount: 100n, blockHeight: 1n, status: 'confirmed' })
    expect(await paymentRow(db, p.id)).toMatchObject({
      status: 'COMPLETED',
      amountReceived: 100n,
      amountConfirmed: 100n,
    })
    expect(await creditOf(db, p.id)).toBe(100n)
    // balanced: what the merchant is credited, the gateway's deposits account holds
    expect((await postingsOf(db, p.id)).reduce((sum, x) => sum + x.amount, 0n)).toBe(0n)
  })

  test('behavior: running again over the same tip stores nothing new and credits nothing more', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 1 })
    const p = await create(100n)
    toy.mine([pay(p, '0xa2', 100n)])
    await sync()
    const postings = (await postingsOf(db, p.id)).length
    const again = await sync()
    const thrice = await sync()
    expect(again).toMatchObject({ blocks: 0, transfers: 0, changes: [] })
    expect(thrice).toMatchObject({ blocks: 0, transfers: 0, changes: [] })
    expect(await transfersOf(db, p.id)).toHaveLength(1)
    expect(await eventTypes(db, p.id)).toEqual(['payment.created', 'payment.completed'])
    expect((await postingsOf(db, p.id)).length).toBe(postings)
    expect(await creditOf(db, p.id)).toBe(100n)
  })

  test('behavior: a rescanned range stores each transfer once and the payment is credited once', async () => {
    const { toy, syncCtx, create, pay, sync } = setup({ confirmations: 1 })
    const p = await create(100n)
    toy.mineEmpty(2)
    toy.mine([pay(p, '0xa3', 60n), { ...pay(p, '0xa3', 40n), index: 1 }])
    toy.mineEmpty(2)
    await sync()
    expect(await creditOf(db, p.id)).toBe(100n)

    // an operator's rescan of the whole range: every transfer is found again
    await resumeChain(syncCtx, toy.chain, 0n)
    const rescan = await sync()
    expect(rescan).toMatchObject({ height: 5n, blocks: 6, transfers: 2 })
    const rows = await transfersOf(db, p.id)
    expect(rows.map((t) => [t.txHash, t.index, t.amount, t.status])).toEqual([
      ['0xa3', -1, 60n, 'confirmed'],
      ['0xa3', 1, 40n, 'confirmed'],
    ])
    expect(await paymentRow(db, p.id)).toMatchObject({
      status: 'COMPLETED',
      amountReceived: 100n,
      amountConfirmed: 100n,
    })
    expect(await creditOf(db, p.id)).toBe(100n)
  })
})

describe('syncChain: what pays a payment', () => {
  test("behavior: only the payment's own asset pays it", async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 1 })
    const native = await create(100n)
    const token = await create(500n, toy.token)
    toy.mine([
      pay(native, '0xb1', 100n, toy.token), // a token into a native payment's address
      pay(token, '0xb2', 7n, toy.native), // the gas tank topping up a token payment's address
      pay(token, '0xb3', 500n, toy.token),
    ])
    await sync()
    expect(await transfersOf(db, native.id)).toEqual([])
    expect(await paymentRow(db, native.id)).toMatchObject({ status: 'PENDING', amountReceived: 0n })
    expect((await transfersOf(db, token.id)).map((t) => t.txHash)).toEqual(['0xb3'])
    expect(await paymentRow(db, token.id)).toMatchObject({ status: 'COMPLETED', amountReceived: 500n })
    expect(await creditOf(db, native.id)).toBe(0n)
    expect(await creditOf(db, token.id)).toBe(500n)
  })

  test('behavior: a transfer in a block after the deadline is late, and still counts', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 1 })
    const p = await create(100n)
    // blocks every 12 s: block 1 is 18 s and block 2 is 6 s before the deadline, block 3 is 6 s after it
    toy.blocks[0]!.time = Math.floor(p.expiresAt.getTime() / 1000) - 30
    toy.mine([pay(p, '0xc1', 40n)])
    toy.mine([])
    toy.mine([pay(p, '0xc2', 60n)])
    await sync()
    const rows = await transfersOf(db, p.id)
    expect(rows.map((t) => [t.txHash, t.late])).toEqual([
      ['0xc1', false],
      ['0xc2', true],
    ])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountReceived: 100n })
  })

  test('behavior: a transfer into an address nobody watches is not stored', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 1 })
    const p = await create(100n)
    toy.mine([{ ...pay(p, '0xd1', 100n), to: 'toy999' }])
    const result = await sync()
    expect(result.transfers).toBe(0)
    expect(await db.select().from(transfers).where(eq(transfers.chain, toy.chain.name))).toEqual([])
  })
})

describe('syncChain: the cursor moves only with its range', () => {
  test('default: the first run scans from genesis to the tip in contiguous ranges', async () => {
    const { toy, sync } = setup()
    toy.mineEmpty(40)
    const result = await sync()
    expect(result).toMatchObject({ height: 40n, tip: 40n, blocks: 41 })
    // adjacent, non-overlapping ranges covering 0..40
    expect(toy.scans[0]![0]).toBe(0n)
    expect(toy.scans.at(-1)![1]).toBe(40n)
    for (let i = 1; i < toy.scans.length; i++) expect(toy.scans[i]![0]).toBe(toy.scans[i - 1]![1] + 1n)
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ height: 40n, hash: toy.blocks[40]!.hash })
  })

  test('behavior: a range whose scan fails leaves the cursor after the last stored range, and the next run resumes there', async () => {
    const { toy, syncCtx, create, pay } = setup({ confirmations: 1 })
    const p = await create(100n)
    toy.mine([pay(p, '0xe1', 30n)]) // height 1: first range
    toy.mineEmpty(12)
    toy.mine([pay(p, '0xe2', 70n)]) // height 14: second range
    let calls = 0
    const flaky = {
      ...toy.chain,
      driver: {
        ...toy.chain.driver,
        scan: async (request: Parameters<typeof toy.chain.driver.scan>[0]) => {
          if (++calls === 2) throw new Error('node timed out')
          return toy.chain.driver.scan(request)
        },
      },
    }
    await expect(syncChain(syncCtx, flaky)).rejects.toThrow('node timed out')
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ height: 9n, hash: toy.blocks[9]!.hash })
    expect((await transfersOf(db, p.id)).map((t) => t.txHash)).toEqual(['0xe1'])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'PARTIALLY_PAID', amountReceived: 30n })

    const scansBefore = toy.scans.length
    const result = await syncChain(syncCtx, toy.chain)
    expect(result).toMatchObject({ height: 14n, blocks: 5 })
    expect(toy.scans.slice(scansBefore)).toEqual([[10n, 14n]]) // from where it stopped; 0..9 is not scanned again
    expect((await transfersOf(db, p.id)).map((t) => t.txHash)).toEqual(['0xe1', '0xe2'])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountReceived: 100n })
  })

  test('behavior: blocks that do not link onto the cursor stop the run without moving it', async () => {
    const { toy, syncCtx, create, pay, sync } = setup({ confirmations: 1, finalityDepth: 6 })
    const p = await create(100n)
    toy.mineEmpty(3)
    await sync()
    const before = await cursorOf(db, toy.chain.name)
    toy.mineEmpty(3)
    // the node reorganizes between the tip request and the scan: the scanned blocks hang off another block 3
    const racing = {
      ...toy.chain,
      driver: {
        ...toy.chain.driver,
        scan: async (request: Parameters<typeof toy.chain.driver.scan>[0]) => {
          if (toy.blocks[3]!.hash === before.hash) toy.reorg(4, [[], [], [], [pay(p, '0xf1', 100n)]])
          return toy.chain.driver.scan(request)
        },
      },
    }
    const stopped = await syncChain(syncCtx, racing)
    expect(stopped).toMatchObject({ height: 3n, blocks: 0, transfers: 0, changes: [] })
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ height: 3n, hash: before.hash })
    expect(await transfersOf(db, p.id)).toEqual([])

    // the next run sees the reorg, rolls back to block 2 and scans the new branch
    const next = await sync()
    expect(next).toMatchObject({ reorgDepth: 1, height: 6n, transfers: 1 })
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ height: 6n, hash: toy.blocks[6]!.hash })
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountReceived: 100n })
  })
})
