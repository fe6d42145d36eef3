import { describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { toyChain, unitPaymentsContext, unitStage } from '../../../test/helpers/unit.ts'
import { addresses, addressPool, payments } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { GatewayError } from '../errors.ts'
import { ensureDepositWallet, topUpAddressPool } from './addresses.ts'
import { createPayment } from './create.ts'

const { handle, db, merchantId } = await unitStage()

function context(name: string, addressPoolSize: number) {
  const toy = toyChain({ name })
  return { toy, ctx: unitPaymentsContext(handle, [toy.chain], { addressPoolSize }) }
}

/** The free derivation indexes of a chain's deposit wallet, ascending. */
const poolOf = async (chain: LoadedChain) => {
  const walletId = await ensureDepositWallet(db, chain)
  const free = await db.select().from(addressPool).where(eq(addressPool.walletId, walletId))
  return free.map((a) => a.derivationIndex).sort((a, b) => a - b)
}

describe('deposit addresses', () => {
  test('default: topUpAddressPool derives up to the pool size once, recording every address', async () => {
    const { toy, ctx } = context('pool', 4)
    expect(await topUpAddressPool(ctx, toy.chain)).toBe(4)
    expect(await topUpAddressPool(ctx, toy.chain)).toBe(0)
    expect(await poolOf(toy.chain)).toEqual([0, 1, 2, 3])
    const recorded = await db.select().from(addresses).where(eq(addresses.chain, 'pool'))
    expect(recorded.map((a) => [a.derivationIndex, a.address, a.path]).sort()).toEqual([
      [0, 'toy0', "m/44'/1'/0'/0/0"],
      [1, 'toy1', "m/44'/1'/0'/0/1"],
      [2, 'toy2', "m/44'/1'/0'/0/2"],
      [3, 'toy3', "m/44'/1'/0'/0/3"],
    ])
  })

  test('behavior: payments take the lowest free addresses, and refills continue after the highest index', async () => {
    const { toy, ctx } = context('lowest', 3)
    await topUpAddressPool(ctx, toy.chain)
    // toy chains share one account path: this one's indexes start above those the earlier tests' chains took
    const [first = 0] = await poolOf(toy.chain)
    const a = await createPayment(ctx, merchantId, { chain: 'lowest', asset: 'TOY', amount: '1' })
    const b = await createPayment(ctx, merchantId, { chain: 'lowest', asset: 'TOY', amount: '1' })
    expect([a.payment.derivationIndex, b.payment.derivationIndex]).toEqual([first, first + 1])
    expect(await topUpAddressPool(ctx, toy.chain)).toBe(2)
    expect(await poolOf(toy.chain)).toEqual([first + 2, first + 3, first + 4])
  })

  test('behavior: concurrent creations get distinct addresses, none left on the free list', async () => {
    const { toy, ctx } = context('burst', 4)
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        createPayment(ctx, merchantId, { chain: 'burst', asset: 'TOY', amount: `${i + 1}` }),
      ),
    )
    const rows = await db.select().from(payments).where(eq(payments.chain, 'burst'))
    expect(rows).toHaveLength(30)
    expect(new Set(rows.map((r) => r.address)).size).toBe(30)
    expect(new Set(rows.map((r) => r.derivationIndex)).size).toBe(30)
    for (const r of rows) expect(r.address).toBe(`toy${r.derivationIndex}`)
    // each caller got the row it created
    for (const [i, c] of created.entries()) {
      const row = rows.find((r) => r.id === c.payment.id)
      expect(row).toMatchObject({ address: c.payment.address, amountDue: BigInt(i + 1) * 100_000_000n })
    }
    const free = new Set(await poolOf(toy.chain))
    for (const r of rows) expect(free.has(r.derivationIndex)).toBe(false)
  })

  test('error: a changed deposit account path is ACCOUNT_PATH_CHANGED', async () => {
    const { toy } = context('moved', 2)
    await ensureDepositWallet(db, toy.chain)
    const moved = { name: 'moved', driver: { ...toy.chain.driver, accountPath: "m/44'/1'/1'" } }
    const err = await ensureDepositWallet(db, moved).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GatewayError)
    expect(err).toMatchObject({ code: 'ACCOUNT_PATH_CHANGED', kind: 'permanent' })
  })
})
