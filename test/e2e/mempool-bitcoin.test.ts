import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { statusText } from '../../src/checkout/messages.ts'
import { loadCheckoutView } from '../../src/checkout/view.ts'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { paymentEvents, payments, transfers } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Bcoin, regtestConfig, startBcoin } from '../helpers/bcoin.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { openSocket } from '../helpers/live-client.ts'
import { spawnApi, spawnCli, spawnWorker, waitFor } from '../helpers/processes.ts'

// On a bcoin regtest node: a broadcast payment shows before any block, completes at its depth once mined; an RBF
// replacement paying elsewhere and a transaction that leaves the mempool are reported and the payment waits again.
// bcoin accepts no conflicting transaction, so a replacement is staged as a replacing node ends up: the original
// gone from the mempool (`clearMempool`), the conflict in it.

let node: Bcoin
let app: TestApp
let key: string
let scanner: ScannerState

beforeAll(async () => {
  node = await startBcoin()
  const config = await regtestConfig(node)
  app = await createTestApp({ config, env: { TOLLGATE_SEED: gatewayMnemonic } })
  key = (await app.merchant('Mempool shop')).key
  scanner = newScannerState()
}, 60_000)
afterAll(async () => {
  await app?.close()
  await node?.stop()
})

const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('regtest')!)

async function createPayment(amount: string) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address clientSecret } } } }`,
    { input: { chain: 'regtest', asset: 'BTC', amount } },
    key,
  )
  return res.data.createPayment.payment as { id: string; address: string; clientSecret: string }
}
const view = (id: string) =>
  app.gql(
    `query ($id: ID!) { payment(id: $id) { status amountReceived amountPending confirmations droppedDeposit
       transfers { txHash status fate fateBy } } }`,
    { id },
    key,
  )
const eventTypes = async (id: string) =>
  (await app.ctx.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, id)))
    .sort((a, b) => a.seq - b.seq)
    .map((e) => e.type)

describe('Bitcoin payments seen in the mempool', () => {
  test('default: broadcast, it is PROCESSING at 0 confirmations before any block; mined, it completes at depth 2', async () => {
    const p = await createPayment('0.001')
    const height = await node.height()
    const paid = await node.send(p.address, 100_000n)
    await sync()
    expect(await node.height()).toBe(height)
    const shown = await view(p.id)
    expect(shown.data.payment).toMatchObject({
      status: 'PROCESSING',
      amountReceived: '0',
      amountPending: '0.001',
      confirmations: 0,
      transfers: [{ txHash: paid.txid, status: 'pending', fate: null }],
    })
    const checkout = await loadCheckoutView(app.ctx, p.id, p.clientSecret)
    expect(statusText(checkout!)).toBe('Payment received, waiting for confirmation')
    expect(await eventTypes(p.id)).toEqual(['payment.created', 'payment.detected', 'payment.processing'])
    // no credit before the depth
    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, p.id))
    expect(row?.amountConfirmed).toBe(0n)

    await node.mine(1)
    await sync()
    expect((await view(p.id)).data.payment).toMatchObject({
      status: 'PROCESSING',
      amountReceived: '0.001',
      amountPending: '0',
      confirmations: 1,
    })
    await node.mine(1)
    await sync()
    expect((await view(p.id)).data.payment.status).toBe('COMPLETED')
    const stored = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(stored.map((t) => [t.txHash, t.status])).toEqual([[paid.txid, 'confirmed']])
  })

  test('behavior: replaced by RBF to another address, it is double-spent: the payment waits again and the checkout says so', async () => {
    const p = await createPayment('0.002')
    const coin = await node.takeCoin()
    const first = node.signSpend(coin, [{ address: p.address, amount: 200_000n }], {
      rbf: true,
      fee: 10_000n,
    })
    await node.broadcast(first.raw)
    await sync()
    expect((await view(p.id)).data.payment.status).toBe('PROCESSING')
    // bcoin relays no replacement: empty its mempool, then broadcast the conflict, as a replacing node ends up
    await node.clearMempool()
    const elsewhere = node.signSpend(coin, [{ address: node.faucet.address, amount: 200_000n }], {
      rbf: true,
      fee: 30_000n,
    })
    await node.broadcast(elsewhere.raw)
    await sync()
    const after = (await view(p.id)).data.payment
    expect(after).toMatchObject({
      status: 'PENDING',
      amountPending: '0',
      droppedDeposit: 'double_spent',
      transfers: [{ txHash: first.txid, status: 'dropped', fate: 'double_spent', fateBy: elsewhere.txid }],
    })
    expect(await eventTypes(p.id)).toEqual([
      'payment.created',
      'payment.detected',
      'payment.processing',
      'payment.double_spent',
      'payment.reverted',
    ])
    const checkout = await loadCheckoutView(app.ctx, p.id, p.clientSecret)
    const page = await (
      await app.fetch(new Request(`http://tollgate.test/pay/${p.id}?secret=${p.clientSecret}`))
    ).text()
    expect(checkout?.droppedDeposit).toBe('double_spent')
    expect(page).toContain('double-spent')
  })

  test('behavior: replaced by RBF to the same address, the bump is shown and the payment stays PROCESSING', async () => {
    const p = await createPayment('0.003')
    const coin = await node.takeCoin()
    const first = node.signSpend(coin, [{ address: p.address, amount: 300_000n }], {
      rbf: true,
      fee: 10_000n,
    })
    await node.broadcast(first.raw)
    await sync()
    await node.clearMempool()
    const bump = node.signSpend(coin, [{ address: p.address, amount: 300_000n }], { rbf: true, fee: 40_000n })
    await node.broadcast(bump.raw)
    await sync()
    const after = (await view(p.id)).data.payment
    expect(after.status).toBe('PROCESSING')
    expect(after.transfers.map((t: any) => [t.txHash, t.status, t.fate])).toEqual([
      [first.txid, 'dropped', 'replaced'],
      [bump.txid, 'pending', null],
    ])
    expect(await eventTypes(p.id)).toContain('payment.replaced')
  })

  test('behavior: a transaction that leaves the mempool unmined is reported dropped', async () => {
    const p = await createPayment('0.004')
    const paid = await node.send(p.address, 400_000n)
    await sync()
    expect((await view(p.id)).data.payment.status).toBe('PROCESSING')
    await node.clearMempool()
    await sync()
    const after = (await view(p.id)).data.payment
    expect(after).toMatchObject({ status: 'PENDING', droppedDeposit: 'dropped' })
    expect(after.transfers).toEqual([{ txHash: paid.txid, status: 'dropped', fate: 'dropped', fateBy: null }])
    expect(await eventTypes(p.id)).toContain('payment.dropped')
  })
})

describe('over graphql-ws, with the API and the worker as their own processes', () => {
  test('default: a broadcast payment reaches a subscriber as PROCESSING before any block is mined', async () => {
    const db = await createTestDatabase()
    const env = {
      DATABASE_URL: db.url,
      REDIS_PREFIX: `mempool-${crypto.randomUUID().slice(0, 8)}`,
      TOLLGATE_SEED: gatewayMnemonic,
      TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/bitcoin.plugins.config.ts',
      TEST_BTC_RPC_URL: node.url,
      TEST_BTC_START: String(await node.height()),
      LOG_LEVEL: 'info',
    }
    const created = spawnCli(['merchant', 'create', '--name', 'Live mempool', '--json'], env)
    await created.proc.exited
    const apiKey = JSON.parse(created.output().trim().split('\n').at(-1)!).apiKey as string
    const [api, worker] = await Promise.all([spawnApi(env), spawnWorker(env)])
    try {
      const res = await fetch(`${api.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({
          query: `mutation { createPayment(input: {chain: "regtest", asset: "BTC", amount: "0.005"}) { ... on CreatePaymentPayload { payment { id address clientSecret } } } }`,
        }),
      })
      const p = ((await res.json()) as any).data.createPayment.payment
      const socket = openSocket(api.wsUrl)
      await socket.ready
      const stream = socket.subscribe(
        'subscription ($id: ID!, $s: String!) { paymentUpdated(id: $id, clientSecret: $s) { status confirmations amountPending } }',
        { id: p.id, s: p.clientSecret },
      )
      await stream.untilMessages(1)
      const height = await node.height()
      await node.send(p.address, 500_000n)
      await waitFor('PROCESSING over graphql-ws', () =>
        stream.data().some((d) => d.paymentUpdated.status === 'PROCESSING'),
      )
      expect(await node.height()).toBe(height)
      expect(stream.data().at(-1).paymentUpdated).toEqual({
        status: 'PROCESSING',
        confirmations: 0,
        amountPending: '0.005',
      })
      socket.close()
    } finally {
      await Promise.all([api.stop(), worker.stop()])
      await db.drop()
    }
  }, 60_000)
})
