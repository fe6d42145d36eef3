import { describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { availableOf, depositScene, depositsOfCustomer } from '../../../test/helpers/deposits.ts'
import {
  paymentRow,
  silentLog,
  toyChain,
  transfersOf,
  unitMerchant,
  unitPaymentsContext,
  unitStage,
} from '../../../test/helpers/unit.ts'
import { customerAddresses, deposits, outboundTxs, transfers } from '../../db/schema/index.ts'
import { addressSiblings } from '../../plugins/registry.ts'
import { depositAddress } from '../deposits/addresses.ts'
import { decideDeposit } from '../deposits/review.ts'
import { setDepositSettings } from '../deposits/settings.ts'
import { newId } from '../ids.ts'
import { createPayment } from '../payments/create.ts'
import { newScannerState, syncChain } from './sync.ts'
import { refreshWatchSet } from './watch-set.ts'

const { handle, db, merchantId } = await unitStage('custdep')
const admin = { cli: true } as const
type SceneOptions = Omit<Parameters<typeof depositScene>[1], 'merchantId'>
const scene = (options: SceneOptions = {}) => depositScene(handle, { name: 'cust', ...options, merchantId })
const transfersTo = (chain: string, address: string) =>
  db
    .select()
    .from(transfers)
    .where(eq(transfers.chain, chain))
    .then((rows) => rows.filter((r) => r.toAddress === address))

describe('matching customer deposits', () => {
  test('behavior: in single mode only the address’s own asset is a deposit', async () => {
    const shop = await unitMerchant(handle, 'Single Shop')
    const { toy, address, send, sync, payCtx } = scene()
    await setDepositSettings({ db, chains: payCtx.chains }, shop, { addressMode: 'single' }, admin)
    const { customer, address: native } = await address('s1', undefined, shop)
    const { address: token } = await address('s1', 'TOK', shop)
    toy.mine([
      send(native.address, '0x11', 10n, toy.token), // another asset: ignored
      send(native.address, '0x12', 11n),
      send(token.address, '0x13', 12n), // the native coin at the token's address: ignored
      send(token.address, '0x14', 13n, toy.token),
    ])
    await sync()
    const rows = await depositsOfCustomer(db, customer.id)
    expect(rows.map((d) => [d.txHash, d.customerAddressId, d.status])).toEqual([
      ['0x12', native.id, 'CONFIRMED'],
      ['0x14', token.id, 'CONFIRMED'],
    ])
    expect((await transfersTo(toy.chain.name, native.address)).map((t) => t.txHash)).toEqual(['0x12'])
    expect((await transfersTo(toy.chain.name, token.address)).map((t) => t.txHash)).toEqual(['0x14'])
    expect(await availableOf(db, shop, toy.chain.name, toy.native.id)).toBe(11n)
    expect(await availableOf(db, shop, toy.chain.name, toy.token.id)).toBe(13n)
  })

  test('behavior: what the gateway sent itself (one of its outbound transactions) is not a deposit', async () => {
    const { toy, address, send, sync } = scene()
    const { customer, address: to } = await address('o1')
    await db.insert(outboundTxs).values({
      id: newId('out'),
      chain: toy.chain.name,
      purpose: 'gas',
      fromAddress: 'toygas',
      fromPath: "m/44'/1'/0'/9/0",
      asset: toy.native.id,
      status: 'broadcast',
      unsigned: {},
      maxFee: 21n,
      hash: '0xfund',
    })
    toy.mine([send(to.address, '0xfund', 500n), send(to.address, '0xreal', 7n)])
    await sync()
    expect((await depositsOfCustomer(db, customer.id)).map((d) => d.txHash)).toEqual(['0xreal'])
    expect((await transfersTo(toy.chain.name, to.address)).map((t) => t.txHash)).toEqual(['0xreal'])
  })

  test("behavior: a payment's own address wins over a customer key", async () => {
    const { toy, address, send, sync, create, pay } = scene()
    const p = await create(100n)
    const { customer, address: ca } = await address('p1')
    // a customer row claiming the payment's address (as a chain configured to share addresses could)
    await db
      .update(customerAddresses)
      .set({ address: p.address, addressKey: toy.chain.driver.addressKey(p.address) })
      .where(eq(customerAddresses.id, ca.id))
    toy.mine([pay(p, '0x21', 100n), send(p.address, '0x22', 5n, toy.token)])
    await sync()
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', amountReceived: 100n })
    expect((await transfersOf(db, p.id)).map((t) => t.txHash)).toEqual(['0x21'])
    expect(await depositsOfCustomer(db, customer.id)).toEqual([])
  })

  test('behavior: cross mode credits a deposit on either sibling chain to the one customer', async () => {
    const shop = await unitMerchant(handle, 'Cross Shop')
    const a = toyChain({ name: 'custxa', confirmations: 1 })
    const b = toyChain({ name: 'custxb', confirmations: 1 })
    const chains = [a.chain, b.chain]
    for (const c of chains) c.siblings = addressSiblings(chains, c)
    const ctx = unitPaymentsContext(handle, chains)
    await setDepositSettings(ctx, shop, { addressMode: 'cross' }, admin)
    const { customer, address, networks } = await depositAddress(ctx, shop, {
      customerId: 'wanderer',
      chain: 'custxa',
    })
    expect(networks).toEqual(['custxa', 'custxb'])
    // a payment on the sibling: its key is watched there as a wrong-network address, never the customer's
    const p = await createPayment(ctx, shop, {
      chain: 'custxb',
      asset: 'TOY',
      amount: '1',
    })
    a.mine([{ txHash: '0x31', index: 0, asset: a.native.id, to: address.address, amount: 3n }])
    b.mine([{ txHash: '0x32', index: 0, asset: b.token.id, to: address.address, amount: 4n }])
    const syncCtx = { db, log: silentLog, scanner: newScannerState() }
    await syncChain(syncCtx, a.chain)
    await syncChain(syncCtx, b.chain)
    const rows = await depositsOfCustomer(db, customer.id)
    expect(rows.map((d) => [d.chain, d.asset, d.status, d.credited])).toEqual([
      ['custxa', a.native.id, 'CONFIRMED', 3n],
      ['custxb', b.token.id, 'CONFIRMED', 4n],
    ])
    expect(await availableOf(db, shop, 'custxa', a.native.id)).toBe(3n)
    expect(await availableOf(db, shop, 'custxb', b.token.id)).toBe(4n)
    expect((await paymentRow(db, p.payment.id)).status).toBe('PENDING')
  })

  test('behavior: a deposit on a sibling chain to a common address is held as wrong-network until the merchant decides', async () => {
    const shop = await unitMerchant(handle, 'Wrong Network Shop')
    const a = toyChain({ name: 'custwa', confirmations: 1 })
    const b = toyChain({ name: 'custwb', confirmations: 1 })
    const chains = [a.chain, b.chain]
    for (const c of chains) c.siblings = addressSiblings(chains, c)
    const ctx = unitPaymentsContext(handle, chains)
    const { customer, address, networks } = await depositAddress(ctx, shop, {
      customerId: 'lost',
      chain: 'custwa',
    })
    expect(networks).toEqual(['custwa'])
    b.mine([
      { txHash: '0x41', index: 0, asset: b.native.id, to: address.address, amount: 6n },
      { txHash: '0x42', index: 0, asset: b.token.id, to: address.address, amount: 8n },
    ])
    b.mineEmpty(1)
    const syncCtx = { db, log: silentLog, scanner: newScannerState() }
    const seen = await syncChain(syncCtx, b.chain)
    expect(seen.deposits.map((d) => d.type).sort()).toEqual([
      'deposit.held',
      'deposit.held',
      'deposit.seen',
      'deposit.seen',
    ])
    const rows = await depositsOfCustomer(db, customer.id)
    expect(rows.map((d) => [d.chain, d.txHash, d.status, d.wrongNetwork, d.credited])).toEqual([
      ['custwb', '0x41', 'HELD', true, 0n],
      ['custwb', '0x42', 'HELD', true, 0n],
    ])
    expect(await availableOf(db, shop, 'custwb', b.native.id)).toBe(0n)
    // the merchant credits one on the chain it arrived on and leaves the other for the operator
    const release = await decideDeposit(ctx, shop, rows[0]!.id, true, {
      actor: admin,
      note: 'customer asked',
    })
    expect(release.map((c) => c.status)).toEqual(['CONFIRMED'])
    await decideDeposit(ctx, shop, rows[1]!.id, false, { actor: admin, note: 'not ours to credit' })
    expect(
      (await depositsOfCustomer(db, customer.id)).map((d) => [d.status, d.credited, d.decision]),
    ).toEqual([
      ['CONFIRMED', 6n, 'released'],
      ['REJECTED', 0n, 'rejected'],
    ])
    expect(await availableOf(db, shop, 'custwb', b.native.id)).toBe(6n)
    expect(await availableOf(db, shop, 'custwb', b.token.id)).toBe(0n)
    const again = await decideDeposit(ctx, shop, rows[0]!.id, true, { actor: admin, note: 'twice' }).catch(
      (err: unknown) => err,
    )
    expect((again as { code?: string }).code).toBe('INVALID_STATE')
    // rescanned, nothing moves back
    await syncChain(syncCtx, b.chain)
    expect((await depositsOfCustomer(db, customer.id)).map((d) => d.status)).toEqual([
      'CONFIRMED',
      'REJECTED',
    ])
  })
})

describe('watch set', () => {
  test('behavior: customer keys are loaded incrementally and kept across the payments’ rebuild', async () => {
    const { toy, address } = scene()
    const driver = toy.chain.driver
    const name = toy.chain.name
    const window = { monitoringWindowMs: 3600_000 }
    const { address: first } = await address('w1')
    const ws = await refreshWatchSet({ db }, driver, name, window)
    expect(ws.customers.has(first.addressKey)).toBe(true)
    expect(ws.customers.size).toBe(1)
    const { address: second } = await address('w2')
    const rebuiltAt = ws.rebuiltAt
    const next = await refreshWatchSet({ db }, driver, ws, window)
    expect(next.rebuiltAt).toBe(rebuiltAt)
    expect(next.customers.has(second.addressKey)).toBe(true)
    // a rebuild (the payments' part) keeps every customer key
    const later = new Date(Date.now() + 2 * 3600_000)
    const rebuilt = await refreshWatchSet({ db }, driver, next, { ...window, now: later })
    expect(rebuilt.rebuiltAt).toBe(later.getTime())
    expect([first, second].every((a) => rebuilt.customers.has(a.addressKey))).toBe(true)
    expect(rebuilt.customers.size).toBe(2)
    // another chain's customer addresses are not this chain's keys
    const other = scene()
    const { address: elsewhere } = await other.address('w3')
    const again = await refreshWatchSet({ db }, driver, rebuilt, window)
    expect(again.customers.has(elsewhere.addressKey)).toBe(false)
    expect(again.customers.size).toBe(2)
  })

  test('behavior: an address given after the scanner’s first run is found by its next run', async () => {
    const { toy, address, send, sync } = scene()
    toy.mineEmpty(2)
    await sync()
    const { customer, address: to } = await address('late')
    toy.mine([send(to.address, '0x41', 9n)])
    const result = await sync()
    expect(result.transfers).toBe(1)
    expect(result.deposits.map((d) => d.type)).toEqual(['deposit.seen', 'deposit.confirmed'])
    expect(await depositsOfCustomer(db, customer.id)).toMatchObject([{ status: 'CONFIRMED', credited: 9n }])
    expect(await db.select().from(deposits).where(eq(deposits.chain, toy.chain.name))).toHaveLength(1)
  })
})
