import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type AssetInfo, type ChainDriver, chain, defineConfig, kyt } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import type { TronWeb as TronWebClient } from 'tronweb'
import { reconcileChain } from '../../src/core/payouts/reconcile.ts'
import { createSigner } from '../../src/core/payouts/signer.ts'
import { roleAccountPath } from '../../src/core/payouts/wallet-roles.ts'
import { sweeps } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'
import {
  decideHeld,
  heldByList,
  kytFields,
  sdnListAddresses,
  statusOf as statusOfPayment,
  type TestKytList,
  writeKytList,
} from '../helpers/kyt-list.ts'
import { waitFor } from '../helpers/processes.ts'
import { TronWeb } from '../helpers/tronweb.ts'
import { creditOf } from '../helpers/unit.ts'
import { startTronNode, type TronNode, USDT_MAINNET } from '../tron-node/server.ts'

// KYT screening of Tron deposits through the whole gateway: GraphQL API, chain worker (scanner, screening pump,
// sweeps) and the sanctions provider over a list file, against the Tron stand-in node. The senders are wallets
// the test funds and pays from with tronweb; the list holds one of them beside a real SDN TRX entry.

const payerMnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const listedPayer = TronWeb.fromMnemonic(payerMnemonic, "m/44'/195'/7'/0/0")
const cleanPayer = TronWeb.fromMnemonic(payerMnemonic, "m/44'/195'/8'/0/0")
const sdnEntry = sdnListAddresses('TRX')[0] as string

let node: TronNode
let app: TestApp
let key: string
let list: TestKytList
let tw: TronWebClient
let driver: ChainDriver
let stopWorkers: (() => Promise<void>) | undefined

beforeAll(async () => {
  node = await startTronNode()
  tw = new TronWeb({ fullHost: node.url })
  for (const payer of [listedPayer, cleanPayer]) {
    node.fund(payer.address, 10_000_000_000n)
    node.mint(USDT_MAINNET, payer.address, 1_000_000_000n)
  }
  list = writeKytList('TRX', [sdnEntry, listedPayer.address], '2025-03-14')
  const config = defineConfig({
    chains: {
      tron: chain(
        () => import('../../src/plugins/tron/index.ts'),
        {
          fullHosts: [node.url],
          tokens: [{ symbol: 'USDT', address: USDT_MAINNET, decimals: 6 }],
          confirmations: 3,
          finalityDepth: 6,
          timeoutMs: 2000,
          headPollMs: 100,
          funding: 'burn',
        },
        { startHeight: node.head() + 1, scanIntervalMs: 300, payouts: { intervalMs: 200 } },
      ),
    },
    kyt: {
      sanctions: kyt(() => import('../../src/plugins/kyt-sanctions/index.ts'), {
        lists: [{ asset: 'TRX', file: list.file }],
      }),
    },
  })
  app = await createTestApp({ config, env: { TOLLGATE_SEED: gatewayMnemonic } })
  key = (await app.merchant('Tron KYT shop')).key
  driver = app.ctx.chains.get('tron')!.driver
  // the gas tank pays what sweeps burn; the treasury exists before the first sweep, as an operator's hot wallet
  // does (two native sweeps built in one pass would each price creating it, and only the first pays that)
  node.fund(walletOf('gas'), 500_000_000n)
  node.fund(walletOf('treasury'), 1_000_000n)
  stopWorkers = await startWorkers(app.ctx)
}, 60_000)

afterAll(async () => {
  await stopWorkers?.()
  await app?.close()
  await node?.stop()
  list?.remove()
})

/** The gateway's own wallet of a role (account 0), derived from its seed as the gateway does. */
function walletOf(role: 'treasury' | 'gas') {
  const accountPath = roleAccountPath("m/44'/195'/0'", role)
  return driver.deriveAddress({ xpub: createSigner(gatewayMnemonic).xpub(accountPath), index: 0 }).address
}

const gql = (query: string, variables: Record<string, unknown> = {}) => app.gql(query, variables, key)

type Payer = typeof listedPayer

async function broadcast(payer: Payer, tx: any): Promise<string> {
  const signed = await tw.trx.sign(tx, payer.privateKey.slice(2))
  const res = await tw.trx.sendRawTransaction(signed)
  expect(res.result).toBe(true)
  return signed.txID as string
}
const payTrx = async (payer: Payer, to: string, sun: number) =>
  broadcast(payer, await tw.transactionBuilder.sendTrx(to, sun, payer.address))
async function payUsdt(payer: Payer, to: string, units: number) {
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
  return broadcast(payer, transaction)
}

/** Produces a block at a time until `check` passes: deposits reach their depth, sweeps get mined. */
function mineUntil<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000) {
  let last = 0
  return waitFor(
    what,
    async () => {
      const value = await check()
      if (value) return value
      if (Date.now() - last > 100) {
        last = Date.now()
        node.mine(1)
      }
      return undefined
    },
    timeoutMs,
  )
}

async function createPayment(asset: 'TRX' | 'USDT', amount: string) {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
    { input: { chain: 'tron', asset, amount } },
  )
  expect(res.errors).toBeUndefined()
  return res.data.createPayment.payment as { id: string; address: string }
}

async function paymentView(id: string) {
  const res = await gql(`query ($id: ID!) { payment(id: $id) { id status amountReceived ${kytFields} } }`, {
    id,
  })
  expect(res.errors).toBeUndefined()
  return res.data.payment
}

const statusOf = (id: string) => statusOfPayment(app.ctx.db, id)

/** What the ledger credited the merchant for one payment, in base units. */
const creditedFor = (paymentId: string) => creditOf(app.ctx.db, paymentId)

async function available(symbol: 'TRX' | 'USDT'): Promise<string> {
  const res = await gql('{ balances { chain asset { symbol } available } }')
  const line = res.data.balances.find(
    (b: { chain: string; asset: { symbol: string } }) => b.chain === 'tron' && b.asset.symbol === symbol,
  )
  return line?.available ?? '0'
}

const sweepsOf = (paymentId: string) =>
  app.ctx.db.select({ status: sweeps.status }).from(sweeps).where(eq(sweeps.paymentId, paymentId))

const trx = () => driver.nativeAsset as AssetInfo
const sun = 25_000_000
let held: { id: string; address: string; txid: string }
let clean: { id: string; address: string }

describe('KYT screening of Tron deposits (Tron stand-in node, sanctions list)', () => {
  test('default: a TRX payment from a listed owner is HELD and uncredited, its screening naming the list version and the address; the same amount from a clean owner completes and is credited', async () => {
    const loaded = app.logs.find((l) => l.msg === 'sanctions list loaded')
    expect(loaded).toMatchObject({ list: 'TRX', version: list.version, entries: 2, skipped: 0 })

    const fromListed = await createPayment('TRX', '25')
    const fromClean = await createPayment('TRX', '25')
    const listedTx = await payTrx(listedPayer, fromListed.address, sun)
    await payTrx(cleanPayer, fromClean.address, sun)
    held = { ...fromListed, txid: listedTx }
    clean = fromClean

    await mineUntil(
      'the clean payment completed and the listed one held',
      async () =>
        (await statusOf(fromClean.id)) === 'COMPLETED' && (await statusOf(fromListed.id)) === 'HELD',
    )

    const heldView = await paymentView(fromListed.id)
    expect(heldView.status).toBe('HELD')
    expect(heldView.amountReceived).toBe('25')
    expect(heldView.kyt).toEqual(heldByList(list, 'TRX', listedPayer.address, listedTx))
    expect(list.version).toBe(`TRX 2025-03-14 sha256:${list.sha256.slice(0, 16)}`)
    expect(await creditedFor(fromListed.id)).toBe(0n)

    const cleanView = await paymentView(fromClean.id)
    expect(cleanView.status).toBe('COMPLETED')
    expect(cleanView.kyt).toMatchObject([
      {
        state: 'CLEAR',
        verdict: 'ALLOW',
        reason: null,
        versions: `sanctions=${list.version}`,
        addresses: [cleanPayer.address],
        answers: [{ provider: 'sanctions', address: cleanPayer.address, verdict: 'ALLOW', reasons: [] }],
      },
    ])
    expect(await creditedFor(fromClean.id)).toBe(BigInt(sun))
    expect(await available('TRX')).toBe('25')
  }, 60_000)

  test('behavior: an admin releases a held payment and it completes, credited and swept; another held one rejected ends REJECTED, never credited and never swept', async () => {
    const toReject = await createPayment('TRX', '25')
    await payTrx(listedPayer, toReject.address, sun)
    await mineUntil('the second listed payment held', async () => (await statusOf(toReject.id)) === 'HELD')

    const rejected = await decideHeld(gql, 'rejectPayment', toReject.id, 'owner on the sanctions list')
    expect(rejected).toMatchObject({
      status: 'REJECTED',
      kyt: [
        { state: 'REJECTED', verdict: 'BLOCK', reason: 'KYT_BLOCKED', note: 'owner on the sanctions list' },
      ],
    })
    expect(rejected.kyt[0].decidedBy).toMatch(/^key_/)

    const released = await decideHeld(
      gql,
      'releasePayment',
      held.id,
      'customer identified; funds not from the listed entity',
    )
    expect(released).toMatchObject({
      status: 'COMPLETED',
      kyt: [{ state: 'RELEASED', verdict: 'BLOCK', reason: 'KYT_BLOCKED' }],
    })
    expect(await creditedFor(held.id)).toBe(BigInt(sun))
    expect(await available('TRX')).toBe('50')

    // the released and the clean deposits are swept into the treasury; the rejected one stays where it landed
    await mineUntil('the released and the clean deposits swept', async () => {
      const done = [...(await sweepsOf(held.id)), ...(await sweepsOf(clean.id))]
      return done.length === 2 && done.every((s) => s.status === 'done')
    })
    expect(await driver.payouts!.balance(held.address, trx())).toBe(0n)
    expect(await driver.payouts!.balance(clean.address, trx())).toBe(0n)
    expect(await sweepsOf(toReject.id)).toEqual([])
    expect(await driver.payouts!.balance(toReject.address, trx())).toBe(BigInt(sun))
    expect(await statusOf(toReject.id)).toBe('REJECTED')
    expect(await creditedFor(toReject.id)).toBe(0n)
    expect(await available('TRX')).toBe('50')
  }, 60_000)

  test('behavior: a USDT (TRC-20) payment from a listed owner is held; a clean one completes', async () => {
    const fromListed = await createPayment('USDT', '40')
    const fromClean = await createPayment('USDT', '40')
    const txid = await payUsdt(listedPayer, fromListed.address, 40_000_000)
    await payUsdt(cleanPayer, fromClean.address, 40_000_000)
    await mineUntil(
      'the listed USDT payment held and the clean one completed',
      async () =>
        (await statusOf(fromListed.id)) === 'HELD' && (await statusOf(fromClean.id)) === 'COMPLETED',
    )

    const view = await paymentView(fromListed.id)
    expect(view.kyt).toMatchObject([
      {
        state: 'HELD',
        verdict: 'BLOCK',
        reason: 'KYT_BLOCKED',
        txHash: txid,
        versions: `sanctions=${list.version}`,
        // the caller and the token's `from` are one address, screened once
        addresses: [listedPayer.address],
        answers: [{ provider: 'sanctions', address: listedPayer.address, verdict: 'BLOCK' }],
      },
    ])
    expect(await creditedFor(fromListed.id)).toBe(0n)
    expect(await creditedFor(fromClean.id)).toBe(40_000_000n)
    expect(await available('USDT')).toBe('40')
  }, 60_000)

  // Funds screening allowed that cover the payment complete it beside a held deposit; the rejected part stays at
  // the address (never swept) and is not the merchant's, so the reconciliation compares the rest with the books.
  test('behavior: a clean USDT deposit credited beside a rejected one is accounted for: the books and the chain agree', async () => {
    const p = await createPayment('USDT', '30')
    await payUsdt(listedPayer, p.address, 10_000_000)
    await mineUntil('the listed part held', async () => (await statusOf(p.id)) === 'HELD')
    await payUsdt(cleanPayer, p.address, 30_000_000)
    await mineUntil('the clean part credited', async () => (await creditedFor(p.id)) === 30_000_000n)
    // the clean deposit alone covers the payment: it completes on it, the listed part waiting for the review
    expect(await statusOf(p.id)).toBe('COMPLETED')
    const rejected = await gql(
      `mutation ($id: ID!) { rejectPayment(id: $id, note: "part of it came from a listed owner") {
        ... on Payment { status } ... on UserError { code message } } }`,
      { id: p.id },
    )
    expect(rejected.data.rejectPayment).toEqual({ status: 'COMPLETED' })
    expect(await creditedFor(p.id)).toBe(30_000_000n)
    // rejected funds stay at the address for a refund: the address is never swept, credited part included
    expect(await app.ctx.db.select().from(sweeps).where(eq(sweeps.paymentId, p.id))).toEqual([])

    // every other sweep finished, so nothing is on its way between a deposit address and the treasury
    await mineUntil('no sweep under way', async () => {
      const all = await app.ctx.db.select({ status: sweeps.status }).from(sweeps)
      return all.every((s) => s.status === 'done')
    })
    const report = await reconcileChain(app.ctx, app.ctx.chains.get('tron')!, { bookFunding: false })
    const usdt = driver.assets.find((a) => a.symbol === 'USDT')!
    const deposits = report.lines.find((l) => l.role === 'deposits' && l.asset === usdt.id)
    expect(deposits?.difference).toBe(0n)
  }, 60_000)
})
