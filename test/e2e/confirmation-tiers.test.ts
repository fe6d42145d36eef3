import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { parseEther } from 'viem'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { auditLog, merchants, payments } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'

// One anvil chain whose operator asks 1, 3 or 6 confirmations by amount: payments carry the step their amount
// falls in and complete at that depth; merchants choose within the operator's bounds through the API, and
// everything outside them is refused with nothing stored.

let devnet: Devnet
let app: TestApp
let merchant: { id: string; key: string }
let scanner: ScannerState

beforeAll(async () => {
  devnet = await startDevnet()
  app = await createTestApp({
    config: testConfig(
      devnet.url,
      { finalityDepth: 6 },
      {
        amountTiers: {
          ETH: {
            tiers: [
              { below: '0.01', confirmations: 1 },
              { below: '1', confirmations: 3 },
            ],
            above: 6,
            bounds: { min: 0, max: 6 },
          },
        },
      },
    ),
    env: { TOLLGATE_SEED: gatewayMnemonic },
  })
  merchant = await app.merchant('Tiered')
  scanner = newScannerState()
})
afterAll(async () => {
  await app.close()
  await devnet.stop()
})

const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('devnet')!)

async function createPayment(asset: string, amount: string, key = merchant.key) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address confirmationsRequired } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset, amount } },
    key,
  )
  return res.data.createPayment.payment as { id: string; address: string; confirmationsRequired: number }
}

const setPolicy = (input: Record<string, unknown>, key = merchant.key) =>
  app.gql(
    `mutation ($input: SetConfirmationPolicyInput!) { setConfirmationPolicy(input: $input) {
      ... on ConfirmationPolicy { source above tiers { below confirmations } bounds { min max } }
      ... on UserError { code field message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', ...input } },
    key,
  )

const status = async (id: string) =>
  (await app.ctx.db.select({ s: payments.status }).from(payments).where(eq(payments.id, id)))[0]?.s
const storedPolicy = async (id = merchant.id) =>
  (
    await app.ctx.db.select({ p: merchants.confirmationPolicy }).from(merchants).where(eq(merchants.id, id))
  )[0]?.p
const audits = async (id = merchant.id) =>
  app.ctx.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.merchantId, id), eq(auditLog.action, 'confirmations.policy_set')))

describe('confirmations by amount on one chain', () => {
  test('behavior: 0.005, 0.5 and 2 ETH need 1, 3 and 6 confirmations; the 0.5 ETH payment completes only at depth 3', async () => {
    const small = await createPayment('ETH', '0.005')
    const middle = await createPayment('ETH', '0.5')
    const large = await createPayment('ETH', '2')
    expect([small, middle, large].map((p) => p.confirmationsRequired)).toEqual([1, 3, 6])
    // an asset without a ladder keeps the chain's confirmations for every amount
    expect((await createPayment('USDT', '1000000')).confirmationsRequired).toBe(3)

    await devnet.payNative(middle.address, parseEther('0.5')) // mined: depth 1
    await sync()
    expect(await status(middle.id)).toBe('PROCESSING')
    await devnet.mine(1) // depth 2
    await sync()
    expect(await status(middle.id)).toBe('PROCESSING')
    await devnet.mine(1) // depth 3
    await sync()
    expect(await status(middle.id)).toBe('COMPLETED')

    const read = await app.gql(
      `query ($id: ID!) { payment(id: $id) { status confirmations confirmationsRequired } }`,
      { id: middle.id },
      merchant.key,
    )
    expect(read.data.payment).toEqual({ status: 'COMPLETED', confirmations: 3, confirmationsRequired: 3 })
  })

  test('behavior: at depth 1 the 0.005 ETH payment completes while a 2 ETH one paid alongside still waits', async () => {
    const small = await createPayment('ETH', '0.005')
    const large = await createPayment('ETH', '2')
    await devnet.payNative(small.address, parseEther('0.005'))
    await devnet.payNative(large.address, parseEther('2'))
    await sync()
    expect(await status(small.id)).toBe('COMPLETED')
    expect(await status(large.id)).toBe('PROCESSING')
  })

  test('behavior: the operator’s ladder is what confirmationPolicies shows', async () => {
    const res = await app.gql(
      `{ confirmationPolicies { chain asset { symbol } source tiers { below confirmations } above currency bounds { min max } } }`,
      {},
      merchant.key,
    )
    const eth = res.data.confirmationPolicies.find(
      (p: { asset: { symbol: string } }) => p.asset.symbol === 'ETH',
    )
    expect(eth).toEqual({
      chain: 'devnet',
      asset: { symbol: 'ETH' },
      source: 'OPERATOR',
      tiers: [
        { below: '0.01', confirmations: 1 },
        { below: '1', confirmations: 3 },
      ],
      above: 6,
      currency: null,
      bounds: { min: 0, max: 6 },
    })
  })
})

describe('a merchant’s choice', () => {
  test('behavior: a fixed 0 (the operator allows it) is stored, audited, and new payments carry 0', async () => {
    const res = await setPolicy({ confirmations: 0 })
    expect(res.data.setConfirmationPolicy).toMatchObject({ source: 'MERCHANT', above: 0, tiers: [] })
    expect((await createPayment('ETH', '2')).confirmationsRequired).toBe(0)
    const [entry] = await audits()
    expect(entry?.actor).not.toBe('cli')
    expect(entry?.data).toMatchObject({ chain: 'devnet', choice: { confirmations: 0 }, previous: null })
  })

  test('behavior: the merchant’s own ladder, then cleared back to the operator’s', async () => {
    const res = await setPolicy({ tiers: [{ below: '0.1', confirmations: 2 }], above: 4 })
    expect(res.data.setConfirmationPolicy.tiers).toEqual([{ below: '0.1', confirmations: 2 }])
    expect((await createPayment('ETH', '0.05')).confirmationsRequired).toBe(2)
    expect((await createPayment('ETH', '0.5')).confirmationsRequired).toBe(4)
    const cleared = await app.gql(
      `mutation { clearConfirmationPolicy(input: { chain: "devnet", asset: "ETH" }) { ... on ConfirmationPolicy { source } } }`,
      {},
      merchant.key,
    )
    expect(cleared.data.clearConfirmationPolicy.source).toBe('OPERATOR')
    expect((await createPayment('ETH', '0.5')).confirmationsRequired).toBe(3)
  })

  test('behavior: another merchant’s choice leaves this merchant’s payments on the operator’s ladder', async () => {
    const other = await app.merchant('Other')
    expect((await setPolicy({ confirmations: 6 }, other.key)).data.setConfirmationPolicy.above).toBe(6)
    expect((await createPayment('ETH', '0.005', other.key)).confirmationsRequired).toBe(6)
    expect((await createPayment('ETH', '0.005')).confirmationsRequired).toBe(1)
  })
})

describe('hostile choices', () => {
  const refused: Array<[string, Record<string, unknown>, string, string]> = [
    [
      'a count above the operator’s bounds',
      { confirmations: 7 },
      'CONFIRMATIONS_OUT_OF_BOUNDS',
      'confirmations',
    ],
    [
      'a ladder reaching past the bounds',
      { tiers: [{ below: '1', confirmations: 2 }], above: 100 },
      'CONFIRMATIONS_OUT_OF_BOUNDS',
      'tiers',
    ],
    [
      'tiers not ascending',
      {
        tiers: [
          { below: '1', confirmations: 1 },
          { below: '0.5', confirmations: 2 },
        ],
        above: 3,
      },
      'INVALID_INPUT',
      'tiers.1.below',
    ],
    ['a negative count', { confirmations: -1 }, 'INVALID_INPUT', 'confirmations'],
    [
      'a negative step',
      { tiers: [{ below: '1', confirmations: -1 }], above: 3 },
      'INVALID_INPUT',
      'tiers.0.confirmations',
    ],
    [
      'a threshold in exponent form',
      { tiers: [{ below: '1e3', confirmations: 1 }], above: 3 },
      'INVALID_INPUT',
      'tiers.0.below',
    ],
    ['an unknown chain', { chain: 'solana', confirmations: 1 }, 'UNKNOWN_CHAIN', 'chain'],
    ['an unknown asset', { asset: 'DOGE', confirmations: 1 }, 'UNKNOWN_ASSET', 'asset'],
    [
      'a count for an asset without a ladder',
      { asset: 'USDT', confirmations: 1 },
      'CONFIRMATIONS_OUT_OF_BOUNDS',
      'confirmations',
    ],
  ]
  for (const [label, input, code, field] of refused)
    test(`error: ${label} is ${code} on ${field}; nothing stored, nothing audited`, async () => {
      const [before, entries] = [await storedPolicy(), (await audits()).length]
      const res = await setPolicy(input)
      expect(res.data.setConfirmationPolicy).toMatchObject({ code, field })
      expect(await storedPolicy()).toEqual(before)
      expect((await audits()).length).toBe(entries)
    })

  test('error: a key without admin is FORBIDDEN and stores nothing', async () => {
    const created = await app.gql(
      `mutation { createApiKey(name: "shop", scopes: [PAYMENTS_WRITE, PAYMENTS_READ]) { ... on ApiKeyCreated { key } } }`,
      {},
      merchant.key,
    )
    const before = await storedPolicy()
    const res = await setPolicy({ confirmations: 1 }, created.data.createApiKey.key)
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect(await storedPolicy()).toEqual(before)
  })
})
