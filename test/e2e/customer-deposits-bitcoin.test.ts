import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chain, defineConfig } from '@tollgate/sdk'
import { and, eq } from 'drizzle-orm'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { coins, outboundTxs } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Bcoin, regtestKey, startBcoin } from '../helpers/bcoin.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'
import {
  availableOf,
  creditPostings,
  customerOf,
  type DepositView,
  depositAddressOf,
  depositEventTypes,
  depositOf,
  depositsOf,
  setAddressMode,
} from '../helpers/customer-deposits-chains.ts'
import { passUntil } from '../helpers/payout-passes.ts'
import { baseUnits } from '../helpers/refunds.ts'

// Customer deposit addresses on Bitcoin through the whole gateway: the GraphQL API hands out permanent addresses,
// a bcoin regtest node carries the payments, the scanner (run block by block here, so a reorg lands exactly where
// the test puts it) turns them into deposits credited to the merchant under the customer's id, and the payout pass
// consolidates the confirmed ones into the treasury.

let node: Bcoin
let app: TestApp
let key: string
let scanner: ScannerState

beforeAll(async () => {
  node = await startBcoin()
  const config = defineConfig({
    chains: {
      regtest: chain(
        () => import('../../src/plugins/bitcoin/index.ts'),
        { network: 'regtest', rpcUrls: [node.url], confirmations: 2, finalityDepth: 6, timeoutMs: 5000 },
        {
          startHeight: await node.height(),
          scanIntervalMs: 500,
          payouts: { intervalMs: 200, windowMs: 0, maxBatch: 50 },
          sweeps: { maxFeeShareBps: 1000 },
        },
      ),
    },
  })
  app = await createTestApp({ config, env: { TOLLGATE_SEED: gatewayMnemonic } })
  key = (await app.merchant('Bitcoin exchange')).key
  scanner = newScannerState()
}, 60_000)

afterAll(async () => {
  await app?.close()
  await node?.stop()
})

const gql = (query: string, variables: Record<string, unknown> = {}) => app.gql(query, variables, key)
const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('regtest')!)
/** Mines `n` blocks, then lets the scanner read them. */
const mine = async (n: number) => {
  const hashes = await node.mine(n)
  await sync()
  return hashes
}
const address = (customerId: string, asset?: string) =>
  depositAddressOf(gql, { customerId, chain: 'regtest', ...(asset ? { asset } : {}) })
const btc = () => availableOf(gql, 'regtest', 'BTC')
const sats = (decimal: string) => baseUnits(decimal, 8)

let alice: string
let bob: string

describe('customer deposit addresses on Bitcoin (bcoin regtest)', () => {
  test('default: a customer gets a permanent regtest address (COMMON: every asset, networks just the chain); asked again it is the same, another customer gets another', async () => {
    const first = await address('alice')
    expect(first).toMatchObject({
      customerId: 'alice',
      chain: 'regtest',
      asset: null,
      mode: 'COMMON',
      networks: ['regtest'],
    })
    expect(first.address).toMatch(/^bcrt1q[02-9ac-hj-np-z]{38}$/)
    // permanent: the same row whether the asset is named or not (one address serves the chain)
    expect(await address('alice')).toEqual(first)
    expect(await address('alice', 'BTC')).toEqual(first)
    const other = await address('bob')
    expect(other.address).toMatch(/^bcrt1q/)
    expect(other.address).not.toBe(first.address)
    expect(other.id).not.toBe(first.id)
    alice = first.address
    bob = other.address

    const customer = await customerOf(gql, 'alice')
    expect(customer).toMatchObject({ id: 'alice', addressMode: 'COMMON', deposits: [], balance: [] })
    expect(customer?.addresses).toEqual([first])
    expect(await customerOf(gql, 'nobody')).toBeNull()
    // another merchant neither sees the customer nor shares the address
    const otherKey = (await app.merchant('Another exchange')).key
    const res = await app.gql('query { customer(id: "alice") { id } }', {}, otherKey)
    expect(res.data.customer).toBeNull()
  })

  test('default: two payments in two transactions are two deposits of the customer: SEEN at depth 1, CONFIRMED and credited at depth 2', async () => {
    const before = sats(await btc())
    const one = await node.send(alice, 150_000n)
    await mine(1)
    const [seen] = await depositsOf(gql, 'alice')
    expect(seen).toMatchObject({
      customerId: 'alice',
      chain: 'regtest',
      asset: { symbol: 'BTC' },
      amount: '0.0015',
      credited: '0',
      status: 'SEEN',
      address: alice,
      txHash: one.txid,
      index: one.vout,
      confirmations: 1,
      confirmationsRequired: 2,
      confirmedAt: null,
    })
    expect(seen?.blockHeight).toBe(String(await node.height()))
    expect(sats(await btc())).toBe(before)

    const two = await node.send(alice, 250_000n)
    await mine(1)
    let [first, second] = await depositsOf(gql, 'alice')
    expect(first).toMatchObject({ id: seen!.id, status: 'CONFIRMED', credited: '0.0015', confirmations: 2 })
    expect(first?.confirmedAt).toBeString()
    expect(second).toMatchObject({
      status: 'SEEN',
      amount: '0.0025',
      txHash: two.txid,
      index: 0,
      credited: '0',
    })
    expect((await customerOf(gql, 'alice'))?.balance).toEqual([
      {
        chain: 'regtest',
        asset: { symbol: 'BTC' },
        credited: '0.0015',
        pending: '0.0025',
        uncredited: '0',
        deposits: 2,
      },
    ])

    await mine(1)
    ;[first, second] = await depositsOf(gql, 'alice')
    expect(second).toMatchObject({ status: 'CONFIRMED', credited: '0.0025', confirmations: 2 })
    expect(first).toMatchObject({ status: 'CONFIRMED', confirmations: 3 })
    expect(await depositOf(gql, second!.id)).toEqual(second!)
    for (const d of [first!, second!])
      expect(await depositEventTypes(app.ctx.db, d.id)).toEqual(['deposit.seen', 'deposit.confirmed'])
    expect(await creditPostings(app.ctx.db, first!.id)).toEqual([150_000n])
    expect(await creditPostings(app.ctx.db, second!.id)).toEqual([250_000n])
    expect(sats(await btc())).toBe(before + 400_000n)
    expect((await customerOf(gql, 'alice'))?.balance).toEqual([
      {
        chain: 'regtest',
        asset: { symbol: 'BTC' },
        credited: '0.004',
        pending: '0',
        uncredited: '0',
        deposits: 2,
      },
    ])
    // bob's address received nothing
    expect(await depositsOf(gql, 'bob')).toEqual([])
  })

  test('behavior: one transaction with two outputs to the address is two deposits, each with its output index', async () => {
    const before = sats(await btc())
    const stranger = regtestKey('customer deposits: someone else')
    const signed = await node.sign([
      { address: stranger.address, amount: 10_000n },
      { address: alice, amount: 30_000n },
      { address: alice, amount: 70_000n },
    ])
    await node.broadcast(signed.raw)
    await mine(2)
    const fromIt = (await depositsOf(gql, 'alice')).filter((d) => d.txHash === signed.txid)
    expect(fromIt.map((d) => [d.index, d.amount, d.status, d.credited, d.customerId])).toEqual([
      [1, '0.0003', 'CONFIRMED', '0.0003', 'alice'],
      [2, '0.0007', 'CONFIRMED', '0.0007', 'alice'],
    ])
    expect(sats(await btc())).toBe(before + 100_000n)
    expect((await customerOf(gql, 'alice'))?.balance[0]).toMatchObject({ credited: '0.005', deposits: 4 })
  })

  test('behavior: SINGLE and CROSS customers get the same kind of address as COMMON (one asset, networks just the chain); existing customers keep their mode and address', async () => {
    await setAddressMode(gql, 'SINGLE')
    const carol = await address('carol')
    expect(carol).toMatchObject({ mode: 'SINGLE', asset: { symbol: 'BTC' }, networks: ['regtest'] })
    // SINGLE without an asset is the native asset: one slot, one address
    expect(await address('carol', 'BTC')).toEqual(carol)
    const aliceAgain = await address('alice')
    expect(aliceAgain).toMatchObject({ address: alice, mode: 'COMMON' })

    await setAddressMode(gql, 'CROSS')
    const dave = await address('dave')
    // no other chain derives Bitcoin regtest addresses: the cross group is the chain alone
    expect(dave).toMatchObject({ mode: 'CROSS', asset: null, networks: ['regtest'] })
    expect((await customerOf(gql, 'carol'))?.addressMode).toBe('SINGLE')
    expect((await customerOf(gql, 'dave'))?.addressMode).toBe('CROSS')
    expect(new Set([alice, bob, carol.address, dave.address]).size).toBe(4)
    await setAddressMode(gql, 'COMMON')

    const before = sats(await btc())
    const toCarol = await node.send(carol.address, 120_000n)
    const toDave = await node.send(dave.address, 80_000n)
    await mine(2)
    expect(await depositsOf(gql, 'carol')).toMatchObject([
      { customerId: 'carol', txHash: toCarol.txid, status: 'CONFIRMED', credited: '0.0012' },
    ])
    expect(await depositsOf(gql, 'dave')).toMatchObject([
      { customerId: 'dave', txHash: toDave.txid, status: 'CONFIRMED', credited: '0.0008' },
    ])
    expect(sats(await btc())).toBe(before + 200_000n)
  })

  test('behavior: a deposit whose block a reorg takes away before its depth is REVERTED and never credited; mined again, it confirms once', async () => {
    const before = sats(await btc())
    const sent = await node.send(bob, 200_000n)
    const [block] = await mine(1)
    const [seen] = await depositsOf(gql, 'bob')
    expect(seen).toMatchObject({ status: 'SEEN', txHash: sent.txid, confirmations: 1 })

    // bcoin rewinds to the parent and empties its mempool: the competing blocks do not hold the payment
    await node.invalidate(1)
    const competing = await mine(2)
    expect(competing).not.toContain(block)
    const reverted = await depositOf(gql, seen!.id)
    expect(reverted).toMatchObject({ status: 'REVERTED', credited: '0', confirmations: 0 })
    expect(await depositEventTypes(app.ctx.db, seen!.id)).toEqual(['deposit.seen', 'deposit.reverted'])
    expect(await creditPostings(app.ctx.db, seen!.id)).toEqual([])
    expect((await customerOf(gql, 'bob'))?.balance[0]).toMatchObject({
      pending: '0',
      credited: '0',
      deposits: 0,
    })
    expect(sats(await btc())).toBe(before)

    // the same transaction mined again: the same deposit (never a second one), credited once
    await node.broadcast(sent.raw)
    await mine(2)
    const again = await depositsOf(gql, 'bob')
    expect(again).toHaveLength(1)
    expect(again[0]).toMatchObject({ id: seen!.id, status: 'CONFIRMED', credited: '0.002' })
    expect(again[0]?.blockHeight).not.toBe(seen!.blockHeight)
    expect(await creditPostings(app.ctx.db, seen!.id)).toEqual([200_000n])
    expect(sats(await btc())).toBe(before + 200_000n)
  })

  test('behavior: a CONFIRMED, credited deposit whose block a deeper reorg takes away is REVERTED and its credit reversed exactly once', async () => {
    const sent = await node.send(bob, 300_000n)
    await mine(2)
    const confirmed = (await depositsOf(gql, 'bob')).find((d) => d.txHash === sent.txid) as DepositView
    expect(confirmed).toMatchObject({ status: 'CONFIRMED', credited: '0.003', confirmations: 2 })
    const credited = sats(await btc())

    await node.invalidate(2)
    await mine(3)
    const reverted = await depositOf(gql, confirmed.id)
    expect(reverted).toMatchObject({ status: 'REVERTED', credited: '0', confirmations: 0 })
    expect(await depositEventTypes(app.ctx.db, confirmed.id)).toEqual([
      'deposit.seen',
      'deposit.confirmed',
      'deposit.reverted',
    ])
    expect(await creditPostings(app.ctx.db, confirmed.id)).toEqual([300_000n, -300_000n])
    expect(sats(await btc())).toBe(credited - 300_000n)

    // later blocks and scans leave it as it is: nothing reversed twice, nothing credited again
    await mine(2)
    expect(await depositOf(gql, confirmed.id)).toMatchObject({ status: 'REVERTED', credited: '0' })
    expect(await creditPostings(app.ctx.db, confirmed.id)).toEqual([300_000n, -300_000n])
    expect(sats(await btc())).toBe(credited - 300_000n)
    expect((await customerOf(gql, 'bob'))?.balance[0]).toMatchObject({ credited: '0.002', deposits: 1 })
  })

  test('behavior: the confirmed customer deposits are consolidated into the treasury (their deposit coins spent by a confirmed sweep); the reverted one never becomes a coin', async () => {
    const confirmed = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((c) => depositsOf(gql, c))))
      .flat()
      .filter((d) => d.status === 'CONFIRMED')
    const reverted = (await depositsOf(gql, 'bob')).filter((d) => d.status === 'REVERTED')
    expect(confirmed).toHaveLength(7)
    expect(reverted).toHaveLength(1)
    const outpoints = confirmed.map((d) => `${d.txHash}:${d.index}`).sort()
    const balance = await btc()

    const sweptSpends = async () =>
      (
        await app.ctx.db
          .select({ spends: outboundTxs.spends })
          .from(outboundTxs)
          .where(and(eq(outboundTxs.purpose, 'sweep'), eq(outboundTxs.status, 'confirmed')))
      ).flatMap((o) => o.spends ?? [])
    await passUntil(
      app,
      'regtest',
      () => mine(1),
      'the confirmed customer deposits consolidated into the treasury',
      async () => {
        const spent = new Set(await sweptSpends())
        return outpoints.every((o) => spent.has(o))
      },
      40_000,
    )

    const rows = await app.ctx.db.select().from(coins).where(eq(coins.chain, 'regtest'))
    const depositCoins = rows.filter((c) => c.role === 'deposit')
    expect(depositCoins.map((c) => `${c.txid}:${c.vout}`).sort()).toEqual(outpoints)
    expect(depositCoins.every((c) => c.status === 'spent')).toBe(true)
    expect(rows.map((c) => c.txid)).not.toContain(reverted[0]!.txHash)
    // the consolidation's output is a treasury coin: what the deposits held, less the fee
    const sweeps = await app.ctx.db
      .select()
      .from(outboundTxs)
      .where(and(eq(outboundTxs.purpose, 'sweep'), eq(outboundTxs.status, 'confirmed')))
    expect(sweeps).toHaveLength(1)
    const sweep = sweeps[0]!
    const treasury = rows.filter((c) => c.role === 'treasury' && c.txid === sweep.hash)
    const total = confirmed.reduce((sum, d) => sum + sats(d.amount), 0n)
    expect(treasury).toHaveLength(1)
    expect(sweep.fee).not.toBeNull()
    expect(treasury[0]!.amount).toBe(total - (sweep.fee as bigint))
    expect(treasury[0]!.amount).toBeLessThan(total)
    // consolidating moves the gateway's coins, not the merchant's balance
    expect(await btc()).toBe(balance)
  }, 60_000)
})
