import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { getAddress, type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { createWebhookEndpoint } from '../../src/core/webhooks/endpoints.ts'
import { webhookEventTypes } from '../../src/core/webhooks/events.ts'
import { auditLog, sweeps, withdrawals } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet, tokenAbi } from '../helpers/chain.ts'
import {
  impersonate,
  kytTestConfig,
  payNativeFrom,
  payTokenFrom,
  pullTokenFrom,
  recordingWebhookReceiver,
  sdnAddresses,
  sdnListSha256,
} from '../helpers/kyt.ts'
import { waitFor } from '../helpers/processes.ts'
import { creditOf, postingsOf } from '../helpers/unit.ts'
import { type RiskApiStandIn, startRiskApi } from '../stand-ins/risk-api.ts'

let devnet: Devnet
let riskApi: RiskApiStandIn
let app: TestApp
let hooks: ReturnType<typeof recordingWebhookReceiver>
let stopWorkers: (() => Promise<void>) | undefined
let miner: ReturnType<typeof setInterval> | undefined
let merchant: { id: string; key: string }
/** A second admin key of the merchant: the compliance officer. */
let reviewer: { id: string; key: string }
/** A key that may take payments but not decide on them. */
let paymentsOnly: { id: string; key: string }

// real entries of the OFAC SDN ETH list: two pay the gateway (the second spelled in lowercase by the list, while
// the chain reports it checksummed), one is asked to be paid by it
const sdnEth = sdnAddresses('ETH')
const [listedPayer, listedDestination] = sdnEth as [string, string]
const lowercaseListed = '0x179f48c78f57a3a78f0608cc9197b8972921d1d2'
const lowercaseLine = sdnEth.indexOf(lowercaseListed) + 1

beforeAll(async () => {
  devnet = await startDevnet()
  riskApi = startRiskApi()
  hooks = recordingWebhookReceiver()
  app = await createTestApp({
    config: kytTestConfig(devnet.url, {
      riskApi: { url: riskApi.url, apiKey: riskApi.apiKey },
      settings: {
        payouts: { mode: 'none', intervalMs: 300 },
        // ETH deposits are swept; token ones stay (no gas tank in this file)
        sweeps: { minAmount: { USDT: '1000000000' } },
      },
    }),
    env: { TOLLGATE_SEED: gatewayMnemonic, WEBHOOK_ALLOW_PRIVATE: 'true', KYT_TIMEOUT_MS: '5000' },
  })
  merchant = await app.merchant('Screened shop')
  await createWebhookEndpoint(app.ctx, merchant.id, { url: hooks.url, events: webhookEventTypes })
  reviewer = await newKey('compliance officer', ['ADMIN'])
  paymentsOnly = await newKey('shop backend', ['PAYMENTS_READ', 'PAYMENTS_WRITE'])
  await impersonate(devnet, listedPayer)
  await impersonate(devnet, lowercaseListed)
  // the listed addresses hold test USDT too (sent by the devnet's payer, as anyone could)
  await devnet.payToken(listedPayer, 1_000_000_000n)
  await devnet.payToken(lowercaseListed, 1_000_000_000n)
  stopWorkers = await startWorkers(app.ctx)
  miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
}, 30_000)
afterAll(async () => {
  if (miner) clearInterval(miner)
  await stopWorkers?.()
  await app?.close()
  hooks?.stop()
  await riskApi?.stop()
  await devnet?.stop()
})

async function newKey(name: string, scopes: string[]) {
  const res = await app.gql(
    'mutation ($name: String!, $scopes: [ApiKeyScope!]!) { createApiKey(name: $name, scopes: $scopes) { ... on ApiKeyCreated { key apiKey { id } } } }',
    { name, scopes },
    merchant.key,
  )
  return { id: res.data.createApiKey.apiKey.id as string, key: res.data.createApiKey.key as string }
}

const kytFields = `state verdict reason failMode versions direction addresses txHash decidedBy note attempts
  answers { provider address verdict risk categories reasons version error }`

const paymentQuery = `query ($id: ID!) { payment(id: $id) { id status amountReceived amountConfirmed
  kyt { ${kytFields} } } }`

async function payment(id: string) {
  const res = await app.gql(paymentQuery, { id }, merchant.key)
  return res.data.payment
}

async function createPayment(asset: 'ETH' | 'USDT', amount: string) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } } }`,
    { input: { chain: 'devnet', asset, amount } },
    merchant.key,
  )
  return res.data.createPayment.payment as { id: string; address: string }
}

const statusIs = (id: string, status: string) => async () => (await payment(id)).status === status

/** A payment paid in full by an SDN-listed address, once screening has held it. */
async function heldPayment(asset: 'ETH' | 'USDT', amount: string, units: bigint, from = listedPayer) {
  const p = await createPayment(asset, amount)
  if (asset === 'ETH') await payNativeFrom(devnet, from, p.address, units)
  else await payTokenFrom(devnet, from, p.address, units)
  await waitFor(`${p.id} HELD`, statusIs(p.id, 'HELD'))
  return p
}

/** A payment paid in full by the devnet's own (unlisted) payer, once completed. */
async function cleanPayment(asset: 'ETH' | 'USDT', amount: string, units: bigint) {
  const p = await createPayment(asset, amount)
  if (asset === 'ETH') await devnet.payNative(p.address, units)
  else await devnet.payToken(p.address, units)
  await waitFor(`${p.id} COMPLETED`, statusIs(p.id, 'COMPLETED'))
  return p
}

async function balance(asset: 'ETH' | 'USDT') {
  const rows = await getBalances(app.ctx, merchant.id)
  const b = rows.find((r) => (asset === 'ETH' ? r.asset.endsWith('slip44:60') : r.asset.includes('erc20')))
  return { available: b?.available ?? 0n, reserved: b?.reserved ?? 0n }
}

const ethAt = (address: string) => devnet.client.getBalance({ address: address as Hex })
const usdtAt = (address: string) =>
  devnet.client.readContract({
    address: devnet.tokenAddress,
    abi: tokenAbi,
    functionName: 'balanceOf',
    args: [address as Hex],
  })

/** The versions a screening by both providers rests on: each SDN list's date and hash, and the risk API's. */
const versionsPattern = new RegExp(
  `^sanctions=ETH \\d{4}-\\d{2}-\\d{2} sha256:${sdnListSha256('ETH').slice(0, 16)}; ` +
    `USDT \\d{4}-\\d{2}-\\d{2} sha256:${sdnListSha256('USDT').slice(0, 16)} risk=\\S+$`,
)

const decide = (mutation: 'releasePayment' | 'rejectPayment', id: string, note: string, key: string) =>
  app.gql(
    `mutation ($id: ID!, $note: String!) { ${mutation}(id: $id, note: $note) {
      __typename ... on Payment { id status } ... on UserError { code field message } } }`,
    { id, note },
    key,
  )

async function auditOf(targetId: string) {
  const rows = await app.ctx.db.select().from(auditLog).where(eq(auditLog.targetId, targetId))
  return rows
}

/** Refusals leave a held payment exactly as it was: HELD, its check undecided, nothing audited or credited. */
async function expectUntouched(id: string) {
  const p = await payment(id)
  expect(p.status).toBe('HELD')
  expect(p.kyt.map((c: { state: string; decidedBy: string | null }) => [c.state, c.decidedBy])).toEqual([
    ['HELD', null],
  ])
  expect(await auditOf(id)).toEqual([])
  expect(await creditOf(app.ctx.db, id)).toBe(0n)
}

describe('deposits from an SDN-listed address', () => {
  test('default: an ETH payment from a listed address is HELD and not credited; Payment.kyt tells why and on which list version; the same from a clean address completes', async () => {
    const before = await balance('ETH')
    const held = await heldPayment('ETH', '0.5', parseEther('0.5'))
    // paid after the held one, so once it completes the held deposit is deeper than the required depth
    const clean = await cleanPayment('ETH', '0.5', parseEther('0.5'))

    const p = await payment(held.id)
    expect(p.status).toBe('HELD')
    expect(p.amountReceived).toBe('0.5')
    expect(p.amountConfirmed).toBe('0')
    expect(p.kyt).toHaveLength(1)
    const [check] = p.kyt
    expect(check).toMatchObject({
      state: 'HELD',
      verdict: 'BLOCK',
      reason: 'KYT_BLOCKED',
      failMode: null,
      direction: 'inbound',
      addresses: [getAddress(listedPayer)],
    })
    expect(check.versions).toMatch(versionsPattern)
    const sanctions = check.answers.find((a: { provider: string }) => a.provider === 'sanctions')
    expect(sanctions).toMatchObject({
      address: getAddress(listedPayer),
      verdict: 'BLOCK',
      risk: 'severe',
      categories: ['sanctions'],
      error: null,
    })
    expect(sanctions.reasons[0]).toContain('OFAC SDN ETH list (line 1)')
    expect(sanctions.version).toContain(`sha256:${sdnListSha256('ETH').slice(0, 16)}`)
    // the risk API knows nothing against it: the worst verdict (the list's) decides
    expect(check.answers.find((a: { provider: string }) => a.provider === 'risk')).toMatchObject({
      verdict: 'ALLOW',
      error: null,
    })

    expect(await creditOf(app.ctx.db, held.id)).toBe(0n)
    expect(await creditOf(app.ctx.db, clean.id)).toBe(parseEther('0.5'))
    const cleanChecks = (await payment(clean.id)).kyt
    expect(cleanChecks.map((c: { state: string; verdict: string }) => [c.state, c.verdict])).toEqual([
      ['CLEAR', 'ALLOW'],
    ])
    expect((await balance('ETH')).available - before.available).toBe(parseEther('0.5'))
  }, 30_000)

  test('default: a USDT payment from a listed address is HELD and not credited; the same from a clean address completes', async () => {
    const before = await balance('USDT')
    const held = await heldPayment('USDT', '25', 25_000_000n, lowercaseListed)
    const clean = await cleanPayment('USDT', '25', 25_000_000n)

    const p = await payment(held.id)
    expect(p.status).toBe('HELD')
    expect(p.amountConfirmed).toBe('0')
    const [check] = p.kyt
    expect(check).toMatchObject({ state: 'HELD', verdict: 'BLOCK', reason: 'KYT_BLOCKED' })
    // a token transfer's senders: the transaction's sender and the Transfer event's from, the same address once
    expect(check.addresses).toEqual([getAddress(lowercaseListed)])
    expect(check.versions).toMatch(versionsPattern)
    expect(check.answers.find((a: { provider: string }) => a.provider === 'sanctions').reasons[0]).toContain(
      `OFAC SDN ETH list (line ${lowercaseLine})`,
    )

    expect(await creditOf(app.ctx.db, held.id)).toBe(0n)
    expect(await creditOf(app.ctx.db, clean.id)).toBe(25_000_000n)
    expect((await balance('USDT')).available - before.available).toBe(25_000_000n)
    expect(await usdtAt(held.address)).toBe(25_000_000n)
  }, 30_000)
})

describe('tokens pulled from a listed address', () => {
  test('behavior: a USDT payment a clean spender pulls from a listed address (transferFrom) is HELD: the Transfer’s from is screened, not only the transaction’s sender', async () => {
    const p = await createPayment('USDT', '10')
    await pullTokenFrom(devnet, listedPayer, p.address, 10_000_000n)
    await waitFor(`${p.id} HELD`, statusIs(p.id, 'HELD'))
    const [check] = (await payment(p.id)).kyt
    expect(check).toMatchObject({ state: 'HELD', verdict: 'BLOCK', reason: 'KYT_BLOCKED' })
    expect([...check.addresses].sort()).toEqual([devnet.payer.address, getAddress(listedPayer)].sort())
    const sanctions = check.answers.filter((a: { provider: string }) => a.provider === 'sanctions')
    expect(
      sanctions.map((a: { address: string; verdict: string }) => `${a.address} ${a.verdict}`).sort(),
    ).toEqual([`${devnet.payer.address} ALLOW`, `${getAddress(listedPayer)} BLOCK`].sort())
    expect(await creditOf(app.ctx.db, p.id)).toBe(0n)
  }, 30_000)
})

describe('an admin decides on a held payment', () => {
  test('behavior: releasePayment by an admin key completes and credits it, records who and why on its check and in the audit log', async () => {
    const held = await heldPayment('ETH', '0.3', parseEther('0.3'))
    const queue = async () =>
      (
        await app.gql(
          '{ kytChecks(filter: { state: HELD }) { edges { node { paymentId } } } }',
          {},
          reviewer.key,
        )
      ).data.kytChecks.edges.map((e: { node: { paymentId: string } }) => e.node.paymentId)
    // it waits in the compliance review queue
    expect(await queue()).toContain(held.id)

    // a key without admin scope may not decide, and nothing changes
    const forbidden = await decide('releasePayment', held.id, 'looks fine', paymentsOnly.key)
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    await expectUntouched(held.id)
    // nor may an admin without saying why
    const noNote = await decide('releasePayment', held.id, '', reviewer.key)
    expect(noNote.data.releasePayment).toMatchObject({ __typename: 'UserError', code: 'INVALID_INPUT' })
    await expectUntouched(held.id)

    const released = await decide('releasePayment', held.id, 'customer verified by phone', reviewer.key)
    expect(released.data.releasePayment.__typename).toBe('Payment')
    await waitFor(`${held.id} COMPLETED`, statusIs(held.id, 'COMPLETED'))
    const p = await payment(held.id)
    expect(p.amountConfirmed).toBe('0.3')
    expect(p.kyt).toHaveLength(1)
    expect(p.kyt[0]).toMatchObject({
      state: 'RELEASED',
      verdict: 'BLOCK',
      reason: 'KYT_BLOCKED',
      decidedBy: reviewer.id,
      note: 'customer verified by phone',
    })
    expect(await creditOf(app.ctx.db, held.id)).toBe(parseEther('0.3'))
    expect(await queue()).not.toContain(held.id)

    const audit = await app.gql(
      '{ auditLog(first: 50) { edges { node { action actor targetType targetId data } } } }',
      {},
      reviewer.key,
    )
    const entries = audit.data.auditLog.edges
      .map((e: { node: unknown }) => e.node)
      .filter((n: { targetId: string }) => n.targetId === held.id)
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      action: 'payment.released',
      actor: reviewer.id,
      targetType: 'payment',
      data: { note: 'customer verified by phone', reasons: ['KYT_BLOCKED'] },
    })
    // released once: a second decision is refused
    const again = await decide('rejectPayment', held.id, 'changed my mind', reviewer.key)
    expect(again.data.rejectPayment).toMatchObject({ __typename: 'UserError', code: 'INVALID_STATE' })
    expect(await creditOf(app.ctx.db, held.id)).toBe(parseEther('0.3'))
  }, 30_000)

  test('behavior: rejectPayment ends it REJECTED, never credited and never swept, while a clean payment is swept', async () => {
    const held = await heldPayment('ETH', '0.4', parseEther('0.4'))

    const forbidden = await decide('rejectPayment', held.id, 'sanctioned sender', paymentsOnly.key)
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    await expectUntouched(held.id)
    const noNote = await decide('rejectPayment', held.id, '   ', reviewer.key)
    expect(noNote.data.rejectPayment).toMatchObject({ __typename: 'UserError', code: 'INVALID_INPUT' })
    await expectUntouched(held.id)

    const rejected = await decide('rejectPayment', held.id, 'sender on the SDN list', reviewer.key)
    expect(rejected.data.rejectPayment).toMatchObject({ __typename: 'Payment', status: 'REJECTED' })
    const p = await payment(held.id)
    expect(p.kyt[0]).toMatchObject({
      state: 'REJECTED',
      decidedBy: reviewer.id,
      note: 'sender on the SDN list',
    })
    expect((await auditOf(held.id)).map((a) => a.action)).toEqual(['payment.rejected'])

    // a clean payment made after the rejection: the sweeper takes its funds, and only its
    const clean = await cleanPayment('ETH', '0.4', parseEther('0.4'))
    await waitFor(
      `${clean.id} swept`,
      async () => {
        const [s] = await app.ctx.db.select().from(sweeps).where(eq(sweeps.paymentId, clean.id))
        return s?.status === 'done'
      },
      20_000,
    )
    expect(await ethAt(clean.address)).toBe(0n)
    expect(await app.ctx.db.select().from(sweeps).where(eq(sweeps.paymentId, held.id))).toEqual([])
    expect(await ethAt(held.address)).toBe(parseEther('0.4'))
    expect((await payment(held.id)).status).toBe('REJECTED')
    expect(await postingsOf(app.ctx.db, held.id)).toEqual([])
  }, 40_000)
})

describe('webhooks', () => {
  test('behavior: payment.held, payment.released and payment.rejected are delivered with the screening’s kyt object', async () => {
    const toRelease = await heldPayment('ETH', '0.01', parseEther('0.01'))
    const toReject = await heldPayment('ETH', '0.02', parseEther('0.02'))
    expect((await decide('releasePayment', toRelease.id, 'known customer', reviewer.key)).data).toBeTruthy()
    expect((await decide('rejectPayment', toReject.id, 'sanctioned', reviewer.key)).data).toBeTruthy()

    const delivered = (id: string, type: string) =>
      waitFor(`${type} of ${id}`, () => hooks.of(id).find((h) => h.type === type), 10_000)
    const expectedKyt = {
      reason: 'KYT_BLOCKED',
      verdict: 'block',
      versions: expect.stringMatching(versionsPattern),
    }
    for (const id of [toRelease.id, toReject.id])
      expect((await delivered(id, 'payment.held')).kyt).toEqual(expectedKyt)
    expect((await delivered(toReject.id, 'payment.rejected')).kyt).toEqual(expectedKyt)
    // a release says what it overrode, as the hold and a rejection do
    expect((await delivered(toRelease.id, 'payment.released')).kyt).toEqual(expectedKyt)
  }, 30_000)
})

describe('withdrawals', () => {
  const requestMutation = `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
    __typename ... on RequestWithdrawalPayload { withdrawal { id status } }
    ... on UserError { code field message } } }`
  const withdrawalQuery = `query ($id: ID!) { withdrawal(id: $id) { id status kyt { ${kytFields} } } }`
  const request = (input: Record<string, unknown>) =>
    app.gql(requestMutation, { input: { chain: 'devnet', asset: 'ETH', ...input } }, merchant.key)

  beforeAll(async () => {
    // the hot wallet payouts are sent from
    await devnet.payNative(
      roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury').address,
      parseEther('5'),
    )
  })

  test('error: a withdrawal to an SDN-listed address is refused with KYT_BLOCKED; nothing is reserved and the refusal is kept', async () => {
    await cleanPayment('ETH', '0.2', parseEther('0.2'))
    const before = await balance('ETH')
    const res = await request({ to: listedDestination, amount: '0.1', idempotencyKey: 'to-listed' })
    expect(res.data.requestWithdrawal).toMatchObject({
      __typename: 'UserError',
      code: 'KYT_BLOCKED',
      field: 'to',
    })
    expect(await balance('ETH')).toEqual(before)
    const rows = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.merchantId, merchant.id))
    expect(rows.filter((w) => w.toAddress.toLowerCase() === listedDestination.toLowerCase())).toEqual([])

    const refused = await app.gql(
      `{ kytChecks(filter: { state: REFUSED }) { edges { node { subjectType direction addresses state verdict reason versions
        answers { provider verdict categories } } } } }`,
      {},
      merchant.key,
    )
    const nodes = refused.data.kytChecks.edges.map((e: { node: unknown }) => e.node)
    expect(nodes).toHaveLength(1)
    expect(nodes[0]).toMatchObject({
      subjectType: 'withdrawal',
      direction: 'outbound',
      state: 'REFUSED',
      verdict: 'BLOCK',
      reason: 'KYT_BLOCKED',
    })
    expect(nodes[0].addresses.map((a: string) => a.toLowerCase())).toEqual([listedDestination.toLowerCase()])
    expect(nodes[0].versions).toMatch(versionsPattern)
    expect(nodes[0].answers).toContainEqual({
      provider: 'sanctions',
      verdict: 'BLOCK',
      categories: ['sanctions'],
    })
    expect(await ethAt(listedDestination)).toBe(0n)
  }, 30_000)

  test('behavior: a destination the risk API grades Medium waits for approval (withdrawal.held, Withdrawal.kyt HELD); another admin key’s approval sends it', async () => {
    await cleanPayment('ETH', '0.2', parseEther('0.2'))
    const destination = privateKeyToAccount(`0x${'5a'.repeat(32)}` as Hex).address
    const profile = {
      risk: 'Medium' as const,
      cluster: { name: 'Some mixer-adjacent service', category: 'high risk exchange' },
    }
    riskApi.setEntity(destination, profile)
    riskApi.setEntity(destination.toLowerCase(), profile)
    const before = await balance('ETH')

    const res = await request({ to: destination, amount: '0.15', idempotencyKey: 'to-review' })
    expect(res.data.requestWithdrawal.__typename).toBe('RequestWithdrawalPayload')
    const { id, status } = res.data.requestWithdrawal.withdrawal
    expect(status).toBe('AWAITING_APPROVAL')
    // the amount is reserved while it waits
    expect((await balance('ETH')).reserved - before.reserved).toBe(parseEther('0.15'))
    const w = (await app.gql(withdrawalQuery, { id }, merchant.key)).data.withdrawal
    expect(w.kyt).toMatchObject({
      state: 'HELD',
      verdict: 'REVIEW',
      reason: 'KYT_REVIEW',
      direction: 'outbound',
    })
    expect(w.kyt.answers.find((a: { provider: string }) => a.provider === 'risk')).toMatchObject({
      verdict: 'REVIEW',
      risk: 'medium',
    })
    const held = await waitFor('withdrawal.held', () =>
      hooks.of(id).find((h) => h.type === 'withdrawal.held'),
    )
    expect(held.kyt).toMatchObject({ reason: 'KYT_REVIEW', verdict: 'review' })

    // the key that asked cannot approve its own request; the compliance officer's key can
    const self = await app.gql(
      'mutation ($id: ID!) { approveWithdrawal(id: $id) { __typename ... on UserError { code } } }',
      { id },
      merchant.key,
    )
    expect(self.data.approveWithdrawal).toMatchObject({ __typename: 'UserError', code: 'SELF_APPROVAL' })
    const approved = await app.gql(
      'mutation ($id: ID!, $reason: String) { approveWithdrawal(id: $id, reason: $reason) { __typename ... on Withdrawal { status } } }',
      { id, reason: 'known supplier' },
      reviewer.key,
    )
    expect(approved.data.approveWithdrawal).toEqual({ __typename: 'Withdrawal', status: 'QUEUED' })
    await waitFor(
      'the withdrawal confirmed',
      async () =>
        (await app.gql(withdrawalQuery, { id }, merchant.key)).data.withdrawal.status === 'CONFIRMED',
      20_000,
    )
    expect(await ethAt(destination)).toBe(parseEther('0.15'))
    const done = (await app.gql(withdrawalQuery, { id }, merchant.key)).data.withdrawal
    expect(done.kyt).toMatchObject({ state: 'RELEASED', decidedBy: reviewer.id, note: 'known supplier' })
    expect((await balance('ETH')).available).toBe(before.available - parseEther('0.15'))
  }, 40_000)
})
