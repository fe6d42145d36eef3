import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chain, defineConfig } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import type { TronWeb as TronWebClient } from 'tronweb'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { paymentEvents, payments, transfers } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { TronWeb } from '../helpers/tronweb.ts'
import { startTronNode, type TronNode, USDT_MAINNET } from '../tron-node/server.ts'

const payerMnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const payer = TronWeb.fromMnemonic(payerMnemonic, "m/44'/195'/5'/0/0")
const payerKey = payer.privateKey.slice(2)

let node: TronNode
let app: TestApp
let key: string
let scanner: ScannerState
let tw: TronWebClient

beforeAll(async () => {
  node = await startTronNode()
  node.fund(payer.address, 10_000_000_000n)
  node.mint(USDT_MAINNET, payer.address, 1_000_000_000n)
  tw = new TronWeb({ fullHost: node.url })
  app = await createTestApp({
    config: defineConfig({
      chains: {
        tron: chain(
          () => import('../../src/plugins/tron/index.ts'),
          {
            fullHosts: [node.url],
            tokens: [{ symbol: 'USDT', address: USDT_MAINNET, decimals: 6 }],
            confirmations: 3,
            finalityDepth: 6,
            timeoutMs: 1000,
            headPollMs: 100,
          },
          { startHeight: node.head() + 1, scanIntervalMs: 500 },
        ),
      },
    }),
  })
  key = (await app.merchant('Tron detector')).key
  scanner = newScannerState()
})
afterAll(async () => {
  await app.close()
  await node.stop()
})

const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('tron')!)

async function createPayment(asset: string, amount: string) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address paymentUri } } ... on UserError { code message } } }`,
    { input: { chain: 'tron', asset, amount } },
    key,
  )
  expect(res.errors).toBeUndefined()
  return res.data.createPayment.payment as { id: string; address: string; paymentUri?: string }
}
async function payment(id: string) {
  const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, id))
  return row!
}
async function eventTypes(id: string) {
  return (await app.ctx.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, id)))
    .sort((a, b) => a.seq - b.seq)
    .map((e) => e.type)
}
async function broadcast(tx: any) {
  const signed = await tw.trx.sign(tx, payerKey)
  const res = await tw.trx.sendRawTransaction(signed)
  expect(res.result).toBe(true)
  return signed.txID as string
}
const payTrx = async (to: string, sun: number) =>
  broadcast(await tw.transactionBuilder.sendTrx(to, sun, payer.address))
async function payUsdt(to: string, units: number, feeLimit = 100_000_000) {
  const { transaction } = await tw.transactionBuilder.triggerSmartContract(
    USDT_MAINNET,
    'transfer(address,uint256)',
    { feeLimit },
    [
      { type: 'address', value: to },
      { type: 'uint256', value: units },
    ],
    payer.address,
  )
  return broadcast(transaction)
}

describe('Tron detection through the gateway', () => {
  test('default: a TRX payment is seen, then COMPLETED at depth 3', async () => {
    const p = await createPayment('TRX', '12.5')
    expect(p.address).toMatch(/^T[1-9A-HJ-NP-Za-km-z]{33}$/)
    const txID = await payTrx(p.address, 12_500_000)
    node.mine()
    await sync()
    expect((await payment(p.id)).status).toBe('PROCESSING')
    node.mine(1) // depth 2
    await sync()
    expect((await payment(p.id)).status).toBe('PROCESSING')
    node.mine(1) // depth 3
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountConfirmed).toBe(12_500_000n)
    expect(await eventTypes(p.id)).toEqual(['payment.created', 'payment.processing', 'payment.completed'])
    const rows = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(rows.map((r) => [r.txHash, r.index, r.amount])).toEqual([[txID, -1, 12_500_000n]])
  })

  test('default: a USDT payment completes from its Transfer log', async () => {
    const p = await createPayment('USDT', '25')
    const txID = await payUsdt(p.address, 25_000_000)
    node.mine(3)
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountReceived).toBe(25_000_000n)
    const rows = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(rows.map((r) => [r.txHash, r.index, r.amount])).toEqual([[txID, 0, 25_000_000n]])
  })

  test('behavior: a USDT transfer that runs out of energy never credits', async () => {
    const p = await createPayment('USDT', '5')
    const txID = await payUsdt(p.address, 5_000_000, 1_000)
    node.mine(4)
    const info = await tw.trx.getUnconfirmedTransactionInfo(txID)
    expect(info.receipt.result).toBe('OUT_OF_ENERGY')
    expect((info as any).result).toBe('FAILED')
    await sync()
    expect((await payment(p.id)).status).toBe('PENDING')
    expect(await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))).toEqual([])
    // the same payment is then paid properly and completes
    await payUsdt(p.address, 5_000_000)
    node.mine(3)
    await sync()
    expect((await payment(p.id)).status).toBe('COMPLETED')
  })
})
