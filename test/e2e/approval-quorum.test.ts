import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { parseEther } from 'viem'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { auditLog, withdrawalApprovals, withdrawals } from '../../src/db/schema/index.ts'
import { processExpiry } from '../../src/jobs/expire.ts'
import type { TestApp } from '../helpers/app.ts'
import type { Devnet } from '../helpers/chain.ts'
import { startDevnetApp } from '../helpers/devnet-app.ts'
import { balanceOf, createPayment, type Gql, refundPayment } from '../helpers/refunds.ts'

// Withdrawals above 1 ETH need two distinct admin keys besides the one asking, through the API; a request waits
// an hour for them.
let devnet: Devnet
let app: TestApp
let merchant: { id: string; key: string }
let other: { id: string; key: string }
let alice: { id: string; key: string }
let bob: { id: string; key: string }
let stranger: { id: string; key: string }
const paymentIds: string[] = []
const scanner = newScannerState()
const to = '0x00000000000000000000000000000000000000a1'

const gqlAs =
  (key: string): Gql =>
  (query, variables) =>
    app.gql(query, variables, key)

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp(
    { confirmations: 2 },
    {
      payouts: {
        mode: 'batch',
        approvalAbove: { ETH: '1' },
        approvalsRequired: { ETH: 2 },
        approvalExpiresAfterMs: 3_600_000,
      },
      sweeps: { enabled: false },
    },
  ))
  merchant = await app.merchant('Quorum shop')
  other = await app.merchant('Other shop')
  alice = await adminKey(merchant.key, 'alice')
  bob = await adminKey(merchant.key, 'bob')
  stranger = await adminKey(other.key, 'stranger admin')
  // the merchant's balance comes the real way: two 5 ETH payments paid on anvil, scanned, confirmed
  const gql = gqlAs(merchant.key)
  for (let i = 0; i < 2; i++) {
    const p = await createPayment(gql, 'devnet', 'ETH', '5')
    await devnet.payNative(p.address, parseEther('5'))
    paymentIds.push(p.id)
  }
  await devnet.mine(2)
  await syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('devnet')!)
  expect(await balanceOf(gql, 'devnet', 'ETH', 18)).toEqual({ available: parseEther('10'), reserved: 0n })
}, 60_000)
afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

/** Another admin key of the merchant holding `key` (its id and secret). */
async function adminKey(key: string, name: string): Promise<{ id: string; key: string }> {
  const created = await app.gql(
    'mutation ($name: String!) { createApiKey(name: $name, scopes: [ADMIN]) { ... on ApiKeyCreated { key apiKey { id } } } }',
    { name },
    key,
  )
  return { id: created.data.createApiKey.apiKey.id, key: created.data.createApiKey.key }
}

const withdrawalFields = `id status failureReason approvalsRequired approvalsMissing
  approvals { keyId keyName approve reason createdAt } events { type data }`

let requestNo = 0
async function request(amount: string) {
  const res = await app.gql(
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
      ... on RequestWithdrawalPayload { withdrawal { ${withdrawalFields} } } ... on UserError { code } } }`,
    { input: { chain: 'devnet', asset: 'ETH', to, amount, idempotencyKey: `quorum-${++requestNo}` } },
    merchant.key,
  )
  return res.data.requestWithdrawal.withdrawal
}

async function decide(op: 'approve' | 'reject', id: string, key: string, reason?: string) {
  const res = await app.gql(
    `mutation ($id: ID!, $reason: String) { ${op}Withdrawal(id: $id, reason: $reason) { __typename
      ... on Withdrawal { ${withdrawalFields} } ... on UserError { code field message } } }`,
    { id, reason },
    key,
  )
  if (!res.data?.[`${op}Withdrawal`]) throw new Error(`${op}Withdrawal: ${JSON.stringify(res)}`)
  return res.data[`${op}Withdrawal`]
}

const ethBalance = () => balanceOf(gqlAs(merchant.key), 'devnet', 'ETH', 18)

/** What decisions can write: approvals, audit entries, the withdrawal's row and the merchant's balance. */
async function footprint(id: string) {
  const count = async (table: typeof withdrawalApprovals | typeof auditLog) =>
    (await app.ctx.db.select({ n: sql<number>`count(*)::int` }).from(table))[0]?.n
  return {
    approvals: await count(withdrawalApprovals),
    audit: await count(auditLog),
    row: (await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, id)))[0],
    balance: await ethBalance(),
  }
}

describe('approval quorum through the API', () => {
  test('behavior: the requester cannot approve, a key decides once, the second distinct key releases it', async () => {
    const w = await request('2')
    expect(w).toMatchObject({
      status: 'AWAITING_APPROVAL',
      approvalsRequired: 2,
      approvalsMissing: 2,
      approvals: [],
    })
    const self = await decide('approve', w.id, merchant.key)
    expect(self).toMatchObject({ __typename: 'UserError', code: 'SELF_APPROVAL', field: 'id' })

    const first = await decide('approve', w.id, alice.key, 'invoice 7')
    expect(first).toMatchObject({
      __typename: 'Withdrawal',
      status: 'AWAITING_APPROVAL',
      approvalsMissing: 1,
    })
    expect(first.approvals).toEqual([
      {
        keyId: alice.id,
        keyName: 'alice',
        approve: true,
        reason: 'invoice 7',
        createdAt: expect.any(String),
      },
    ])
    expect(first.events.at(-1)).toEqual({
      type: 'withdrawal.approval_added',
      data: { approvals: 1, required: 2, keyId: alice.id },
    })
    const before = await footprint(w.id)
    for (const op of ['approve', 'reject'] as const)
      expect(await decide(op, w.id, alice.key)).toMatchObject({
        __typename: 'UserError',
        code: 'ALREADY_DECIDED',
      })
    expect(await footprint(w.id)).toEqual(before)
    expect(before.balance).toEqual({ available: parseEther('8'), reserved: parseEther('2') })

    const second = await decide('approve', w.id, bob.key)
    expect(second).toMatchObject({ status: 'QUEUED', approvalsRequired: 2, approvalsMissing: 0 })
    expect(second.approvals.map((a: { keyName: string }) => a.keyName)).toEqual(['alice', 'bob'])
    expect(second.events.at(-1).type).toBe('withdrawal.queued')
    // the audit log has both approvals with the tally
    const audit = await app.gql(
      '{ auditLog(first: 20) { edges { node { action actor targetId data } } } }',
      {},
      merchant.key,
    )
    const entries = audit.data.auditLog.edges
      .map((e: { node: Record<string, unknown> }) => e.node)
      .filter((n: { targetId: string }) => n.targetId === w.id)
    expect(entries.map((n: { actor: string; data: unknown }) => [n.actor, n.data])).toEqual(
      expect.arrayContaining([
        [alice.id, { approvals: 1, required: 2, reason: 'invoice 7' }],
        [bob.id, { approvals: 2, required: 2 }],
      ]),
    )
    // the cancel below releases it: the next tests start from the whole balance
    await app.gql(
      'mutation ($id: ID!) { cancelWithdrawal(id: $id) { __typename } }',
      { id: w.id },
      merchant.key,
    )
  })

  test('behavior: a rejection after an approval cancels it and gives the reserve back', async () => {
    const w = await request('1.5')
    expect(await ethBalance()).toEqual({ available: parseEther('8.5'), reserved: parseEther('1.5') })
    await decide('approve', w.id, alice.key)
    const rejected = await decide('reject', w.id, bob.key, 'not ours')
    expect(rejected).toMatchObject({ status: 'CANCELED', approvalsMissing: 0 })
    expect(rejected.approvals.map((a: { approve: boolean }) => a.approve)).toEqual([true, false])
    expect(await ethBalance()).toEqual({ available: parseEther('10'), reserved: 0n })
  })

  test('behavior: the expiry job cancels a request left awaiting approval past the hour and releases it', async () => {
    const stale = await request('1.2')
    const fresh = await request('1.3')
    await decide('approve', stale.id, alice.key)
    await app.ctx.db
      .update(withdrawals)
      .set({ createdAt: new Date(Date.now() - 3_600_001) })
      .where(eq(withdrawals.id, stale.id))
    expect(await ethBalance()).toEqual({ available: parseEther('7.5'), reserved: parseEther('2.5') })
    const result = await processExpiry(app.ctx)
    expect(result.approvalsExpired).toBe(1)
    const res = await app.gql(
      `query ($a: ID!, $b: ID!) { a: withdrawal(id: $a) { ${withdrawalFields} } b: withdrawal(id: $b) { status } }`,
      { a: stale.id, b: fresh.id },
      merchant.key,
    )
    expect(res.data.a).toMatchObject({
      status: 'CANCELED',
      failureReason: 'approval expired',
      approvalsMissing: 0,
    })
    expect(res.data.b.status).toBe('AWAITING_APPROVAL')
    expect(await ethBalance()).toEqual({ available: parseEther('8.7'), reserved: parseEther('1.3') })
    expect(await decide('approve', stale.id, bob.key)).toMatchObject({ code: 'INVALID_STATE' })
    await decide('reject', fresh.id, bob.key)
  })

  test('behavior: a refund paid out above the threshold needs the quorum too', async () => {
    const refunded = await refundPayment(gqlAs(merchant.key), {
      paymentId: paymentIds[0],
      to,
      amount: '1.1',
      idempotencyKey: 'quorum-refund-1',
    })
    expect(refunded.__typename).toBe('RefundPaymentPayload')
    const wid = (refunded as { refund: { withdrawal: { id: string; status: string } } }).refund.withdrawal
    expect(wid.status).toBe('AWAITING_APPROVAL')
    expect(await decide('approve', wid.id, merchant.key)).toMatchObject({ code: 'SELF_APPROVAL' })
    expect(await decide('approve', wid.id, alice.key)).toMatchObject({
      status: 'AWAITING_APPROVAL',
      approvalsMissing: 1,
    })
    expect(await decide('approve', wid.id, alice.key)).toMatchObject({ code: 'ALREADY_DECIDED' })
    expect(await decide('approve', wid.id, bob.key)).toMatchObject({ status: 'QUEUED', approvalsMissing: 0 })
  })

  test('error: an unknown id, another merchant’s withdrawal and a 10 KB reason are refused; nothing is written', async () => {
    const w = await request('1.4')
    await decide('approve', w.id, alice.key)
    const before = await footprint(w.id)
    for (const op of ['approve', 'reject'] as const) {
      expect(await decide(op, 'wd_00000000000000000000000000000000', bob.key)).toMatchObject({
        code: 'NOT_FOUND',
      })
      expect(await decide(op, w.id, stranger.key)).toMatchObject({ code: 'NOT_FOUND' })
      expect(await decide(op, w.id, bob.key, 'x'.repeat(10_240))).toMatchObject({
        code: 'INVALID_INPUT',
        field: 'reason',
      })
    }
    expect(await footprint(w.id)).toEqual(before)
    // the other merchant cannot read it either
    const seen = await app.gql('query ($id: ID!) { withdrawal(id: $id) { id } }', { id: w.id }, other.key)
    expect(seen.data.withdrawal).toBeNull()
  })
})
