import { describe, expect, test } from 'bun:test'
import { eq, inArray } from 'drizzle-orm'
import { toyChain, unitPaymentsContext, unitStage } from '../../../test/helpers/unit.ts'
import { addresses, addressPool, payments } from '../../db/schema/index.ts'
import { ensureDepositWallet, topUpAddressPool } from './addresses.ts'
import { createPayment } from './create.ts'

// Toy chains all derive at one account path and give the same address for the same index, as EVM chains do: two
// chains of one gateway must never hand one address to two payments, unless both chose `addresses: 'cross'`.

const { handle, db, merchantId } = await unitStage()

const addressesOf = async (chains: string[]) =>
  db
    .select({ chain: payments.chain, address: payments.address, index: payments.derivationIndex })
    .from(payments)
    .where(inArray(payments.chain, chains))

describe('deposit addresses across chains of one account path', () => {
  test('default: 50 payments alternating between two chains never share an address', async () => {
    const eth = toyChain({ name: 'eth-like' })
    const bsc = toyChain({ name: 'bsc-like' })
    const ctx = unitPaymentsContext(handle, [eth.chain, bsc.chain], { addressPoolSize: 8 })
    await Promise.all([topUpAddressPool(ctx, eth.chain), topUpAddressPool(ctx, bsc.chain)])
    for (let i = 0; i < 50; i++)
      await createPayment(ctx, merchantId, {
        chain: i % 2 ? 'bsc-like' : 'eth-like',
        asset: 'TOY',
        amount: '1',
      })
    const rows = await addressesOf(['eth-like', 'bsc-like'])
    expect(rows).toHaveLength(50)
    expect(new Set(rows.map((r) => r.address)).size).toBe(50)
    expect(new Set(rows.map((r) => r.index)).size).toBe(50)
    // and no free address of one chain is an address the other has derived
    const [a, b] = await Promise.all([ensureDepositWallet(db, eth.chain), ensureDepositWallet(db, bsc.chain)])
    const derived = await db
      .select({ wallet: addresses.walletId, index: addresses.derivationIndex })
      .from(addresses)
      .where(inArray(addresses.walletId, [a, b]))
    const byIndex = new Map<number, string[]>()
    for (const d of derived) byIndex.set(d.index, [...(byIndex.get(d.index) ?? []), d.wallet])
    expect([...byIndex.values()].filter((w) => w.length > 1)).toEqual([])
  })

  test("behavior: with addresses: 'cross' on both, the chains hand out the same addresses on purpose", async () => {
    const one = toyChain({ name: 'cross-one', settings: { addresses: 'cross' } })
    const two = toyChain({ name: 'cross-two', settings: { addresses: 'cross' } })
    const ctx = unitPaymentsContext(handle, [one.chain, two.chain], { addressPoolSize: 4 })
    const a = await createPayment(ctx, merchantId, { chain: 'cross-one', asset: 'TOY', amount: '1' })
    const b = await createPayment(ctx, merchantId, { chain: 'cross-two', asset: 'TOY', amount: '1' })
    expect(a.payment.address).toBe(b.payment.address)
  })

  test('behavior: overlapping indexes from before are dropped from the pool; new ones start above every used index', async () => {
    // as an older gateway left them: each chain derived its own indexes from 0
    const oldA = toyChain({ name: 'old-a', settings: { addresses: 'cross' } })
    const oldB = toyChain({ name: 'old-b', settings: { addresses: 'cross' } })
    const before = unitPaymentsContext(handle, [oldA.chain, oldB.chain], { addressPoolSize: 4 })
    const usedA = await createPayment(before, merchantId, { chain: 'old-a', asset: 'TOY', amount: '1' })
    await topUpAddressPool(before, oldB.chain)
    const walletB = await ensureDepositWallet(db, oldB.chain)
    const walletA = await ensureDepositWallet(db, oldA.chain)
    const overlapping = await db.select().from(addressPool).where(eq(addressPool.walletId, walletB))
    expect(overlapping.map((r) => r.address)).toContain(usedA.payment.address)

    // now both distinct (the default)
    const a = toyChain({ name: 'old-a' })
    const b = toyChain({ name: 'old-b' })
    const after = unitPaymentsContext(handle, [a.chain, b.chain], { addressPoolSize: 4 })
    await topUpAddressPool(after, b.chain)
    await topUpAddressPool(after, a.chain)
    const used = await db
      .select({ index: addresses.derivationIndex })
      .from(addresses)
      .where(inArray(addresses.walletId, [walletA, walletB]))
    const created = []
    for (let i = 0; i < 6; i++)
      created.push(
        (
          await createPayment(after, merchantId, {
            chain: i % 2 ? 'old-b' : 'old-a',
            asset: 'TOY',
            amount: '1',
          })
        ).payment,
      )
    const rows = await addressesOf(['old-a', 'old-b'])
    expect(new Set(rows.map((r) => r.address)).size).toBe(rows.length)
    // b's first new index is above everything the space had derived when it refilled
    const firstB = created.find((p) => p.chain === 'old-b')!
    expect(firstB.derivationIndex).toBeGreaterThan(Math.min(...used.map((u) => u.index)))
    expect(rows.filter((r) => r.chain === 'old-b').map((r) => r.address)).not.toContain(usedA.payment.address)
  })
})
