import { afterAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { createTestDatabase } from '../../../test/helpers/db.ts'
import { rowCount } from '../../../test/helpers/deposits.ts'
import {
  rejection,
  toyChain,
  unitMerchant,
  unitPaymentsContext,
  unitStage,
} from '../../../test/helpers/unit.ts'
import { openDb } from '../../db/client.ts'
import { addressPool, customerAddresses, customers, payments } from '../../db/schema/index.ts'
import { addressSiblings, type LoadedChain } from '../../plugins/registry.ts'
import { createMerchant } from '../access/merchants.ts'
import type { TollgateError } from '../errors.ts'
import { createPayment } from '../payments/create.ts'
import { depositAddress } from './addresses.ts'
import { setDepositSettings } from './settings.ts'

const { handle, db, merchantId } = await unitStage('addresses')
const admin = { cli: true } as const

/** Chains as the registry loads them: each knows the others deriving its addresses. */
function loaded(...chains: LoadedChain[]): LoadedChain[] {
  for (const c of chains) c.siblings = addressSiblings(chains, c)
  return chains
}

describe('common mode (the default)', () => {
  const toy = toyChain({ name: 'common' })
  const ctx = unitPaymentsContext(handle, [toy.chain])

  test('default: one address for every asset of the chain, the same on every call', async () => {
    const first = await depositAddress(ctx, merchantId, { customerId: 'user-1', chain: 'common' })
    expect(first.created).toBe(true)
    expect(first.customer).toMatchObject({ externalId: 'user-1', addressMode: 'common', merchantId })
    expect(first.address).toMatchObject({ chain: 'common', asset: '*', mode: 'common' })
    expect(first.networks).toEqual(['common'])
    for (const asset of [undefined, 'TOY', 'TOK', toy.token.id]) {
      const again = await depositAddress(ctx, merchantId, { customerId: 'user-1', chain: 'common', asset })
      expect(again.created).toBe(false)
      expect(again.address.id).toBe(first.address.id)
      expect(again.address.address).toBe(first.address.address)
    }
    const rows = await db
      .select()
      .from(customerAddresses)
      .where(eq(customerAddresses.customerId, first.customer.id))
    expect(rows).toHaveLength(1)
  })

  test('behavior: another customer of the merchant gets another address', async () => {
    const a = await depositAddress(ctx, merchantId, { customerId: 'user-2', chain: 'common' })
    const b = await depositAddress(ctx, merchantId, { customerId: 'user-3', chain: 'common' })
    expect(a.address.address).not.toBe(b.address.address)
    expect(a.address.derivationIndex).not.toBe(b.address.derivationIndex)
  })

  test('behavior: the same customer id from two merchants is two customers with two addresses', async () => {
    const other = await unitMerchant(handle, 'Other Shop')
    const mine = await depositAddress(ctx, merchantId, { customerId: 'shared-id', chain: 'common' })
    const theirs = await depositAddress(ctx, other, { customerId: 'shared-id', chain: 'common' })
    expect(theirs.customer.id).not.toBe(mine.customer.id)
    expect(theirs.customer.merchantId).toBe(other)
    expect(theirs.address.address).not.toBe(mine.address.address)
  })

  test('behavior: customer ids are opaque (a trailing space or another case is another customer)', async () => {
    const plain = await depositAddress(ctx, merchantId, { customerId: 'Case', chain: 'common' })
    const lower = await depositAddress(ctx, merchantId, { customerId: 'case', chain: 'common' })
    const spaced = await depositAddress(ctx, merchantId, { customerId: 'Case ', chain: 'common' })
    expect(new Set([plain.customer.id, lower.customer.id, spaced.customer.id]).size).toBe(3)
  })
})

describe('single mode', () => {
  const toy = toyChain({ name: 'single' })
  const ctx = unitPaymentsContext(handle, [toy.chain])

  test('default: one address per asset, the native coin when no asset is named', async () => {
    const shop = await unitMerchant(handle, 'Single Shop')
    await setDepositSettings(ctx, shop, { addressMode: 'single' }, admin)
    const native = await depositAddress(ctx, shop, { customerId: 'u', chain: 'single' })
    expect(native.customer.addressMode).toBe('single')
    expect(native.address).toMatchObject({ asset: toy.native.id, mode: 'single' })
    const byId = await depositAddress(ctx, shop, { customerId: 'u', chain: 'single', asset: toy.native.id })
    expect(byId.address.id).toBe(native.address.id)
    const token = await depositAddress(ctx, shop, { customerId: 'u', chain: 'single', asset: 'TOK' })
    expect(token.created).toBe(true)
    expect(token.address.asset).toBe(toy.token.id)
    expect(token.address.address).not.toBe(native.address.address)
    expect(token.networks).toEqual(['single'])
    const again = await depositAddress(ctx, shop, { customerId: 'u', chain: 'single', asset: 'TOK' })
    expect(again).toMatchObject({ created: false, address: { id: token.address.id } })
  })

  test("behavior: a customer keeps the mode it was created with when the merchant's mode changes", async () => {
    const shop = await unitMerchant(handle, 'Switching Shop')
    const before = await depositAddress(ctx, shop, { customerId: 'old', chain: 'single' })
    expect(before.customer.addressMode).toBe('common')
    await setDepositSettings(ctx, shop, { addressMode: 'single' }, admin)
    const after = await depositAddress(ctx, shop, { customerId: 'old', chain: 'single', asset: 'TOK' })
    expect(after.customer.addressMode).toBe('common')
    expect(after.address.id).toBe(before.address.id)
    const fresh = await depositAddress(ctx, shop, { customerId: 'new', chain: 'single', asset: 'TOK' })
    expect(fresh.customer.addressMode).toBe('single')
    expect(fresh.address.asset).toBe(toy.token.id)
    // and back: the single customer keeps one address per asset
    await setDepositSettings(ctx, shop, { addressMode: 'common' }, admin)
    const native = await depositAddress(ctx, shop, { customerId: 'new', chain: 'single' })
    expect(native.address.asset).toBe(toy.native.id)
    expect(native.address.id).not.toBe(fresh.address.id)
  })
})

describe('cross mode', () => {
  const a = toyChain({ name: 'crossa' })
  const b = toyChain({ name: 'crossb' })
  // keeps an index space of its own: its payments may hold any index of the shared space
  const own = toyChain({ name: 'crossown', settings: { addresses: 'cross' } })
  const chains = loaded(a.chain, b.chain, own.chain)
  const ctx = unitPaymentsContext(handle, chains)
  let shop = ''
  const pay = async (chain: string) =>
    (await createPayment(ctx, shop, { chain, asset: 'TOY', amount: '1' })).payment

  test('default: one address and index on every sibling chain, each listing both networks', async () => {
    expect(a.chain.siblings).toEqual(['crossb', 'crossown'])
    shop = await unitMerchant(handle, 'Cross Shop')
    await setDepositSettings(ctx, shop, { addressMode: 'cross' }, admin)
    const onA = await depositAddress(ctx, shop, { customerId: 'x', chain: 'crossa' })
    expect(onA.customer.addressMode).toBe('cross')
    expect(onA.networks).toEqual(['crossa', 'crossb'])
    const onB = await depositAddress(ctx, shop, { customerId: 'x', chain: 'crossb' })
    expect(onB.created).toBe(false)
    expect(onB.address.chain).toBe('crossb')
    expect(onB.address.address).toBe(onA.address.address)
    expect(onB.address.derivationIndex).toBe(onA.address.derivationIndex)
    expect(onB.networks).toEqual(['crossa', 'crossb'])
    const rows = await db
      .select({ chain: customerAddresses.chain })
      .from(customerAddresses)
      .where(eq(customerAddresses.customerId, onA.customer.id))
    expect(rows.map((r) => r.chain).sort()).toEqual(['crossa', 'crossb'])
  })

  test("behavior: a chain configured `addresses: 'cross'` is left out of the group", async () => {
    const onOwn = await depositAddress(ctx, shop, { customerId: 'y', chain: 'crossown' })
    expect(onOwn.networks).toEqual(['crossown'])
    const onA = await depositAddress(ctx, shop, { customerId: 'y', chain: 'crossa' })
    expect(onA.networks).not.toContain('crossown')
    expect(onA.created).toBe(true)
  })

  test('behavior: a sibling chain configured later joins an existing cross address at its index', async () => {
    const onA = await depositAddress(ctx, shop, { customerId: 'early', chain: 'crossa' })
    const late = toyChain({ name: 'crosslate' })
    const grown = unitPaymentsContext(
      handle,
      loaded(toyChain({ name: 'crossa' }).chain, toyChain({ name: 'crossb' }).chain, late.chain),
    )
    // the customer asks again on a chain it already has: the address now receives on the new chain too
    const again = await depositAddress(grown, shop, { customerId: 'early', chain: 'crossa' })
    expect(again.created).toBe(false)
    expect(again.address.id).toBe(onA.address.id)
    expect(again.networks).toEqual(['crossa', 'crossb', 'crosslate'])
    const onLate = await depositAddress(grown, shop, { customerId: 'early', chain: 'crosslate' })
    expect(onLate.address).toMatchObject({
      address: onA.address.address,
      derivationIndex: onA.address.derivationIndex,
    })
    // and the new chain's payments never take that index
    const paid = await createPayment(grown, shop, { chain: 'crosslate', asset: 'TOY', amount: '1' })
    expect(paid.payment.derivationIndex).not.toBe(onA.address.derivationIndex)
  })

  test('behavior: customer addresses and payment addresses of one account path never share an index', async () => {
    const indexes: number[] = []
    for (let i = 0; i < 4; i++) {
      indexes.push((await pay('crossa')).derivationIndex)
      const onA = await depositAddress(ctx, shop, { customerId: `mix-a-${i}`, chain: 'crossa' })
      indexes.push(onA.address.derivationIndex)
      indexes.push((await pay('crossb')).derivationIndex)
      const onB = await depositAddress(ctx, shop, { customerId: `mix-b-${i}`, chain: 'crossb' })
      indexes.push(onB.address.derivationIndex)
      // a cross customer's address on its sibling is the same one, not a new index
      const again = await depositAddress(ctx, shop, { customerId: `mix-a-${i}`, chain: 'crossb' })
      expect(again.address.derivationIndex).toBe(onA.address.derivationIndex)
    }
    expect(new Set(indexes).size).toBe(indexes.length)
    // nor any index any payment of the shared space ever had
    const paid = await db.select({ chain: payments.chain, index: payments.derivationIndex }).from(payments)
    const customerIndexes = new Set(
      (
        await db
          .select({ chain: customerAddresses.chain, index: customerAddresses.derivationIndex })
          .from(customerAddresses)
      )
        .filter((r) => r.chain !== 'crossown')
        .map((r) => r.index),
    )
    for (const p of paid.filter((p) => p.chain !== 'crossown'))
      expect(customerIndexes.has(p.index)).toBe(false)
  })
})

describe('hostile input', () => {
  const toy = toyChain({ name: 'hostile' })
  const ctx = unitPaymentsContext(handle, [toy.chain])
  const counts = async () => [
    await rowCount(db, customers),
    await rowCount(db, customerAddresses),
    await rowCount(db, addressPool),
  ]

  test('edge: refused requests are typed errors that write nothing', async () => {
    await depositAddress(ctx, merchantId, { customerId: 'warm-up', chain: 'hostile' })
    const before = await counts()
    const cases: Array<[unknown, string | undefined, TollgateError['code']]> = [
      ['u', 'nochain', 'UNKNOWN_CHAIN'],
      ['u', '', 'UNKNOWN_CHAIN'],
      ['', 'hostile', 'INVALID_INPUT'],
      ['x'.repeat(10_000), 'hostile', 'INVALID_INPUT'],
      ['x'.repeat(257), 'hostile', 'INVALID_INPUT'],
      ['bad\u0000id', 'hostile', 'INVALID_INPUT'],
      ['bad\nid', 'hostile', 'INVALID_INPUT'],
      ['bad\u202eid', 'hostile', 'INVALID_INPUT'],
      [42, 'hostile', 'INVALID_INPUT'],
      [null, 'hostile', 'INVALID_INPUT'],
      [{ toString: () => 'u' }, 'hostile', 'INVALID_INPUT'],
    ]
    for (const [customerId, chain, code] of cases) {
      const err = await rejection(
        depositAddress(ctx, merchantId, { customerId: customerId as string, chain: chain as string }),
      )
      expect(err.code).toBe(code)
    }
    for (const asset of ['NOPE', 'toy:other/slip44:1', '*', '']) {
      const err = await rejection(
        depositAddress(ctx, merchantId, { customerId: 'u', chain: 'hostile', asset }),
      )
      expect(err.code).toBe('UNKNOWN_ASSET')
    }
    const err = await rejection(
      depositAddress(ctx, merchantId, { customerId: 'u', chain: 42 as unknown as string }),
    )
    expect(err.code).toBe('UNKNOWN_CHAIN')
    expect(await counts()).toEqual(before)
  })

  test('edge: the longest accepted id is 256 characters, kept exactly', async () => {
    const id = `é${'x'.repeat(255)}`
    const made = await depositAddress(ctx, merchantId, { customerId: id, chain: 'hostile' })
    expect(made.customer.externalId).toBe(id)
  })
})

describe('concurrent requests (Postgres)', () => {
  test('behavior: ten requests at once for one customer give one address and lose no pool index', async () => {
    const testDb = await createTestDatabase()
    const pg = await openDb({ url: testDb.url, maxConnections: 12 })
    afterAll(async () => {
      await pg.close()
      await testDb.drop()
    })
    const toy = toyChain({ name: 'race' })
    const ctx = unitPaymentsContext(pg, [toy.chain], { addressPoolSize: 3 })
    const { merchant } = await createMerchant({ db: pg.db }, { name: 'Race Shop' })
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        depositAddress(ctx, merchant.id, { customerId: 'racer', chain: 'race' }),
      ),
    )
    expect(new Set(results.map((r) => r.address.id)).size).toBe(1)
    expect(results.filter((r) => r.created)).toHaveLength(1)
    expect(await rowCount(pg.db, customers)).toBe(1)
    expect(await rowCount(pg.db, customerAddresses)).toBe(1)
    const index = results[0]!.address.derivationIndex
    const next = await createPayment(ctx, merchant.id, { chain: 'race', asset: 'TOY', amount: '1' })
    expect(next.payment.derivationIndex).toBe(index + 1)
  })
})
