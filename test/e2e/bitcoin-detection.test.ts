import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { paymentEvents, payments, transfers } from '../../src/db/schema/index.ts'
import { bitcoinAddressKey } from '../../src/plugins/bitcoin/address.ts'
import { bitcoinNetworks } from '../../src/plugins/bitcoin/networks.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Bcoin, regtestConfig, startBcoin } from '../helpers/bcoin.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'

let node: Bcoin
let app: TestApp
let key: string
let scanner: ScannerState

beforeAll(async () => {
  node = await startBcoin()
  const config = await regtestConfig(node)
  app = await createTestApp({ config, env: { TOLLGATE_SEED: gatewayMnemonic } })
  key = (await app.merchant('Bitcoin detector')).key
  scanner = newScannerState()
})
afterAll(async () => {
  await app?.close()
  await node?.stop()
})

const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('regtest')!)

async function createPayment(amount: string) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address paymentUri } } ... on UserError { code message } } }`,
    { input: { chain: 'regtest', asset: 'BTC', amount } },
    key,
  )
  expect(res.errors).toBeUndefined()
  return res.data.createPayment.payment as { id: string; address: string; paymentUri: string }
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

describe('Bitcoin payments on a bcoin regtest node', () => {
  test('default: a BTC payment gets a bcrt1q BIP84 address and a BIP21 URI, is seen, then COMPLETED at depth 2', async () => {
    const p = await createPayment('0.0015')
    expect(p.address).toMatch(/^bcrt1q[02-9ac-hj-np-z]{38}$/)
    expect(p.paymentUri).toBe(`bitcoin:${p.address}?amount=0.0015`)
    const driver = app.ctx.chains.get('regtest')!.driver
    expect(driver.chainId).toBe('bip122:0f9188f13cb7b2c71f2a335e3a4fc328')
    // the address is the gateway seed's m/84'/1'/0'/0/i, derived from its xpub
    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, p.id))
    expect(row!.address).toBe(p.address)

    const sent = await node.send(p.address, 150_000n)
    await node.mine(1) // depth 1 of 2
    await sync()
    expect((await payment(p.id)).status).toBe('PROCESSING')
    await node.mine(1) // depth 2
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountReceived).toBe(150_000n)
    expect(done.amountConfirmed).toBe(150_000n)
    expect(await eventTypes(p.id)).toEqual(['payment.created', 'payment.processing', 'payment.completed'])
    const rows = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(rows.map((t) => [t.txHash, t.index, t.amount, t.toAddress, t.status])).toEqual([
      [sent.txid, 0, 150_000n, bitcoinAddressKey(p.address, bitcoinNetworks.regtest), 'confirmed'],
    ])
    const res = await app.gql(
      `query ($id: ID!) { payment(id: $id) { status amountReceived transfers { txHash confirmations } } }`,
      { id: p.id },
      key,
    )
    expect(res.data.payment.status).toBe('COMPLETED')
    expect(res.data.payment.amountReceived).toBe('0.0015')
    expect(res.data.payment.transfers[0].txHash).toBe(sent.txid)
  })

  test('behavior: two outputs of one transaction to the same address sum up (each vout is its own transfer)', async () => {
    const p = await createPayment('0.001')
    const signed = await node.sign([
      { address: p.address, amount: 40_000n },
      { address: p.address, amount: 60_000n },
    ])
    await node.broadcast(signed.raw)
    await node.mine(2)
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountReceived).toBe(100_000n)
    const rows = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(rows.map((t) => t.index).sort()).toEqual([0, 1])
  })

  test('behavior: a deposit dropped by a reorg (invalidateblock + a longer competing chain) moves the payment back', async () => {
    const p = await createPayment('0.002')
    const sent = await node.send(p.address, 200_000n)
    const [first] = await node.mine(1)
    await sync()
    expect((await payment(p.id)).status).toBe('PROCESSING')

    // bcoin rewinds to the parent and empties its mempool: the competing blocks do not hold the deposit
    await node.invalidate(1)
    const competing = await node.mine(2)
    expect(competing).not.toContain(first)
    await sync()
    const back = await payment(p.id)
    expect(back.status).toBe('PENDING')
    expect(back.amountReceived).toBe(0n)
    expect(await eventTypes(p.id)).toEqual(['payment.created', 'payment.processing', 'payment.reverted'])
    const [orphan] = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(orphan?.status).toBe('orphaned')
    expect(orphan?.blockHash).toBe(first!)

    // the same transaction confirmed again on the new chain: credited once, COMPLETED
    await node.broadcast(sent.raw)
    await node.mine(2)
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountConfirmed).toBe(200_000n)
    const rows = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(rows.length).toBe(1)
    expect(rows[0]?.status).toBe('confirmed')
    expect(rows[0]?.blockHash).not.toBe(first!)
  })

  test('behavior: a transfer to an address the gateway does not watch is not recorded', async () => {
    const before = (await app.ctx.db.select().from(transfers)).length
    await node.send(node.faucet.address, 10_000n)
    await node.mine(1)
    await sync()
    expect((await app.ctx.db.select().from(transfers)).length).toBe(before)
  })
})
