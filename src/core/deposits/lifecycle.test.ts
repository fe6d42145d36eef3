import { describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import {
  availableOf,
  depositBooked,
  depositEventsOf,
  depositPostings,
  depositRow,
  depositScene,
  depositsOfCustomer,
} from '../../../test/helpers/deposits.ts'
import { toyPayouts, unitKeys, unitStage } from '../../../test/helpers/unit.ts'
import { deposits, kytChecks, sweeps, transfers } from '../../db/schema/index.ts'
import { belowMinimumHeld, merchantAvailable } from '../ledger/postings.ts'
import { discoverSweeps } from '../payouts/sweeps.ts'
import { resumeChain } from '../scanning/reorg.ts'
import { settleDepositsOf } from './lifecycle.ts'
import { setDepositSettings } from './settings.ts'

const { handle, db, merchantId } = await unitStage('life')
const admin = { cli: true } as const
type SceneOptions = Omit<Parameters<typeof depositScene>[1], 'merchantId'>
const scene = (options: SceneOptions = {}) => depositScene(handle, { name: 'life', ...options, merchantId })

describe('a deposit to a common address', () => {
  test('default: a native and later a token deposit are SEEN, then CONFIRMED and credited at their depth', async () => {
    const { toy, address, send, sync, syncCtx } = scene({ confirmations: 2 })
    const { customer, address: to } = await address('alice')
    const chain = toy.chain.name
    const heard: string[] = []
    syncCtx.onDeposits = (changes) => heard.push(...changes.map((c) => c.type))

    toy.mine([send(to.address, '0xa1', 500n)])
    const first = await sync()
    expect(first.deposits.map((d) => [d.customerId, d.type])).toEqual([[customer.id, 'deposit.seen']])
    const [native] = await depositsOfCustomer(db, customer.id)
    expect(native).toMatchObject({
      status: 'SEEN',
      asset: toy.native.id,
      amount: 500n,
      credited: 0n,
      confirmationsRequired: 2,
      blockHeight: 1n,
      merchantId,
    })
    expect(await depositPostings(db, native!.id)).toEqual([])

    toy.mineEmpty(1)
    await sync()
    expect(await depositsOfCustomer(db, customer.id)).toMatchObject([
      { status: 'CONFIRMED', credited: 500n, belowMinimum: false },
    ])
    expect(await depositEventsOf(db, native!.id)).toEqual([
      [1, 'deposit.seen'],
      [2, 'deposit.confirmed'],
    ])
    const postings = await depositPostings(db, native!.id)
    expect(postings.every((p) => p.refType === 'deposit' && p.merchantId === merchantId)).toBe(true)
    expect(await depositBooked(db, native!.id)).toBe(500n)
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(500n)
    expect((await db.select().from(transfers).where(eq(transfers.id, native!.transferId)))[0]).toMatchObject({
      status: 'confirmed',
      paymentId: null,
    })

    toy.mine([send(to.address, '0xa2', 7_000n, toy.token)])
    await sync()
    const [, token] = await depositsOfCustomer(db, customer.id)
    expect(token).toMatchObject({ status: 'SEEN', asset: toy.token.id, customerAddressId: to.id })
    toy.mineEmpty(1)
    await sync()
    expect(await depositEventsOf(db, token!.id)).toEqual([
      [1, 'deposit.seen'],
      [2, 'deposit.confirmed'],
    ])
    expect(await availableOf(db, merchantId, chain, toy.token.id)).toBe(7_000n)
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(500n)
    expect(heard).toEqual(['deposit.seen', 'deposit.confirmed', 'deposit.seen', 'deposit.confirmed'])
    // nothing new: nothing moves
    expect((await sync()).deposits).toEqual([])
  })

  test('behavior: two transfers of one transaction are two deposits', async () => {
    const { toy, address, sync } = scene()
    const { customer, address: to } = await address('bob')
    toy.mine([
      { txHash: '0xb1', index: 0, asset: toy.native.id, to: to.address, amount: 10n },
      { txHash: '0xb1', index: 1, asset: toy.token.id, to: to.address, amount: 20n },
    ])
    await sync()
    expect((await depositsOfCustomer(db, customer.id)).map((d) => [d.index, d.status, d.credited])).toEqual([
      [0, 'CONFIRMED', 10n],
      [1, 'CONFIRMED', 20n],
    ])
  })
})

describe('minimum deposits', () => {
  test('edge: a deposit below the minimum confirms uncredited, booked to gateway:below-minimum', async () => {
    const { toy, address, send, sync } = scene()
    const chain = toy.chain.name
    await setDepositSettings(
      { db, chains: new Map([[chain, toy.chain]]) },
      merchantId,
      { minimums: [{ chain, asset: 'TOY', amount: '0.00001' }] },
      admin,
    )
    const { customer, address: to } = await address('carol')
    const before = await availableOf(db, merchantId, chain, toy.native.id)
    toy.mine([send(to.address, '0xc1', 999n), send(to.address, '0xc2', 1_000n)])
    await sync()
    const [small, enough] = await depositsOfCustomer(db, customer.id)
    expect(small).toMatchObject({ status: 'CONFIRMED', credited: 0n, belowMinimum: true })
    expect(enough).toMatchObject({ status: 'CONFIRMED', credited: 1_000n, belowMinimum: false })
    expect(await depositBooked(db, small!.id)).toBe(0n)
    expect(await depositBooked(db, small!.id, belowMinimumHeld)).toBe(999n)
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(before + 1_000n)
    // a token has no minimum here
    toy.mine([send(to.address, '0xc3', 1n, toy.token)])
    await sync()
    expect((await depositsOfCustomer(db, customer.id))[2]).toMatchObject({
      credited: 1n,
      belowMinimum: false,
    })
  })

  test('edge: a minimum raised after a deposit confirmed does not take back its credit', async () => {
    const { toy, address, send, sync } = scene()
    const chain = toy.chain.name
    const ctx = { db, chains: new Map([[chain, toy.chain]]) }
    const { customer, address: to } = await address('dave')
    toy.mine([send(to.address, '0xd1', 50n)])
    await sync()
    await setDepositSettings(ctx, merchantId, { minimums: [{ chain, asset: 'TOY', amount: '1' }] }, admin)
    toy.mineEmpty(2)
    await sync()
    expect(await depositsOfCustomer(db, customer.id)).toMatchObject([
      { status: 'CONFIRMED', credited: 50n, belowMinimum: false },
    ])
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(50n)
  })
})

describe('reorgs', () => {
  test('behavior: a deposit reorganized away before its depth is REVERTED, never credited', async () => {
    const { toy, address, send, sync } = scene({ confirmations: 3, finalityDepth: 6 })
    const { customer, address: to } = await address('erin')
    toy.mine([send(to.address, '0xe1', 300n)])
    await sync()
    toy.reorg(1, [[], []])
    const result = await sync()
    expect(result.deposits.map((d) => d.type)).toEqual(['deposit.reverted'])
    const [d] = await depositsOfCustomer(db, customer.id)
    expect(d).toMatchObject({ status: 'REVERTED', credited: 0n })
    expect(await depositEventsOf(db, d!.id)).toEqual([
      [1, 'deposit.seen'],
      [2, 'deposit.reverted'],
    ])
    expect(await depositPostings(db, d!.id)).toEqual([])
  })

  test('behavior: a credited deposit reorganized away is reversed, and credited once when re-included', async () => {
    const { toy, address, send, sync } = scene({ confirmations: 2, finalityDepth: 6 })
    const chain = toy.chain.name
    const { customer, address: to } = await address('frank')
    toy.mine([send(to.address, '0xf0', 40n)]) // height 1, stays
    toy.mine([send(to.address, '0xf1', 100n)]) // height 2, reorganized away
    toy.mineEmpty(1)
    await sync()
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(140n)

    toy.reorg(2, [[], [], []])
    await sync()
    const [kept, moved] = await depositsOfCustomer(db, customer.id)
    expect(kept).toMatchObject({ status: 'CONFIRMED', credited: 40n })
    expect(moved).toMatchObject({ status: 'REVERTED', credited: 0n })
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(40n)
    expect(await depositBooked(db, moved!.id)).toBe(0n)

    // the same transfer is mined again on the new branch
    toy.mine([send(to.address, '0xf1', 100n)])
    await sync()
    expect(await depositRow(db, moved!.id)).toMatchObject({ status: 'SEEN', credited: 0n })
    toy.mineEmpty(1)
    await sync()
    const rows = await depositsOfCustomer(db, customer.id)
    expect(rows).toHaveLength(2)
    expect(rows[1]).toMatchObject({ id: moved!.id, status: 'CONFIRMED', credited: 100n, blockHeight: 5n })
    expect(await depositEventsOf(db, moved!.id)).toEqual([
      [1, 'deposit.seen'],
      [2, 'deposit.confirmed'],
      [3, 'deposit.reverted'],
      [4, 'deposit.seen'],
      [5, 'deposit.confirmed'],
    ])
    expect(await depositBooked(db, moved!.id)).toBe(100n)
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(140n)
    // every move of the ledger is balanced
    const sum = (await depositPostings(db, moved!.id)).reduce((s, p) => s + p.amount, 0n)
    expect(sum).toBe(0n)
  })

  for (const [before, after] of [
    ['0.000001', '1'],
    ['1', '0.000001'],
  ] as const)
    test(`edge: a deposit re-included after a reorg keeps its first minimum judgment (minimum ${before} → ${after})`, async () => {
      const { toy, address, send, sync } = scene({ confirmations: 1, finalityDepth: 6 })
      const chain = toy.chain.name
      const ctx = { db, chains: new Map([[chain, toy.chain]]) }
      const minimum = (amount: string) =>
        setDepositSettings(ctx, merchantId, { minimums: [{ chain, asset: 'TOY', amount }] }, admin)
      await minimum(before)
      const { customer, address: to } = await address(`kim-${before}`)
      toy.mine([send(to.address, '0x81', 100n)])
      await sync()
      const [d] = await depositsOfCustomer(db, customer.id)
      const below = d!.belowMinimum
      expect(below).toBe(before === '1')
      toy.reorg(1, [[]])
      await sync()
      await minimum(after)
      toy.mine([send(to.address, '0x81', 100n)])
      await sync()
      expect(await depositRow(db, d!.id)).toMatchObject({
        status: 'CONFIRMED',
        belowMinimum: below,
        credited: below ? 0n : 100n,
      })
      expect(await depositBooked(db, d!.id)).toBe(below ? 0n : 100n)
      expect(await depositBooked(db, d!.id, belowMinimumHeld)).toBe(below ? 100n : 0n)
    })

  test('behavior: rescanning the same range never doubles deposits, events or credit', async () => {
    const { toy, address, send, sync } = scene({ confirmations: 1 })
    const chain = toy.chain.name
    const { customer, address: to } = await address('gina')
    toy.mine([send(to.address, '0x91', 60n)])
    toy.mine([send(to.address, '0x92', 70n, toy.token)])
    await sync()
    const before = await depositsOfCustomer(db, customer.id)
    expect(before.map((d) => d.status)).toEqual(['CONFIRMED', 'CONFIRMED'])
    for (let i = 0; i < 2; i++) {
      await resumeChain({ db }, toy.chain, 1n)
      await sync()
    }
    const after = await depositsOfCustomer(db, customer.id)
    expect(after.map((d) => [d.id, d.status, d.credited])).toEqual(
      before.map((d) => [d.id, 'CONFIRMED', d.credited]),
    )
    const stored = await db.select().from(transfers).where(eq(transfers.chain, chain))
    expect(stored).toHaveLength(2)
    for (const d of after) {
      const events = await depositEventsOf(db, d.id)
      // numbered without gaps or repeats, each a move of the deposit's status
      expect(events.map(([seq]) => seq)).toEqual(events.map((_, i) => i + 1))
      expect(events.at(-1)?.[1]).toBe('deposit.confirmed')
    }
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(60n)
    expect(await availableOf(db, merchantId, chain, toy.token.id)).toBe(70n)
    // the plain rerun of a synced chain writes nothing
    const events = await db.select().from(deposits).where(eq(deposits.chain, chain))
    await sync()
    expect(await db.select().from(deposits).where(eq(deposits.chain, chain))).toEqual(events)
  })
})

describe('screening', () => {
  test('behavior: with screening on, a deposit at its depth stays SEEN until its check is decided, then CONFIRMED when clear or HELD when held', async () => {
    const { toy, address, send, sync } = scene({ screen: true })
    const chain = toy.chain.name
    const { customer, address: to } = await address('hana')
    toy.mine([send(to.address, '0x51', 80n)])
    const result = await sync()
    expect(result.deposits.map((d) => d.type)).toEqual(['deposit.seen'])
    const [d] = await depositsOfCustomer(db, customer.id)
    expect(d).toMatchObject({ status: 'SEEN', credited: 0n })
    const [check] = await db
      .select()
      .from(kytChecks)
      .where(and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, d!.transferId)))
    expect(check).toMatchObject({ state: 'pending', paymentId: null, merchantId, amount: 80n })
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(0n)

    await db.update(kytChecks).set({ state: 'clear' }).where(eq(kytChecks.id, check!.id))
    const changes = await settleDepositsOf({ db }, toy.chain, [d!.transferId])
    expect(changes.map((c) => [c.depositId, c.type])).toEqual([[d!.id, 'deposit.confirmed']])
    expect(await depositRow(db, d!.id)).toMatchObject({ status: 'CONFIRMED', credited: 80n })
    expect(await depositEventsOf(db, d!.id)).toEqual([
      [1, 'deposit.seen'],
      [2, 'deposit.confirmed'],
    ])
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(80n)
    expect(await settleDepositsOf({ db }, toy.chain, [d!.transferId])).toEqual([])

    // a second one that screening holds: HELD, news of its own, nothing credited
    toy.mine([send(to.address, '0x52', 9n)])
    await sync()
    const held = (await depositsOfCustomer(db, customer.id)).find((x) => x.txHash === '0x52')!
    await db
      .update(kytChecks)
      .set({ state: 'held', reason: 'KYT_REVIEW' })
      .where(and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, held.transferId)))
    const moved = await settleDepositsOf({ db }, toy.chain, [held.transferId])
    expect(moved.map((c) => c.type)).toEqual(['deposit.held'])
    expect(await depositRow(db, held.id)).toMatchObject({ status: 'HELD', credited: 0n })
    expect(await availableOf(db, merchantId, chain, toy.native.id)).toBe(80n)
  })
})

describe('sweeps of customer addresses', () => {
  const sweepScene = (options: SceneOptions = {}) => {
    const s = scene({
      ...options,
      payouts: toyPayouts().driver,
      settings: { sweeps: { enabled: true, maxFeeShareBps: 10_000, minAmount: new Map() } },
    })
    const sweepCtx = { db, xpubFor: unitKeys().xpubFor }
    /** One discovery pass (no payment is due on these chains): how many sweeps it opened. */
    const discover = () => discoverSweeps(sweepCtx, s.toy.chain)
    return { ...s, discover }
  }

  test('behavior: confirmed deposits open one sweep per address and asset, blocked while one is open or pending', async () => {
    const { toy, address, send, sync, discover } = sweepScene({ confirmations: 2 })
    const { customer, address: to } = await address('ivan')
    const sweepsOf = () => db.select().from(sweeps).where(eq(sweeps.customerAddressId, to.id))

    toy.mine([send(to.address, '0x61', 100n)])
    await sync()
    // SEEN: nothing to sweep yet
    expect(await discover()).toBe(0)
    toy.mineEmpty(1)
    await sync()
    expect(await discover()).toBe(1)
    const [first] = await sweepsOf()
    expect(first).toMatchObject({
      chain: toy.chain.name,
      asset: toy.native.id,
      fromAddress: to.address,
      fromPath: `${toy.chain.driver.accountPath}/0/${to.derivationIndex}`,
      status: 'pending',
      paymentId: null,
    })
    expect((await depositsOfCustomer(db, customer.id))[0]?.sweepId).toBe(first!.id)
    expect(await discover()).toBe(0)

    // another native deposit while the first sweep is open: no second sweep
    toy.mine([send(to.address, '0x62', 5n)])
    toy.mineEmpty(1)
    await sync()
    expect(await discover()).toBe(0)
    await db.update(sweeps).set({ status: 'done' }).where(eq(sweeps.id, first!.id))

    // a deposit of the asset not deep enough yet blocks the next sweep
    toy.mine([send(to.address, '0x63', 6n)])
    await sync()
    expect(await discover()).toBe(0)
    toy.mineEmpty(1)
    await sync()
    expect(await discover()).toBe(1)
    const all = await sweepsOf()
    expect(all).toHaveLength(2)
    const second = all.find((s) => s.id !== first!.id)!
    expect((await depositsOfCustomer(db, customer.id)).map((d) => d.sweepId)).toEqual([
      first!.id,
      second.id,
      second.id,
    ])
    // a token deposit is swept on its own, while the native sweep is still open
    toy.mine([send(to.address, '0x64', 9n, toy.token)])
    toy.mineEmpty(1)
    await sync()
    expect(await discover()).toBe(1)
    expect((await sweepsOf()).map((s) => s.asset).sort()).toEqual(
      [toy.native.id, toy.native.id, toy.token.id].sort(),
    )
  })

  test('behavior: a HELD deposit of the asset at the address blocks its sweep', async () => {
    const { toy, address, send, sync, discover } = sweepScene({ screen: true })
    const { customer, address: to } = await address('judy')
    toy.mine([send(to.address, '0x71', 100n), send(to.address, '0x72', 3n)])
    await sync()
    const [a, b] = await depositsOfCustomer(db, customer.id)
    await db.update(kytChecks).set({ state: 'clear' }).where(eq(kytChecks.subjectId, a!.transferId))
    await db.update(kytChecks).set({ state: 'held' }).where(eq(kytChecks.subjectId, b!.transferId))
    await settleDepositsOf({ db }, toy.chain, [a!.transferId, b!.transferId])
    expect((await depositRow(db, a!.id)).status).toBe('CONFIRMED')
    expect((await depositRow(db, b!.id)).status).toBe('HELD')
    expect(await discover()).toBe(0)
    await db.update(kytChecks).set({ state: 'clear' }).where(eq(kytChecks.subjectId, b!.transferId))
    await settleDepositsOf({ db }, toy.chain, [b!.transferId])
    expect(await discover()).toBe(1)
    expect((await depositsOfCustomer(db, customer.id)).every((d) => d.sweepId !== null)).toBe(true)
  })
})

describe('merchant:available', () => {
  test('invariant: the merchant balance is the sum of credited deposits', async () => {
    const rows = await db.select().from(deposits).where(eq(deposits.merchantId, merchantId))
    const credited = rows.reduce((s, d) => s + d.credited, 0n)
    let booked = 0n
    for (const d of rows) booked += await depositBooked(db, d.id, merchantAvailable)
    expect(booked).toBe(credited)
  })
})
