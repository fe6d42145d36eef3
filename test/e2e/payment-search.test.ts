import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { parseEther } from 'viem'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'

// Finding payments by deposit address and by the transaction that paid them, through the API on real Postgres
// with anvil as the chain: every letter case of an EVM address and hash, the status filter on top, another
// merchant's payments never found, text no payment can hold answering nothing, and the operator's explorer links.

let devnet: Devnet
let app: TestApp
let shop: { id: string; key: string }
let other: { id: string; key: string }
/** Paid in full on chain (COMPLETED), and its paying transaction. */
let paid: { id: string; address: string; txHash: string }
/** Paid by another transaction. */
let second: { id: string; address: string; txHash: string }
/** Never paid (PENDING). */
let pending: { id: string; address: string }
/** The other merchant's paid payment. */
let foreign: { id: string; address: string; txHash: string }

const byFilter = `query ($filter: PaymentFilter) {
  payments(first: 20, filter: $filter) { edges { node { id } } }
}`

async function createPayment(key: string, orderId: string): Promise<{ id: string; address: string }> {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', amount: '0.5', orderId } },
    key,
  )
  const payment = res.data?.createPayment?.payment
  if (!payment) throw new Error(`createPayment: ${JSON.stringify(res)}`)
  return payment
}

async function pay(payment: { id: string; address: string }) {
  const receipt = await devnet.payNative(payment.address, parseEther('0.5'))
  return { ...payment, txHash: receipt.transactionHash }
}

async function found(filter: Record<string, unknown>, key = shop.key): Promise<string[]> {
  const res = await app.gql(byFilter, { filter }, key)
  expect(res.errors).toBeUndefined()
  return res.data.payments.edges.map((e: { node: { id: string } }) => e.node.id)
}

beforeAll(async () => {
  devnet = await startDevnet()
  app = await createTestApp({
    config: testConfig(
      devnet.url,
      { confirmations: 1 },
      {
        sweeps: { enabled: false },
        explorer: {
          tx: 'https://explorer.example/tx/{tx}',
          address: 'https://explorer.example/address/{address}?tab=txs',
        },
      },
    ),
    env: { TOLLGATE_SEED: gatewayMnemonic },
  })
  shop = await app.merchant('Search shop')
  other = await app.merchant('Other shop')
  paid = await pay(await createPayment(shop.key, 'order-paid'))
  second = await pay(await createPayment(shop.key, 'order-second'))
  foreign = await pay(await createPayment(other.key, 'order-foreign'))
  pending = await createPayment(shop.key, 'order-pending')
  await devnet.mine(2)
  await syncChain(
    { db: app.ctx.db, log: app.ctx.log, scanner: newScannerState() },
    app.ctx.chains.get('devnet')!,
  )
}, 60_000)

afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

describe('payments(filter: { address })', () => {
  test('finds the payment by its deposit address in any letter case, nothing else', async () => {
    expect(paid.address).toMatch(/[A-F]/) // stored checksummed
    expect(await found({ address: paid.address })).toEqual([paid.id])
    expect(await found({ address: paid.address.toLowerCase() })).toEqual([paid.id])
    expect(await found({ address: `0x${paid.address.slice(2).toUpperCase()}` })).toEqual([paid.id])
    expect(await found({ address: pending.address })).toEqual([pending.id])
  })

  test('combines with the status filter', async () => {
    expect(await found({ address: paid.address, status: 'COMPLETED' })).toEqual([paid.id])
    expect(await found({ address: paid.address, status: 'PENDING' })).toEqual([])
  })

  test("never finds another merchant's payment", async () => {
    expect(await found({ address: foreign.address })).toEqual([])
    expect(await found({ address: paid.address }, other.key)).toEqual([])
    expect(await found({ address: foreign.address }, other.key)).toEqual([foreign.id])
  })
})

describe('payments(filter: { txHash })', () => {
  test('finds the payment a transaction paid, in any letter case', async () => {
    expect(await found({ txHash: paid.txHash })).toEqual([paid.id])
    expect(await found({ txHash: second.txHash })).toEqual([second.id])
    expect(await found({ txHash: `0x${paid.txHash.slice(2).toUpperCase()}` })).toEqual([paid.id])
    expect(await found({ txHash: paid.txHash, status: 'COMPLETED' })).toEqual([paid.id])
    expect(await found({ txHash: paid.txHash, status: 'EXPIRED' })).toEqual([])
  })

  test("never finds another merchant's payment", async () => {
    expect(await found({ txHash: foreign.txHash })).toEqual([])
    expect(await found({ txHash: paid.txHash }, other.key)).toEqual([])
  })
})

describe('text no payment can hold', () => {
  const hostile = ['x'.repeat(10_000), 'a\u0000b', '\u0000', "<script>alert('x')</script>", 'line\nbreak']

  test('matches nothing and fails nothing, in every text filter and in payment(id)', async () => {
    for (const text of hostile) {
      for (const field of ['address', 'txHash', 'orderId', 'chain'])
        expect(await found({ [field]: text })).toEqual([])
      const res = await app.gql('query ($id: ID!) { payment(id: $id) { id } }', { id: text }, shop.key)
      expect(res).toEqual({ data: { payment: null } })
    }
  })

  test('the search the console sends, every alternative in one request, answers nothing for them', async () => {
    for (const text of hostile) {
      const res = await app.gql(
        `query ($id: ID!, $text: String!) {
          payment(id: $id) { id }
          byOrder: payments(first: 20, filter: { orderId: $text }) { edges { node { id } } }
          byAddress: payments(first: 20, filter: { address: $text }) { edges { node { id } } }
          byTx: payments(first: 20, filter: { txHash: $text }) { edges { node { id } } }
        }`,
        { id: text, text },
        shop.key,
      )
      expect(res).toEqual({
        data: {
          payment: null,
          byOrder: { edges: [] },
          byAddress: { edges: [] },
          byTx: { edges: [] },
        },
      })
    }
  })
})

describe('explorer links', () => {
  test("a transfer's transaction and a payment's address on the configured explorer; the chain's templates", async () => {
    const res = await app.gql(
      `query ($id: ID!) {
        payment(id: $id) { addressExplorerUrl transfers { txHash explorerUrl } }
        chains { name explorer { tx address } }
      }`,
      { id: paid.id },
      shop.key,
    )
    expect(res.errors).toBeUndefined()
    expect(res.data.payment).toEqual({
      addressExplorerUrl: `https://explorer.example/address/${paid.address}?tab=txs`,
      transfers: [{ txHash: paid.txHash, explorerUrl: `https://explorer.example/tx/${paid.txHash}` }],
    })
    expect(res.data.chains).toEqual([
      {
        name: 'devnet',
        explorer: {
          tx: 'https://explorer.example/tx/{tx}',
          address: 'https://explorer.example/address/{address}?tab=txs',
        },
      },
    ])
  })
})
