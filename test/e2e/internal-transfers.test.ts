import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { type Hex, parseEther } from 'viem'
import { newMnemonic } from '../../src/core/payouts/signer.ts'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { paymentEvents, payments, transfers } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { deployContractWallets } from '../helpers/contract-wallets.ts'

let devnet: Devnet
/** Default options: `auto`, which finds anvil's call traces. */
let traced: Gateway
/** `internalTransfers: 'balance'`, with a seed of its own so its payment addresses are not the other's. */
let balanced: Gateway

type Gateway = Awaited<ReturnType<typeof startGateway>>

async function startGateway(overrides: Record<string, unknown>, seed: string) {
  const app: TestApp = await createTestApp({
    config: testConfig(devnet.url, { finalityDepth: 6, ...overrides }),
    env: { TOLLGATE_SEED: seed },
  })
  const { key } = await app.merchant('Contract wallets')
  const scanner = newScannerState()
  const gateway = {
    app,
    key,
    sync: () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('devnet')!),
    async createPayment(amount: string) {
      const res = await app.gql(
        `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
        { input: { chain: 'devnet', asset: 'ETH', amount } },
        key,
      )
      return res.data.createPayment.payment as { id: string; address: Hex }
    },
    async payment(id: string) {
      const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, id))
      return row!
    },
    transfersOf: (id: string) => app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, id)),
    async events(id: string) {
      const rows = await app.ctx.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, id))
      return rows.sort((a, b) => a.seq - b.seq).map((e) => e.type)
    },
    async mode() {
      const res = await app.gql(`{ chains { name internalTransfers } }`, {}, key)
      return res.data.chains
    },
  }
  return gateway
}

beforeAll(async () => {
  devnet = await startDevnet()
  traced = await startGateway({}, gatewayMnemonic)
  balanced = await startGateway({ internalTransfers: 'balance' }, newMnemonic())
})
afterAll(async () => {
  await traced?.app.close()
  await balanced?.app.close()
  await devnet?.stop()
})

describe('payments from contract wallets, with call traces', () => {
  test('default: a payment paid through a forwarding contract completes at the configured depth, credited once', async () => {
    const p = await traced.createPayment('0.25')
    const w = await deployContractWallets(devnet, { forwardTo: p.address, walletFunds: 0n })
    const paid = await w.payThroughForwarder(parseEther('0.25'))
    await traced.sync()
    expect((await traced.payment(p.id)).status).toBe('PROCESSING')
    await devnet.mine(2) // depth 3
    await traced.sync()
    const done = await traced.payment(p.id)
    expect([done.status, done.amountConfirmed]).toEqual(['COMPLETED', parseEther('0.25')])
    expect(await traced.events(p.id)).toEqual(['payment.created', 'payment.processing', 'payment.completed'])
    const rows = await traced.transfersOf(p.id)
    expect(rows.map((t) => [t.txHash, t.index, t.amount, t.status, t.fromAddress])).toEqual([
      [paid.transactionHash, -2, parseEther('0.25'), 'confirmed', w.forwarder.toLowerCase()],
    ])
    expect(await traced.mode()).toEqual([
      { name: 'devnet', internalTransfers: 'traces:debug_traceBlockByNumber' },
    ])
  })

  test('behavior: half through a forwarder, half from a Safe-like wallet: partially paid, then completed', async () => {
    const p = await traced.createPayment('0.5')
    const w = await deployContractWallets(devnet, { forwardTo: p.address, walletFunds: parseEther('1') })
    await w.payThroughForwarder(parseEther('0.2'))
    await traced.sync()
    expect((await traced.payment(p.id)).status).toBe('PARTIALLY_PAID')
    // value the wallet sends in a call its caller undoes, and in a failed transaction, never counts
    await w.paymentUndoneInSuccessfulTx(p.address, parseEther('0.3'))
    await w.paymentInFailedTx(p.address, parseEther('0.3'))
    await traced.sync()
    expect((await traced.payment(p.id)).amountReceived).toBe(parseEther('0.2'))
    await w.executeFromWallet(p.address, parseEther('0.3'))
    await devnet.mine(2)
    await traced.sync()
    const done = await traced.payment(p.id)
    expect([done.status, done.amountReceived]).toEqual(['COMPLETED', parseEther('0.5')])
  })
})

describe('payments from contract wallets, by balances', () => {
  test('behavior: an arrival found by balance is named by its block: a reorg orphans it, the payment goes back, a new payment completes once', async () => {
    expect(await balanced.mode()).toEqual([{ name: 'devnet', internalTransfers: 'balance' }])
    const p = await balanced.createPayment('0.3')
    const w = await deployContractWallets(devnet, { forwardTo: p.address, walletFunds: 0n })
    const dropped = await w.payThroughForwarder(parseEther('0.3'))
    await balanced.sync()
    expect((await balanced.payment(p.id)).status).toBe('PROCESSING')
    const [seen] = await balanced.transfersOf(p.id)
    const block = await devnet.client.getBlock({ blockNumber: dropped.blockNumber })
    expect([seen?.txHash, seen?.index, seen?.amount, seen?.fromAddress]).toEqual([
      block.hash,
      -2 - Number.parseInt(p.address.slice(2, 9).toLowerCase(), 16),
      parseEther('0.3'),
      null,
    ])

    await devnet.reorg(1)
    await devnet.mine(1)
    await balanced.sync()
    const back = await balanced.payment(p.id)
    expect([back.status, back.amountReceived]).toEqual(['PENDING', 0n])
    expect((await balanced.transfersOf(p.id)).map((t) => t.status)).toEqual(['orphaned'])

    const paid = await w.payThroughForwarder(parseEther('0.3'))
    await devnet.mine(2)
    await balanced.sync()
    const done = await balanced.payment(p.id)
    expect([done.status, done.amountReceived]).toEqual(['COMPLETED', parseEther('0.3')])
    const rows = await balanced.transfersOf(p.id)
    const paidBlock = await devnet.client.getBlock({ blockNumber: paid.blockNumber })
    expect(rows.map((t) => [t.txHash, t.status]).sort()).toEqual(
      [
        [block.hash, 'orphaned'],
        [paidBlock.hash, 'confirmed'],
      ].sort(),
    )
    expect(await balanced.events(p.id)).toEqual([
      'payment.created',
      'payment.processing',
      'payment.reverted',
      'payment.completed', // paid again and buried past the depth before the scanner looked
    ])
  })
})
