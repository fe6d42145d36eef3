import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { parseEther } from 'viem'
import { createConsoleUser } from '../../src/core/access/console-users.ts'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { startScreeningPump } from '../../src/jobs/kyt-pump.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { consolePassword } from '../helpers/console.ts'
import { impersonate, kytTestConfig, payNativeFrom, sdnAddresses } from '../helpers/kyt.ts'
import { waitFor } from '../helpers/processes.ts'
import { createPayment, paymentOf } from '../helpers/refunds.ts'
import { recordStatements } from '../helpers/sql-count.ts'

// What the compliance review queue shows after the decisions people make elsewhere, through the API: a payout to
// an SDN-listed address waits for approval (this gateway's policy) with its screening HELD; approved by the
// quorum, or rejected by a console user, the screening is decided with it and leaves the queue. Customer deposits
// from the listed address are held too, and their screenings name the deposit (KytCheck.depositId).

const [listedPayer, listedDestination] = sdnAddresses('ETH') as [string, string]

let devnet: Devnet
let app: TestApp
let shop: { id: string; key: string }
let alice: { id: string; key: string }
let bob: { id: string; key: string }
let heldDeposits: string[] = []
let paidPayment: string
let approver: { id: string; cookie: string; csrf: string }

/** Another admin key of the shop (its id and secret). */
async function adminKey(name: string): Promise<{ id: string; key: string }> {
  const created = await app.gql(
    'mutation ($name: String!) { createApiKey(name: $name, scopes: [ADMIN]) { ... on ApiKeyCreated { key apiKey { id } } } }',
    { name },
    shop.key,
  )
  return { id: created.data.createApiKey.apiKey.id, key: created.data.createApiKey.key }
}

/** A console user of the shop with the approver role, signed in (no second factor enrolled). */
async function signedInApprover(displayName: string) {
  const email = `approver-${crypto.randomUUID().slice(0, 8)}@example.com`
  const { id } = await createConsoleUser(
    { db: app.ctx.db },
    { email, displayName, password: consolePassword, membership: { merchantId: shop.id, role: 'approver' } },
  )
  const res = await send(
    new Request('http://tollgate.test/console/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: consolePassword }),
    }),
  )
  expect(res.status).toBe(200)
  const body = (await res.json()) as { csrfToken: string }
  return { id, cookie: (res.headers.get('set-cookie') ?? '').split(';')[0] as string, csrf: body.csrfToken }
}

/** The in-process handler, given the client's address as Bun.serve's socket would. */
const send = (request: Request) =>
  (app.fetch as (request: Request, peer?: string) => Promise<Response>)(request, '127.0.0.1')

/** A GraphQL request as the signed-in console user, at the shop. */
async function gqlAsUser(query: string, variables: Record<string, unknown>) {
  const res = await send(
    new Request('http://tollgate.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: approver.cookie,
        'x-csrf-token': approver.csrf,
        'x-tollgate-merchant': shop.id,
      },
      body: JSON.stringify({ query, variables }),
    }),
  )
  return (await res.json()) as { data?: any; errors?: unknown[] }
}

const checkFields = 'id subjectType subjectId paymentId depositId state decidedBy decidedAt note'

/** The shop's screenings in `state` (all when none), newest first. */
async function checks(state?: string) {
  const res = await app.gql(
    `query ($filter: KytCheckFilter) { kytChecks(first: 100, filter: $filter) { edges { node { ${checkFields} } } } }`,
    { filter: state ? { state } : null },
    shop.key,
  )
  expect(res.errors).toBeUndefined()
  return res.data.kytChecks.edges.map((e: { node: unknown }) => e.node) as Array<Record<string, any>>
}

beforeAll(async () => {
  devnet = await startDevnet()
  app = await createTestApp({
    config: kytTestConfig(devnet.url, {
      // a listed destination waits for people instead of being refused; above 1 ETH two keys must approve
      policy: { withdrawals: { block: 'approval' } },
      settings: {
        sweeps: { enabled: false },
        payouts: { approvalAbove: { ETH: '1' }, approvalsRequired: { ETH: 2 } },
      },
    }),
    env: { TOLLGATE_SEED: gatewayMnemonic },
  })
  shop = await app.merchant('Decisions shop')
  alice = await adminKey('alice')
  bob = await adminKey('bob')
  approver = await signedInApprover('Ada Approver')

  // the balance the real way: a payment from a clean address; and two customer deposits from a listed one
  const gql = (query: string, variables?: Record<string, unknown>) => app.gql(query, variables, shop.key)
  const payment = await createPayment(gql, 'devnet', 'ETH', '5')
  paidPayment = payment.id
  await devnet.payNative(payment.address, parseEther('5'))
  const customer = await app.gql(
    `mutation { depositAddress(input: { chain: "devnet", customerId: "cust-9" }) {
      ... on CustomerAddress { address } ... on UserError { code message } } }`,
    {},
    shop.key,
  )
  await impersonate(devnet, listedPayer)
  const txs = [
    await payNativeFrom(devnet, listedPayer, customer.data.depositAddress.address, parseEther('0.25')),
    await payNativeFrom(devnet, listedPayer, customer.data.depositAddress.address, parseEther('0.3')),
  ].map((r) => r.transactionHash as string)
  await devnet.mine(2)
  await syncChain(
    { db: app.ctx.db, log: app.ctx.log, scanner: newScannerState(), screen: true },
    app.ctx.chains.get('devnet')!,
  )
  const pump = startScreeningPump(app.ctx, () => {}, { idleMs: 50 })
  try {
    await waitFor(
      'the clean payment completed',
      async () => (await paymentOf(gql, paidPayment)).status === 'COMPLETED',
    )
    heldDeposits = await waitFor('both deposits held', async () => {
      const res = await app.gql('{ deposits(status: HELD) { edges { node { id txHash } } } }', {}, shop.key)
      const ids = res.data.deposits.edges
        .filter((e: { node: { txHash: string } }) => txs.includes(e.node.txHash))
        .map((e: { node: { id: string } }) => e.node.id)
      return ids.length === 2 ? (ids as string[]) : undefined
    })
  } finally {
    await pump.stop()
  }
}, 120_000)

afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

let requestNo = 0
/** A withdrawal to the listed destination: it waits for approval, its screening HELD. */
async function heldWithdrawal(amount: string): Promise<string> {
  const res = await app.gql(
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
      ... on RequestWithdrawalPayload { withdrawal { id status kyt { state } } } ... on UserError { code message } } }`,
    {
      input: {
        chain: 'devnet',
        asset: 'ETH',
        to: listedDestination,
        amount,
        idempotencyKey: `held-${++requestNo}`,
      },
    },
    shop.key,
  )
  expect(res.data.requestWithdrawal.withdrawal).toMatchObject({
    status: 'AWAITING_APPROVAL',
    kyt: { state: 'HELD' },
  })
  return res.data.requestWithdrawal.withdrawal.id
}

const decideMutation = (op: 'approve' | 'reject') =>
  `mutation ($id: ID!, $reason: String) { ${op}Withdrawal(id: $id, reason: $reason) {
    __typename ... on Withdrawal { status approvals { keyId keyName deciderName approve reason } } ... on UserError { code } } }`

const heldSubjects = async () => (await checks('HELD')).map((c) => c.subjectId)

describe('withdrawals held by screening, decided', () => {
  test('behavior: approved by the quorum, its screening is RELEASED by the last approver with the reason and leaves the HELD queue', async () => {
    const id = await heldWithdrawal('1.5')
    expect(await heldSubjects()).toContain(id)
    const first = await app.gql(decideMutation('approve'), { id, reason: 'known supplier' }, alice.key)
    expect(first.data.approveWithdrawal.status).toBe('AWAITING_APPROVAL')
    // one approval of two: still waiting for review
    expect(await heldSubjects()).toContain(id)
    const last = await app.gql(decideMutation('approve'), { id, reason: 'invoice 42 checked' }, bob.key)
    expect(last.data.approveWithdrawal.status).toBe('QUEUED')
    expect(await heldSubjects()).not.toContain(id)
    const [check] = (await checks()).filter((c) => c.subjectId === id)
    expect(check).toMatchObject({
      subjectType: 'withdrawal',
      state: 'RELEASED',
      decidedBy: bob.id,
      note: 'invoice 42 checked',
      depositId: null,
    })
    expect(Date.now() - Date.parse(check!.decidedAt)).toBeLessThan(60_000)
  })

  test('behavior: rejected by a console user, its screening is REJECTED by user:<id> and the approval keeps their name', async () => {
    const id = await heldWithdrawal('0.1')
    const res = await gqlAsUser(decideMutation('reject'), { id, reason: 'not our supplier' })
    expect(res.errors).toBeUndefined()
    expect(res.data.rejectWithdrawal).toMatchObject({
      status: 'CANCELED',
      approvals: [
        {
          keyId: `user:${approver.id}`,
          keyName: 'Ada Approver',
          deciderName: 'Ada Approver',
          approve: false,
          reason: 'not our supplier',
        },
      ],
    })
    expect(await heldSubjects()).not.toContain(id)
    expect((await checks()).find((c) => c.subjectId === id)).toMatchObject({
      state: 'REJECTED',
      decidedBy: `user:${approver.id}`,
      note: 'not our supplier',
    })
  })

  test('behavior: canceled by the shop while held, its screening is REJECTED by the canceling key and leaves the queue', async () => {
    const id = await heldWithdrawal('0.2')
    const res = await app.gql(
      'mutation ($id: ID!) { cancelWithdrawal(id: $id) { __typename ... on Withdrawal { status } } }',
      { id },
      alice.key,
    )
    expect(res.data.cancelWithdrawal).toEqual({ __typename: 'Withdrawal', status: 'CANCELED' })
    expect(await heldSubjects()).not.toContain(id)
    expect((await checks()).find((c) => c.subjectId === id)).toMatchObject({
      state: 'REJECTED',
      decidedBy: alice.id,
      note: 'withdrawal canceled while held',
    })
  })
})

describe('KytCheck.depositId', () => {
  test('default: a customer deposit’s screening names the deposit; a payment’s and a withdrawal’s name none', async () => {
    const all = await checks()
    const ofDeposits = all.filter((c) => c.subjectType === 'transfer' && c.paymentId === null)
    expect(ofDeposits.map((c) => c.depositId).sort()).toEqual([...heldDeposits].sort())
    expect(ofDeposits.every((c) => c.state === 'HELD')).toBe(true)
    const ofPayment = all.filter((c) => c.paymentId === paidPayment)
    expect(ofPayment.length).toBeGreaterThan(0)
    expect(ofPayment.map((c) => c.depositId)).toEqual(ofPayment.map(() => null))
    const ofWithdrawals = all.filter((c) => c.subjectType === 'withdrawal')
    expect(ofWithdrawals.length).toBeGreaterThan(0)
    expect(ofWithdrawals.map((c) => c.depositId)).toEqual(ofWithdrawals.map(() => null))
    // the deposit the id names is the one screened: its own screening says so
    for (const c of ofDeposits) {
      const res = await app.gql(
        'query ($id: ID!) { deposit(id: $id) { id status } }',
        { id: c.depositId },
        shop.key,
      )
      expect(res.data.deposit).toEqual({ id: c.depositId, status: 'HELD' })
    }
  })

  test('behavior: a page of screenings reads their deposits in one statement, however many there are', async () => {
    const log = recordStatements(app)
    try {
      const query = (fields: string) => `{ kytChecks(first: 100) { edges { node { ${fields} } } } }`
      await app.gql(query('id'), {}, shop.key)
      log.reset()
      await app.gql(query('id'), {}, shop.key)
      const without = log.statements.length
      log.reset()
      const res = await app.gql(query('id depositId'), {}, shop.key)
      expect(
        res.data.kytChecks.edges.filter((e: { node: { depositId: string | null } }) => e.node.depositId),
      ).toHaveLength(2)
      expect(log.statements.length - without).toBe(1)
    } finally {
      await log.close()
    }
  })
})
