import { describe, expect, test } from 'bun:test'
import type { BlockRef, Transfer } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import { transfersOf, unitStage } from '../../../test/helpers/unit.ts'
import { transfers } from '../../db/schema/index.ts'
import type { PaymentRow } from '../payments/queries.ts'
import { matchDeposits, recordDeposits } from './deposits.ts'
import { createKeySet } from './key-set.ts'
import type { WatchSet } from './watch-set.ts'

const { db, scene } = await unitStage('dep')

function setup() {
  const { toy, create } = scene()
  const watching = (...ps: PaymentRow[]): WatchSet => ({
    chain: toy.chain.name,
    byKey: new Map(ps.map((p) => [toy.chain.driver.addressKey(p.address), p.id])),
    customers: createKeySet(),
    customerKeys: {
      family: toy.chain.name,
      set: createKeySet(),
      newest: new Date(0),
    },
    elsewhere: new Map(),
    siblings: [],
    newest: new Date(),
    rebuiltAt: Date.now(),
  })
  const block = (height: bigint, time = 1_700_000_000): BlockRef => ({
    height,
    hash: `0xblock${height}`,
    parentHash: `0xblock${height - 1n}`,
    time,
  })
  const transfer = (p: PaymentRow, txHash: string, amount: bigint, at: BlockRef, asset = toy.native) =>
    ({ txHash, index: -1, block: at, asset: asset.id, to: p.address, amount }) satisfies Transfer
  /** Matches and records `found` in one transaction, as a committed range does. */
  const store = (watch: WatchSet, found: Transfer[]) =>
    db.transaction(async (tx) => {
      const { deposits, deadlines } = await matchDeposits(tx, watch, found)
      await recordDeposits(tx, toy.chain, deposits, deadlines)
      return deposits
    })
  return { toy, create, watching, block, transfer, store }
}

describe('matchDeposits', () => {
  test("default: a transfer into a watched address in the payment's asset is a deposit, with its deadline", async () => {
    const { create, watching, block, transfer } = setup()
    const p = await create(100n)
    const found = [transfer(p, '0x01', 100n, block(1n))]
    const matched = await db.transaction((tx) => matchDeposits(tx, watching(p), found))
    expect(matched.deposits).toEqual([{ transfer: found[0]!, paymentId: p.id, merchantId: p.merchantId }])
    expect(matched.deadlines.get(p.id)).toEqual(p.expiresAt)
  })

  test('behavior: another asset into the address, or a transfer into an unwatched address, is no deposit', async () => {
    const { toy, create, watching, block, transfer } = setup()
    const native = await create(100n)
    const token = await create(100n, toy.token)
    const unwatched = await create(100n)
    const found = [
      transfer(native, '0x02', 100n, block(1n), toy.token),
      transfer(token, '0x03', 100n, block(1n), toy.native),
      transfer(unwatched, '0x04', 100n, block(1n)),
      transfer(token, '0x05', 100n, block(1n), toy.token),
    ]
    const matched = await db.transaction((tx) => matchDeposits(tx, watching(native, token), found))
    expect(matched.deposits.map((d) => [d.transfer.txHash, d.paymentId])).toEqual([['0x05', token.id]])
  })
})

describe('recordDeposits', () => {
  test('default: a deposit is stored seen, on its block, for its payment', async () => {
    const { toy, create, watching, block, transfer, store } = setup()
    const p = await create(100n)
    await store(watching(p), [transfer(p, '0x10', 100n, block(4n))])
    expect(await transfersOf(db, p.id)).toEqual([
      expect.objectContaining({
        chain: toy.chain.name,
        txHash: '0x10',
        index: -1,
        asset: toy.native.id,
        toAddress: p.address,
        amount: 100n,
        blockHeight: 4n,
        blockHash: '0xblock4',
        status: 'seen',
        late: false,
      }),
    ])
  })

  test('behavior: the same transfer recorded again is stored once', async () => {
    const { create, watching, block, transfer, store } = setup()
    const p = await create(100n)
    const t = transfer(p, '0x11', 100n, block(4n))
    await store(watching(p), [t])
    const [first] = await transfersOf(db, p.id)
    await store(watching(p), [t])
    await store(watching(p), [t, { ...t, index: 0 }])
    const rows = await transfersOf(db, p.id)
    expect(rows.map((r) => [r.txHash, r.index])).toEqual([
      ['0x11', -1],
      ['0x11', 0],
    ])
    expect(rows.find((r) => r.index === -1)).toMatchObject({ id: first!.id, status: 'seen', amount: 100n })
  })

  test('behavior: an orphaned transfer found again is revived in its new block, a confirmed one stays confirmed', async () => {
    const { create, watching, block, transfer, store } = setup()
    const orphaned = await create(100n)
    const confirmed = await create(100n)
    await store(watching(orphaned, confirmed), [
      transfer(orphaned, '0x12', 100n, block(4n)),
      transfer(confirmed, '0x13', 100n, block(4n)),
    ])
    await db.update(transfers).set({ status: 'orphaned' }).where(eq(transfers.paymentId, orphaned.id))
    await db.update(transfers).set({ status: 'confirmed' }).where(eq(transfers.paymentId, confirmed.id))
    await store(watching(orphaned, confirmed), [
      transfer(orphaned, '0x12', 100n, block(6n)),
      transfer(confirmed, '0x13', 100n, block(4n)),
    ])
    expect(await transfersOf(db, orphaned.id)).toEqual([
      expect.objectContaining({ status: 'seen', blockHeight: 6n, blockHash: '0xblock6' }),
    ])
    expect(await transfersOf(db, confirmed.id)).toEqual([
      expect.objectContaining({ status: 'confirmed', blockHeight: 4n }),
    ])
  })

  test("behavior: late is whether the block's time is after the payment's deadline", async () => {
    const { create, watching, block, transfer, store } = setup()
    const p = await create(100n)
    const deadline = p.expiresAt.getTime() / 1000
    await store(watching(p), [
      transfer(p, '0x14', 10n, block(4n, Math.floor(deadline) - 1)),
      transfer(p, '0x15', 10n, block(5n, Math.floor(deadline))),
      transfer(p, '0x16', 10n, block(6n, Math.floor(deadline) + 1)),
    ])
    const rows = await transfersOf(db, p.id)
    const late = new Map(rows.map((r) => [r.txHash, r.late]))
    expect(Object.fromEntries(late)).toEqual({ '0x14': false, '0x15': false, '0x16': true })
  })
})
