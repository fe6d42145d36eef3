import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chain, defineConfig } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import type { TronWeb as TronWebClient } from 'tronweb'
import { reconcileChain } from '../../src/core/payouts/reconcile.ts'
import { createSigner } from '../../src/core/payouts/signer.ts'
import { roleAccountPath } from '../../src/core/payouts/wallet-roles.ts'
import { customerAddresses, sweeps } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'
import {
  availableOf,
  creditPostings,
  customerOf,
  type DepositView,
  depositAddressOf,
  depositEventTypes,
  depositsOf,
  setAddressMode,
} from '../helpers/customer-deposits-chains.ts'
import { waitFor } from '../helpers/processes.ts'
import { TronWeb } from '../helpers/tronweb.ts'
import { startTronNode, type TronNode, USDT_MAINNET } from '../tron-node/server.ts'

// Customer deposit addresses on Tron through the whole gateway (GraphQL API, chain worker) against the Tron
// stand-in node: a customer's one address receives TRX and, later, USDT (TRC-20), each credited under the
// customer's id. The config has a second Tron chain on another account (as an operator funding sweeps two ways
// would), so it derives other addresses: a CROSS address of `tron` is the chain's alone, as COMMON.

const payer = TronWeb.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
  "m/44'/195'/3'/0/0",
)

let node: TronNode
let app: TestApp
let key: string
let tw: TronWebClient
let stopWorkers: (() => Promise<void>) | undefined

beforeAll(async () => {
  node = await startTronNode()
  tw = new TronWeb({ fullHost: node.url })
  node.fund(payer.address, 10_000_000_000n)
  node.mint(USDT_MAINNET, payer.address, 1_000_000_000n)
  const options = {
    fullHosts: [node.url],
    tokens: [{ symbol: 'USDT', address: USDT_MAINNET, decimals: 6 }],
    confirmations: 3,
    finalityDepth: 6,
    timeoutMs: 2000,
    headPollMs: 100,
  }
  const settings = {
    shareChainId: true,
    startHeight: node.head() + 1,
    scanIntervalMs: 300,
    payouts: { intervalMs: 200 },
  }
  const config = defineConfig({
    chains: {
      tron: chain(() => import('../../src/plugins/tron/index.ts'), { ...options, funding: 'burn' }, settings),
      'tron-delegate': chain(
        () => import('../../src/plugins/tron/index.ts'),
        { ...options, funding: 'delegate', account: 10 },
        settings,
      ),
    },
  })
  app = await createTestApp({ config, env: { TOLLGATE_SEED: gatewayMnemonic } })
  // the gas tank pays what token sweeps burn; the treasury exists before the first sweep, as an operator's does
  node.fund(walletOf('gas'), 1_000_000_000n)
  node.fund(walletOf('treasury'), 1_000_000n)
  key = (await app.merchant('Tron exchange')).key
  stopWorkers = await startWorkers(app.ctx)
}, 60_000)

afterAll(async () => {
  await stopWorkers?.()
  await app?.close()
  await node?.stop()
})

const gql = (query: string, variables: Record<string, unknown> = {}) => app.gql(query, variables, key)

/** The gateway's own wallet of a role on `tron` (account 0), derived from its seed as the gateway does. */
function walletOf(role: 'treasury' | 'gas') {
  const driver = app.ctx.chains.get('tron')!.driver
  const xpub = createSigner(gatewayMnemonic).xpub(roleAccountPath(driver.accountPath, role))
  return driver.deriveAddress({ xpub, index: 0 }).address
}
const address = (customerId: string, asset?: string) =>
  depositAddressOf(gql, { customerId, chain: 'tron', ...(asset ? { asset } : {}) })

async function broadcast(tx: any): Promise<string> {
  const signed = await tw.trx.sign(tx, payer.privateKey.slice(2))
  const res = await tw.trx.sendRawTransaction(signed)
  expect(res.result).toBe(true)
  return signed.txID as string
}
const payTrx = async (to: string, sun: number) =>
  broadcast(await tw.transactionBuilder.sendTrx(to, sun, payer.address))
async function payUsdt(to: string, units: number) {
  const { transaction } = await tw.transactionBuilder.triggerSmartContract(
    USDT_MAINNET,
    'transfer(address,uint256)',
    { feeLimit: 100_000_000 },
    [
      { type: 'address', value: to },
      { type: 'uint256', value: units },
    ],
    payer.address,
  )
  return broadcast(transaction)
}

/** Produces a block at a time until the customer has a deposit of `txHash` in `status`; returns it. */
function mineUntilDeposit(customerId: string, txHash: string, status: DepositView['status']) {
  let last = 0
  return waitFor(
    `${customerId}'s deposit ${txHash} ${status}`,
    async () => {
      const found = (await depositsOf(gql, customerId)).find((d) => d.txHash === txHash)
      if (found?.status === status) return found
      if (Date.now() - last > 100) {
        last = Date.now()
        node.mine(1)
      }
      return undefined
    },
    30_000,
  )
}

let alice: string

describe('customer deposit addresses on Tron (stand-in node)', () => {
  test('default: a COMMON customer address receives TRX, then later USDT: each its own deposit, confirmed at depth and credited under the customer id', async () => {
    const given = await address('alice')
    expect(given).toMatchObject({
      customerId: 'alice',
      chain: 'tron',
      asset: null,
      mode: 'COMMON',
      networks: ['tron'],
    })
    expect(given.address).toMatch(/^T[1-9A-HJ-NP-Za-km-z]{33}$/)
    // one address for every asset of the chain
    expect(await address('alice')).toEqual(given)
    expect(await address('alice', 'USDT')).toEqual(given)
    expect(await address('alice', 'TRX')).toEqual(given)
    alice = given.address

    const trxTx = await payTrx(alice, 25_000_000)
    const trx = await mineUntilDeposit('alice', trxTx, 'CONFIRMED')
    expect(trx).toMatchObject({
      customerId: 'alice',
      chain: 'tron',
      asset: { symbol: 'TRX' },
      amount: '25',
      credited: '25',
      address: alice,
      confirmationsRequired: 3,
    })
    expect(trx.confirmations).toBeGreaterThanOrEqual(3)
    expect(await depositEventTypes(app.ctx.db, trx.id)).toEqual(['deposit.seen', 'deposit.confirmed'])
    expect(await availableOf(gql, 'tron', 'TRX')).toBe('25')
    expect(await availableOf(gql, 'tron', 'USDT')).toBe('0')

    // some blocks later, a token to the same address
    node.mine(5)
    const usdtTx = await payUsdt(alice, 100_000_000)
    const usdt = await mineUntilDeposit('alice', usdtTx, 'CONFIRMED')
    expect(usdt).toMatchObject({
      customerId: 'alice',
      asset: { symbol: 'USDT' },
      amount: '100',
      credited: '100',
      address: alice,
    })
    expect(usdt.id).not.toBe(trx.id)
    expect(BigInt(usdt.blockHeight!)).toBeGreaterThan(BigInt(trx.blockHeight!) + 5n)
    expect(await creditPostings(app.ctx.db, trx.id)).toEqual([25_000_000n])
    expect(await creditPostings(app.ctx.db, usdt.id)).toEqual([100_000_000n])
    expect(await availableOf(gql, 'tron', 'TRX')).toBe('25')
    expect(await availableOf(gql, 'tron', 'USDT')).toBe('100')

    const customer = await customerOf(gql, 'alice')
    expect(customer?.addresses).toEqual([given])
    const lines = customer!.balance.map((b) => [b.chain, b.asset.symbol, b.credited, b.pending, b.deposits])
    expect(lines.sort()).toEqual([
      ['tron', 'TRX', '25', '0', 1],
      ['tron', 'USDT', '100', '0', 1],
    ])
  }, 60_000)

  test('behavior: the customer address is swept: its TRX and USDT reach the treasury and the books reconcile', async () => {
    const tron = app.ctx.chains.get('tron')!
    const [row] = await app.ctx.db
      .select()
      .from(customerAddresses)
      .where(eq(customerAddresses.address, alice))
    const usdt = tron.driver.assets.find((a) => a.symbol === 'USDT')!
    const done = await waitFor(
      "alice's TRX and USDT sweeps done",
      async () => {
        node.mine(1)
        const rows = await app.ctx.db.select().from(sweeps).where(eq(sweeps.customerAddressId, row!.id))
        return rows.length === 2 && rows.every((r) => r.status === 'done') ? rows : undefined
      },
      30_000,
    )
    const byAsset = new Map(done.map((r) => [r.asset, r]))
    expect(byAsset.get(usdt.id)?.amount).toBe(100_000_000n)
    expect(await tron.driver.payouts!.balance(alice, usdt)).toBe(0n)
    // the treasury held no USDT before: alice's 100 is what it holds
    expect(await tron.driver.payouts!.balance(walletOf('treasury'), usdt)).toBe(100_000_000n)
    const report = await waitFor(
      'tron settled',
      async () => {
        const r = await reconcileChain(app.ctx, tron, { bookFunding: false })
        return r.settled ? r : undefined
      },
      20_000,
    )
    expect(report.discrepancies).toEqual([])
  }, 60_000)

  test('behavior: CROSS on Tron is COMMON: the other Tron chain derives from another account, so networks is just the chain; the address credits TRX and USDT', async () => {
    await setAddressMode(gql, 'CROSS')
    const bob = await address('bob')
    expect(bob).toMatchObject({ customerId: 'bob', mode: 'CROSS', asset: null, networks: ['tron'] })
    expect(bob.address).not.toBe(alice)
    expect(await address('bob', 'USDT')).toEqual(bob)
    // alice keeps the mode and address she was given
    expect(await address('alice')).toMatchObject({ address: alice, mode: 'COMMON' })
    await setAddressMode(gql, 'COMMON')

    const usdtTx = await payUsdt(bob.address, 40_000_000)
    const trxTx = await payTrx(bob.address, 7_000_000)
    const usdt = await mineUntilDeposit('bob', usdtTx, 'CONFIRMED')
    const trx = await mineUntilDeposit('bob', trxTx, 'CONFIRMED')
    expect(usdt).toMatchObject({ customerId: 'bob', asset: { symbol: 'USDT' }, amount: '40', credited: '40' })
    expect(trx).toMatchObject({ customerId: 'bob', asset: { symbol: 'TRX' }, amount: '7', credited: '7' })
    expect(await availableOf(gql, 'tron', 'USDT')).toBe('140')
    expect(await availableOf(gql, 'tron', 'TRX')).toBe('32')
    // only bob's: alice's deposits are what they were
    expect((await depositsOf(gql, 'alice')).map((d) => d.amount)).toEqual(['25', '100'])
  }, 60_000)

  test('behavior: a SINGLE USDT address credits USDT alone: TRX sent there is no deposit', async () => {
    await setAddressMode(gql, 'SINGLE')
    const carol = await address('carol', 'USDT')
    expect(carol).toMatchObject({ mode: 'SINGLE', asset: { symbol: 'USDT' }, networks: ['tron'] })
    // without an asset a SINGLE customer is asking for the native one: another address
    const carolTrx = await address('carol')
    expect(carolTrx).toMatchObject({ mode: 'SINGLE', asset: { symbol: 'TRX' } })
    expect(carolTrx.address).not.toBe(carol.address)
    await setAddressMode(gql, 'COMMON')

    const stray = await payTrx(carol.address, 3_000_000)
    const usdtTx = await payUsdt(carol.address, 12_000_000)
    const usdt = await mineUntilDeposit('carol', usdtTx, 'CONFIRMED')
    expect(usdt).toMatchObject({
      asset: { symbol: 'USDT' },
      amount: '12',
      credited: '12',
      address: carol.address,
    })
    // the TRX's block is at or before the USDT's, long scanned by now
    expect((await depositsOf(gql, 'carol')).map((d) => d.txHash)).toEqual([usdtTx])
    expect((await depositsOf(gql, 'carol')).map((d) => d.txHash)).not.toContain(stray)
    expect(await availableOf(gql, 'tron', 'TRX')).toBe('32')
  }, 60_000)
})
