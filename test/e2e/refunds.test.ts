import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { type Hex, parseEther, parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Devnet, freePort, gatewayEvmWallet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { createTestDatabase } from '../helpers/db.ts'
import {
  createMerchantWithCli,
  graphqlClient,
  reconcileJson,
  type SplitGateway,
  startKeylessGateway,
  waitFor,
} from '../helpers/processes.ts'

// Refunds end to end with the production processes: an API and a chain worker that hold no key, a signer that
// alone holds the seed, anvil as the chain, and the buyer's side seen through viem and the refund link's page.
let devnet: Devnet
let db: Awaited<ReturnType<typeof createTestDatabase>>
let sql: postgres.Sql
let gateway: SplitGateway
let env: Record<string, string>
let otherGql: ReturnType<typeof graphqlClient>
let treasury: string
let miner: ReturnType<typeof setInterval> | undefined
/** The merchant's webhook receiver: every delivery's payload, as it arrived. */
type Hook = { type: string; sequence: number; data: { id: string; status: string; [k: string]: unknown } }
const hooks: Hook[] = []
let hookServer: ReturnType<typeof Bun.serve> | undefined

beforeAll(async () => {
  ;[devnet, db] = await Promise.all([startDevnet(), createTestDatabase()])
  sql = postgres(db.url, { max: 2, onnotice: () => {} })
  env = {
    DATABASE_URL: db.url,
    REDIS_PREFIX: `refunds-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: devnet.url,
    TEST_CONFIRMATIONS: '2',
    TEST_PAYOUT_INTERVAL_MS: '200',
    LOG_LEVEL: 'info',
    WEBHOOK_ALLOW_PRIVATE: 'true',
  }
  hookServer = Bun.serve({
    port: await freePort(),
    hostname: '127.0.0.1',
    async fetch(req) {
      hooks.push(JSON.parse(await req.text()))
      return new Response('ok')
    },
  })
  gateway = await startKeylessGateway(env, 'Refund shop')
  otherGql = graphqlClient(gateway.api.url, await createMerchantWithCli(env, 'Other shop'))
  const endpoint = await gql(
    `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { __typename } }`,
    {
      input: {
        url: `http://127.0.0.1:${hookServer.port}/hooks`,
        events: [
          'REFUND_CREATED',
          'REFUND_CLAIMED',
          'REFUND_SENT',
          'REFUND_CONFIRMED',
          'REFUND_FAILED',
          'REFUND_CANCELED',
          'PAYMENT_CANCELED',
          'PAYMENT_EXCEPTION',
          'PAYMENT_RESOLVED',
        ],
      },
    },
  )
  expect(endpoint.data.createWebhookEndpoint.__typename).toBe('WebhookEndpointWithSecret')
  // the operator funds the treasury that pays refunds; the first reconciliation books it as the operator's
  treasury = gatewayEvmWallet('treasury').address
  await devnet.payNative(treasury, parseEther('10'))
  await devnet.payToken(treasury, 1_000_000_000n)
  const first = await reconcile()
  expect(first.report.discrepancies).toEqual([])
  expect(first.report.funding.map((f: { role: string }) => f.role)).toEqual(['treasury', 'treasury'])
  // blocks keep coming, as on a real chain
  miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
}, 60_000)

afterAll(async () => {
  if (miner) clearInterval(miner)
  await gateway?.stop()
  hookServer?.stop(true)
  await sql?.end()
  await devnet?.stop()
  await db?.drop()
})

const gql = (query: string, variables: Record<string, unknown> = {}) => gateway.gql(query, variables)

/** A fresh address of a buyer, empty on the devnet. */
const buyer = (n: number) => privateKeyToAccount(`0x${n.toString(16).padStart(64, 'b')}` as Hex).address

const usdtOf = (address: string) => devnet.tokenBalance(address)
const ethOf = (address: string) => devnet.client.getBalance({ address: address as Hex })

async function createPayment(asset: string, amount: string): Promise<{ id: string; address: string }> {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } } }`,
    { input: { chain: 'devnet', asset, amount } },
  )
  return res.data.createPayment.payment
}

type PaymentView = {
  status: string
  amountReceived: string
  amountConfirmed: string
  resolution: string | null
  exception: string | null
  refundable: { uncredited: string; credited: string; overpaid: string }
  events: Array<{ type: string; toStatus: string }>
}

async function payment(id: string, client = gql): Promise<PaymentView> {
  const res = await client(
    `query ($id: ID!) { payment(id: $id) { status amountReceived amountConfirmed resolution exception
      refundable { uncredited credited overpaid } events { type toStatus } } }`,
    { id },
  )
  return res.data.payment
}

const refundFields =
  'id status amount amountSent source overpayment feePaidBy to refundUrl idempotencyKey withdrawal { id status }'
type RefundView = {
  id: string
  status: string
  amount: string
  amountSent: string | null
  source: string
  overpayment: boolean
  feePaidBy: string
  to: string | null
  refundUrl: string | null
  idempotencyKey: string
  withdrawal: { id: string; status: string } | null
}

async function refundPayment(input: Record<string, unknown>, client = gql) {
  const res = await client(
    `mutation ($input: RefundPaymentInput!) { refundPayment(input: $input) { __typename
      ... on RefundPaymentPayload { replayed refund { ${refundFields} } } ... on UserError { code field message } } }`,
    { input },
  )
  expect(res.errors).toBeUndefined()
  return res.data.refundPayment
}

async function resolvePayment(input: Record<string, unknown>, client = gql) {
  const res = await client(
    `mutation ($input: ResolvePaymentInput!) { resolvePayment(input: $input) { __typename
      ... on ResolvePaymentPayload { payment { id status resolution exception } refund { ${refundFields} } }
      ... on UserError { code field message } } }`,
    { input },
  )
  expect(res.errors).toBeUndefined()
  return res.data.resolvePayment
}

async function cancelPayment(id: string, client = gql) {
  const res = await client(
    `mutation ($id: ID!) { cancelPayment(id: $id) { __typename ... on Payment { id status }
      ... on UserError { code field message } } }`,
    { id },
  )
  expect(res.errors).toBeUndefined()
  return res.data.cancelPayment
}

async function refund(id: string): Promise<RefundView> {
  return (await gql(`query ($id: ID!) { refund(id: $id) { ${refundFields} } }`, { id })).data.refund
}

async function refundConfirmed(id: string): Promise<RefundView> {
  return waitFor(
    `refund ${id} CONFIRMED`,
    async () => {
      const r = await refund(id)
      if (r.status === 'FAILED' || r.status === 'CANCELED') throw new Error(`refund ended ${r.status}`)
      return r.status === 'CONFIRMED' ? r : undefined
    },
    20_000,
  )
}

/** The merchant's balances by symbol, in base units. */
async function balances(client = gql): Promise<Record<string, { available: bigint; reserved: bigint }>> {
  const list = (await client('{ balances { asset { symbol decimals } available reserved } }')).data.balances
  return Object.fromEntries(
    list.map((b: { asset: { symbol: string; decimals: number }; available: string; reserved: string }) => [
      b.asset.symbol,
      {
        available: parseUnits(b.available, b.asset.decimals),
        reserved: parseUnits(b.reserved, b.asset.decimals),
      },
    ]),
  )
}
const zero = { available: 0n, reserved: 0n }

/** The deadline passes; the chain worker's expiry job notices within its interval. */
async function expireNow(paymentId: string) {
  await sql`UPDATE payments SET expires_at = now() - interval '1 second' WHERE id = ${paymentId}`
}

async function paymentReaches(id: string, check: (p: PaymentView) => boolean, what: string) {
  return waitFor(
    `payment ${id}: ${what}`,
    async () => {
      const p = await payment(id)
      return check(p) ? p : undefined
    },
    20_000,
  )
}

async function refundEvents(refundId: string) {
  return sql<{ type: string; status: string }[]>`
    SELECT type, status FROM refund_events WHERE refund_id = ${refundId} ORDER BY seq`.then((rows) =>
    rows.map((r) => ({ type: r.type, status: r.status })),
  )
}

/** How many rows of `table` have `column` = `value`. */
async function countOf(table: 'refunds' | 'withdrawals', column: string, value: string): Promise<number> {
  const [row] = await sql<
    { n: number }[]
  >`SELECT count(*)::int AS n FROM ${sql(table)} WHERE ${sql(column)} = ${value}`
  return row?.n ?? -1
}

/** The webhook types delivered about one object (a refund or a payment), in its event order, once all arrived. */
async function hooksOf(id: string, expected: string[]) {
  const of = () =>
    hooks
      .filter((h) => h.data.id === id)
      .sort((a, b) => a.sequence - b.sequence)
      .map((h) => h.type)
  await waitFor(
    `webhooks ${expected.join(', ')} for ${id} (got ${of().join(', ')})`,
    () => of().length >= expected.length,
  )
  await Bun.sleep(300)
  expect(of()).toEqual(expected)
  return hooks.filter((h) => h.data.id === id)
}

/** The operator's reconciliation (the CLI), once nothing is in flight: the books and the chain agree exactly. */
async function reconcile() {
  return reconcileJson({ ...env, TOLLGATE_SEED: gatewayMnemonic }, ['--chain', 'devnet'])
}
async function expectBooksExact() {
  const { code, report } = await reconcile()
  expect(report.settled).toBe(true)
  expect(report.discrepancies).toEqual([])
  // a treasury holding more than the books say would be booked as funding: nothing may be
  expect(report.funding).toEqual([])
  expect(code).toBe(0)
}

describe('refunds on anvil through the GraphQL API, the worker and the signer', () => {
  test('default: an underpaid ETH payment expires UNDERPAID; refunded through a link the buyer fills in; paid once; no merchant balance moves', async () => {
    const before = await balances()
    const candidates = [buyer(1), buyer(2)]
    for (const a of candidates) expect(await ethOf(a)).toBe(0n)
    const p = await createPayment('ETH', '1')
    await devnet.payNative(p.address, parseEther('0.4'))
    await paymentReaches(p.id, (v) => v.amountConfirmed === '0.4', '0.4 confirmed')
    expect((await payment(p.id)).status).toBe('PARTIALLY_PAID')
    await expireNow(p.id)
    const underpaid = await paymentReaches(p.id, (v) => v.status === 'UNDERPAID', 'UNDERPAID')
    expect(underpaid).toMatchObject({
      exception: 'UNDERPAID',
      resolution: null,
      refundable: { uncredited: '0.4', credited: '0', overpaid: '0' },
    })

    const created = await refundPayment({ paymentId: p.id, idempotencyKey: 'underpaid-1' })
    expect(created.__typename).toBe('RefundPaymentPayload')
    expect(created.replayed).toBe(false)
    const r = created.refund as RefundView
    expect(r).toMatchObject({
      status: 'AWAITING_ADDRESS',
      amount: '0.4',
      amountSent: null,
      source: 'UNCREDITED',
      overpayment: false,
      to: null,
      withdrawal: null,
    })
    // the payment is resolved by the refund: nothing left to refund, no exception, never completed by it
    expect(await payment(p.id)).toMatchObject({
      status: 'UNDERPAID',
      resolution: 'REFUNDED',
      exception: null,
      refundable: { uncredited: '0', credited: '0', overpaid: '0' },
    })
    expect((await balances()).ETH?.available ?? 0n).toBe(before.ETH?.available ?? 0n)

    // the buyer opens the link, as a browser would, and posts a fresh address
    const link = new URL(r.refundUrl!)
    expect(link.origin).toBe(gateway.api.url)
    expect(link.pathname).toBe(`/refund/${r.id}`)
    const secret = link.searchParams.get('secret')!
    const page = await fetch(r.refundUrl!)
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('id="refund-to"')
    expect(html).toContain('id="refund-submit"')
    const post = (address: string) =>
      fetch(`${gateway.api.url}/refund/${r.id}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ secret, to: address }).toString(),
      })
    // a wrong secret is the same 404 as an unknown refund
    expect((await fetch(`${gateway.api.url}/refund/${r.id}?secret=rfs_wrong`)).status).toBe(404)
    // an address of another chain is refused with the reason; the link stays open
    const refusedPost = await post('bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq')
    expect(refusedPost.status).toBe(400)
    expect(await refusedPost.text()).toContain('id="refund-error"')
    expect(await refund(r.id)).toMatchObject({ status: 'AWAITING_ADDRESS', to: null, withdrawal: null })
    // two answers at once (a double submit, or someone else holding the link): one wins, the other is told so
    const answers = await Promise.all(candidates.map(post))
    expect(answers.map((a) => a.status).sort()).toEqual([303, 409])
    const won = answers.findIndex((a) => a.status === 303)
    const [to, loser] = [candidates[won]!, candidates[1 - won]!]
    expect(answers[won]!.headers.get('location')).toBe(r.refundUrl)

    const done = await refundConfirmed(r.id)
    expect(done).toMatchObject({
      to,
      amountSent: '0.4',
      refundUrl: null,
      withdrawal: { status: 'CONFIRMED' },
    })
    expect(await ethOf(to)).toBe(parseEther('0.4'))
    expect(await refundEvents(r.id)).toEqual([
      { type: 'refund.created', status: 'AWAITING_ADDRESS' },
      { type: 'refund.claimed', status: 'PENDING' },
      { type: 'refund.sent', status: 'SENT' },
      { type: 'refund.confirmed', status: 'CONFIRMED' },
    ])
    // the link is used once: another address is refused and sent nothing
    const again = await post(loser)
    expect(again.status).toBe(409)
    await Bun.sleep(500)
    expect(await ethOf(loser)).toBe(0n)
    expect(await countOf('withdrawals', 'refund_id', r.id)).toBe(1)

    const after = await payment(p.id)
    expect(after).toMatchObject({
      status: 'UNDERPAID',
      resolution: 'REFUNDED',
      exception: null,
      refundable: { uncredited: '0' },
    })
    expect(after.events.map((e) => e.type)).toContain('payment.resolved')
    // nothing was credited, so nothing left the merchant's balance
    expect({ ETH: zero, ...(await balances()) }).toEqual({ ETH: zero, ...before })
    await expectBooksExact()

    // the buyer sends more after the refund: the payment stays closed (never completed by it), an exception again
    expect(await refundPayment({ paymentId: p.id, idempotencyKey: 'underpaid-2' })).toMatchObject({
      __typename: 'UserError',
      code: 'NOTHING_TO_REFUND',
    })
    await devnet.payNative(p.address, parseEther('0.6'))
    const topped = await paymentReaches(p.id, (v) => v.amountConfirmed === '1', '1 confirmed')
    expect(topped).toMatchObject({
      status: 'UNDERPAID',
      resolution: 'REFUNDED',
      exception: 'PAID_AFTER_REFUND',
      refundable: { uncredited: '0.6', credited: '0' },
    })
    expect(topped.events.map((e) => e.type)).toContain('payment.exception')
    expect(topped.events.map((e) => e.type)).not.toContain('payment.completed')
    // part of it was returned: it cannot be accepted any more; the rest is refunded too
    expect(await resolvePayment({ paymentId: p.id, action: 'ACCEPT' })).toMatchObject({
      __typename: 'UserError',
      code: 'INVALID_STATE',
    })
    const second = await resolvePayment({
      paymentId: p.id,
      action: 'REFUND',
      to,
      idempotencyKey: 'underpaid-3',
    })
    expect(second.refund).toMatchObject({ amount: '0.6', source: 'UNCREDITED', status: 'PENDING' })
    await refundConfirmed(second.refund.id)
    expect(await ethOf(to)).toBe(parseEther('1'))
    expect(await payment(p.id)).toMatchObject({
      status: 'UNDERPAID',
      exception: null,
      refundable: { uncredited: '0' },
    })
    expect({ ETH: zero, ...(await balances()) }).toEqual({ ETH: zero, ...before })
    // the merchant heard of each step
    const linkHooks = await hooksOf(r.id, [
      'refund.created',
      'refund.claimed',
      'refund.sent',
      'refund.confirmed',
    ])
    expect(linkHooks.find((h) => h.type === 'refund.confirmed')?.data).toMatchObject({
      status: 'CONFIRMED',
      amount: '0.4',
      amountSent: '0.4',
      source: 'UNCREDITED',
      to,
      paymentId: p.id,
    })
    await hooksOf(second.refund.id, ['refund.created', 'refund.sent', 'refund.confirmed'])
    await hooksOf(p.id, ['payment.resolved', 'payment.exception'])
    await expectBooksExact()
  }, 60_000)

  test('behavior: an overpaid USDT payment completes OVERPAID; the overpayment refund returns exactly the excess', async () => {
    const before = await balances()
    const to = buyer(3)
    const p = await createPayment('USDT', '100')
    await devnet.payToken(p.address, 120_000_000n)
    const completed = await paymentReaches(p.id, (v) => v.status === 'COMPLETED', 'COMPLETED')
    expect(completed).toMatchObject({
      exception: 'OVERPAID',
      refundable: { uncredited: '0', credited: '120', overpaid: '20' },
    })
    const credited = (before.USDT?.available ?? 0n) + 120_000_000n
    expect((await balances()).USDT?.available).toBe(credited)

    const res = await refundPayment({ paymentId: p.id, overpayment: true, to, idempotencyKey: 'overpaid-1' })
    expect(res.refund).toMatchObject({
      status: 'PENDING',
      amount: '20',
      source: 'BALANCE',
      overpayment: true,
      feePaidBy: 'MERCHANT',
      to,
    })
    await refundConfirmed(res.refund.id)
    expect(await usdtOf(to)).toBe(20_000_000n)
    expect(await balances()).toMatchObject({ USDT: { available: credited - 20_000_000n, reserved: 0n } })
    expect(await payment(p.id)).toMatchObject({
      status: 'COMPLETED',
      exception: null,
      refundable: { credited: '100', overpaid: '0' },
    })
    // the excess is gone: a second overpayment refund finds nothing
    const again = await refundPayment({
      paymentId: p.id,
      overpayment: true,
      to,
      idempotencyKey: 'overpaid-2',
    })
    expect(again).toMatchObject({ __typename: 'UserError', code: 'NOTHING_TO_REFUND' })
    await expectBooksExact()
  }, 60_000)

  test('behavior: a late payment (part before the deadline, part after) is accepted: COMPLETED, credited exactly what arrived, later funds too', async () => {
    const before = (await balances()).ETH?.available ?? 0n
    const p = await createPayment('ETH', '1')
    await devnet.payNative(p.address, parseEther('0.3'))
    await paymentReaches(p.id, (v) => v.amountConfirmed === '0.3', '0.3 confirmed')
    await expireNow(p.id)
    await paymentReaches(p.id, (v) => v.status === 'UNDERPAID', 'UNDERPAID')
    // a part arrives after the deadline: still short, still UNDERPAID
    await devnet.payNative(p.address, parseEther('0.2'))
    const late = await paymentReaches(p.id, (v) => v.amountConfirmed === '0.5', '0.5 confirmed')
    expect(late).toMatchObject({
      status: 'UNDERPAID',
      exception: 'UNDERPAID',
      refundable: { uncredited: '0.5' },
    })
    expect((await balances()).ETH?.available ?? 0n).toBe(before)

    // the merchant first offers a refund link, then changes their mind: canceling it undoes the refund entirely
    const offered = await refundPayment({ paymentId: p.id, idempotencyKey: 'late-offer' })
    expect(offered.refund).toMatchObject({ status: 'AWAITING_ADDRESS', amount: '0.5' })
    const withdrawn = await gql(
      'mutation ($id: ID!) { cancelRefund(id: $id) { __typename ... on Refund { status refundUrl } } }',
      { id: offered.refund.id },
    )
    expect(withdrawn.data.cancelRefund).toEqual({ __typename: 'Refund', status: 'CANCELED', refundUrl: null })
    expect(await payment(p.id)).toMatchObject({
      status: 'UNDERPAID',
      resolution: null,
      exception: 'UNDERPAID',
      refundable: { uncredited: '0.5' },
    })
    const res = await resolvePayment({ paymentId: p.id, action: 'ACCEPT' })
    expect(res.__typename).toBe('ResolvePaymentPayload')
    expect(res.refund).toBeNull()
    expect(res.payment.resolution).toBe('ACCEPTED')
    const accepted = await paymentReaches(p.id, (v) => v.status === 'COMPLETED', 'COMPLETED')
    expect(accepted).toMatchObject({
      resolution: 'ACCEPTED',
      exception: null,
      refundable: { uncredited: '0', credited: '0.5', overpaid: '0' },
    })
    expect(accepted.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['payment.underpaid', 'payment.resolved', 'payment.completed']),
    )
    expect((await balances()).ETH?.available).toBe(before + parseEther('0.5'))
    // an accepted payment takes what comes later as well
    await devnet.payNative(p.address, parseEther('0.1'))
    await paymentReaches(p.id, (v) => v.refundable.credited === '0.6', 'credited 0.6')
    expect((await balances()).ETH?.available).toBe(before + parseEther('0.6'))
    // accepted once: a second ACCEPT is refused
    expect(await resolvePayment({ paymentId: p.id, action: 'ACCEPT' })).toMatchObject({
      __typename: 'UserError',
      code: 'INVALID_STATE',
    })
    await expectBooksExact()
  }, 60_000)

  test('behavior: a canceled payment paid anyway stays CANCELED (PAID_AFTER_CANCEL, payment.exception); resolved by a refund', async () => {
    const before = await balances()
    const to = buyer(4)
    const p = await createPayment('ETH', '1')
    const canceled = await cancelPayment(p.id)
    expect(canceled).toEqual({ __typename: 'Payment', id: p.id, status: 'CANCELED' })
    await devnet.payNative(p.address, parseEther('0.25'))
    const paid = await paymentReaches(p.id, (v) => v.amountConfirmed === '0.25', '0.25 confirmed')
    expect(paid).toMatchObject({
      status: 'CANCELED',
      exception: 'PAID_AFTER_CANCEL',
      resolution: null,
      refundable: { uncredited: '0.25', credited: '0' },
    })
    expect(paid.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['payment.canceled', 'payment.exception']),
    )
    expect(paid.events.map((e) => e.type)).not.toContain('payment.completed')
    expect(paid.events.filter((e) => e.type === 'payment.exception').map((e) => e.toStatus)).toEqual(
      expect.arrayContaining(['CANCELED']),
    )

    const res = await resolvePayment({ paymentId: p.id, action: 'REFUND', to, idempotencyKey: 'canceled-1' })
    expect(res.__typename).toBe('ResolvePaymentPayload')
    expect(res.payment).toMatchObject({ status: 'CANCELED', resolution: 'REFUNDED', exception: null })
    expect(res.refund).toMatchObject({ status: 'PENDING', amount: '0.25', source: 'UNCREDITED', to })
    await refundConfirmed(res.refund.id)
    expect(await ethOf(to)).toBe(parseEther('0.25'))
    expect(await payment(p.id)).toMatchObject({
      status: 'CANCELED',
      resolution: 'REFUNDED',
      exception: null,
      refundable: { uncredited: '0', credited: '0' },
    })
    expect(await refundEvents(res.refund.id)).toEqual([
      { type: 'refund.created', status: 'PENDING' },
      { type: 'refund.sent', status: 'SENT' },
      { type: 'refund.confirmed', status: 'CONFIRMED' },
    ])
    expect({ ETH: zero, ...(await balances()) }).toEqual({ ETH: zero, ...before })
    await hooksOf(p.id, ['payment.canceled', 'payment.exception', 'payment.resolved'])
    await hooksOf(res.refund.id, ['refund.created', 'refund.sent', 'refund.confirmed'])
    await expectBooksExact()
  }, 60_000)

  test('behavior: a partial refund of a completed payment is paid and takes exactly its amount from the balance', async () => {
    const to = buyer(5)
    const p = await createPayment('USDT', '50')
    await devnet.payToken(p.address, 50_000_000n)
    await paymentReaches(p.id, (v) => v.status === 'COMPLETED', 'COMPLETED')
    const before = await balances()
    const res = await refundPayment({ paymentId: p.id, amount: '12.5', to, idempotencyKey: 'partial-1' })
    expect(res.refund).toMatchObject({ status: 'PENDING', amount: '12.5', source: 'BALANCE', to })
    // reserved while on its way
    expect((await balances()).USDT).toEqual({
      available: before.USDT!.available - 12_500_000n,
      reserved: before.USDT!.reserved + 12_500_000n,
    })
    await refundConfirmed(res.refund.id)
    expect(await usdtOf(to)).toBe(12_500_000n)
    expect((await balances()).USDT).toEqual({
      available: before.USDT!.available - 12_500_000n,
      reserved: before.USDT!.reserved,
    })
    expect(await payment(p.id)).toMatchObject({
      status: 'COMPLETED',
      refundable: { credited: '37.5', overpaid: '0', uncredited: '0' },
    })
    await expectBooksExact()
  }, 60_000)

  test('behavior: with refundFee DEDUCTED an ETH refund pays amount − fee to the buyer; the balance drops by the amount; the books stay exact', async () => {
    const set = await gql(
      'mutation { setRefundFee(refundFee: DEDUCTED) { __typename ... on RefundFeeSetting { refundFee } } }',
    )
    expect(set.data.setRefundFee).toEqual({ __typename: 'RefundFeeSetting', refundFee: 'DEDUCTED' })
    expect((await gql('{ refundFee }')).data.refundFee).toBe('DEDUCTED')
    try {
      const to = buyer(6)
      const p = await createPayment('ETH', '1')
      await devnet.payNative(p.address, parseEther('1'))
      await paymentReaches(p.id, (v) => v.status === 'COMPLETED', 'COMPLETED')
      const before = await balances()
      const res = await refundPayment({ paymentId: p.id, amount: '0.05', to, idempotencyKey: 'deducted-1' })
      expect(res.refund).toMatchObject({
        status: 'PENDING',
        amount: '0.05',
        feePaidBy: 'BUYER',
        amountSent: null,
      })
      const done = await refundConfirmed(res.refund.id)
      const sent = parseEther(done.amountSent!)
      expect(sent).toBeGreaterThan(0n)
      expect(sent).toBeLessThan(parseEther('0.05'))
      expect(await ethOf(to)).toBe(sent)
      expect((await balances()).ETH).toEqual({
        available: before.ETH!.available - parseEther('0.05'),
        reserved: before.ETH!.reserved,
      })
      // the fee came out of the refund: the treasury's payout plus the network fee is the whole amount at most
      const [w] = await sql<{ network_fee: string; amount_sent: string }[]>`
        SELECT network_fee::text, amount_sent::text FROM withdrawals WHERE refund_id = ${res.refund.id}`
      expect(BigInt(w!.amount_sent)).toBe(sent)
      expect(sent + BigInt(w!.network_fee)).toBeLessThanOrEqual(parseEther('0.05'))
      await expectBooksExact()
    } finally {
      await gql('mutation { setRefundFee(refundFee: MERCHANT) { __typename } }')
    }
  }, 60_000)

  test('error: hostile refund, cancel and resolve inputs are refused with their typed code and write nothing', async () => {
    const paid = await createPayment('ETH', '0.2')
    await devnet.payNative(paid.address, parseEther('0.2'))
    await paymentReaches(paid.id, (v) => v.status === 'COMPLETED', 'COMPLETED')
    const open = await createPayment('ETH', '1')
    const partial = await createPayment('ETH', '1')
    await devnet.payNative(partial.address, parseEther('0.1'))
    await paymentReaches(partial.id, (v) => v.amountConfirmed === '0.1', 'PARTIALLY_PAID')
    const to = buyer(7)

    const snapshot = async () => {
      const [counts] = await sql`SELECT
        (SELECT count(*)::int FROM refunds) AS refunds,
        (SELECT count(*)::int FROM refund_events) AS refund_events,
        (SELECT count(*)::int FROM withdrawals) AS withdrawals,
        (SELECT count(*)::int FROM ledger_postings) AS postings,
        (SELECT count(*)::int FROM payment_events) AS payment_events`
      const states = await sql`SELECT id, status, resolution FROM payments
        WHERE id IN ${sql([paid.id, open.id, partial.id])} ORDER BY id`
      return { counts, states: [...states], balances: await balances(), other: await balances(otherGql) }
    }
    const refused = async (
      what: string,
      run: () => Promise<{ __typename: string; code?: string; field?: string }>,
      code: string,
      field?: string,
    ) => {
      const before = await snapshot()
      const result = await run()
      expect({ what, result: { __typename: result.__typename, code: result.code } }).toEqual({
        what,
        result: { __typename: 'UserError', code },
      })
      if (field) expect({ what, field: result.field }).toEqual({ what, field })
      expect({ what, after: await snapshot() }).toEqual({ what, after: before })
    }
    let n = 0
    const key = () => `hostile-${++n}`

    await refused(
      'more than was paid',
      () => refundPayment({ paymentId: paid.id, amount: '0.2000001', to, idempotencyKey: key() }),
      'AMOUNT_NOT_REFUNDABLE',
      'amount',
    )
    await refused(
      'an overpayment refund of an exact payment',
      () => refundPayment({ paymentId: paid.id, overpayment: true, to, idempotencyKey: key() }),
      'NOTHING_TO_REFUND',
    )
    for (const [who, id] of [
      ["another merchant's payment", paid.id],
      ['an unknown payment', 'pay_doesnotexist'],
    ] as const) {
      await refused(
        `refund of ${who}`,
        () => refundPayment({ paymentId: id, amount: '0.1', to, idempotencyKey: key() }, otherGql),
        'NOT_FOUND',
        'paymentId',
      )
      await refused(`cancel of ${who}`, () => cancelPayment(id, otherGql), 'NOT_FOUND')
      await refused(
        `accept of ${who}`,
        () => resolvePayment({ paymentId: id, action: 'ACCEPT' }, otherGql),
        'NOT_FOUND',
      )
      await refused(
        `refund-resolution of ${who}`,
        () => resolvePayment({ paymentId: id, action: 'REFUND', to, idempotencyKey: key() }, otherGql),
        'NOT_FOUND',
      )
    }
    // the buyer's address with one letter's case flipped: its EIP-55 checksum no longer holds
    const letter = [...to].findIndex((c, i) => i > 1 && /[a-fA-F]/.test(c))
    const flipped = `${to.slice(0, letter)}${to[letter] === to[letter]!.toLowerCase() ? to[letter]!.toUpperCase() : to[letter]!.toLowerCase()}${to.slice(letter + 1)}`
    for (const address of [
      'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',
      '1BoatSLRHtKNngkdXEeobR76b53LETtpyT',
      'TLsV52sRDL79HXGGm9yzwKibb6BeruhUzy',
      '0x1234',
      `0x${'g'.repeat(40)}`,
      flipped,
      ' ',
      'x'.repeat(201),
    ])
      await refused(
        `address ${JSON.stringify(address.slice(0, 50))}`,
        () => refundPayment({ paymentId: paid.id, amount: '0.1', to: address, idempotencyKey: key() }),
        'INVALID_ADDRESS',
        'to',
      )
    for (const amount of [
      '-1',
      '0',
      '0.0',
      'abc',
      '1e3',
      '0x10',
      '0.1.1',
      '',
      ' 0.1',
      '0.0000000000000000001',
    ])
      await refused(
        `amount ${JSON.stringify(amount)}`,
        () => refundPayment({ paymentId: paid.id, amount, to, idempotencyKey: key() }),
        'INVALID_AMOUNT',
        'amount',
      )
    await refused(
      'refund of an open PENDING payment',
      () => refundPayment({ paymentId: open.id, idempotencyKey: key() }),
      'INVALID_STATE',
    )
    await refused(
      'refund of a PARTIALLY_PAID payment (it may still be paid)',
      () => refundPayment({ paymentId: partial.id, to, idempotencyKey: key() }),
      'INVALID_STATE',
    )
    await refused(
      'refund-resolution of a PARTIALLY_PAID payment',
      () => resolvePayment({ paymentId: partial.id, action: 'REFUND', to, idempotencyKey: key() }),
      'INVALID_STATE',
    )
    await refused('cancel of a paid payment', () => cancelPayment(paid.id), 'INVALID_STATE')
    await refused('cancel of a PARTIALLY_PAID payment', () => cancelPayment(partial.id), 'INVALID_STATE')
    await refused(
      'ACCEPT of a COMPLETED payment',
      () => resolvePayment({ paymentId: paid.id, action: 'ACCEPT' }),
      'INVALID_STATE',
    )
    await refused(
      'ACCEPT of a PARTIALLY_PAID payment',
      () => resolvePayment({ paymentId: partial.id, action: 'ACCEPT' }),
      'INVALID_STATE',
    )
    await refused(
      'REFUND resolution of a COMPLETED payment (nothing uncredited)',
      () => resolvePayment({ paymentId: paid.id, action: 'REFUND', to, idempotencyKey: key() }),
      'NOTHING_TO_REFUND',
    )
    await refused(
      'REFUND resolution without an idempotency key',
      () => resolvePayment({ paymentId: paid.id, action: 'REFUND', to }),
      'INVALID_INPUT',
      'idempotencyKey',
    )

    // one key, one refund: the same parameters replay it, other parameters are refused
    const input = { paymentId: paid.id, amount: '0.05', idempotencyKey: 'idem-1' }
    const before = await balances()
    const first = await refundPayment(input)
    expect(first).toMatchObject({ replayed: false, refund: { status: 'AWAITING_ADDRESS', amount: '0.05' } })
    const held = await snapshot()
    const replay = await refundPayment(input)
    expect(replay).toMatchObject({
      replayed: true,
      refund: { id: first.refund.id, status: 'AWAITING_ADDRESS' },
    })
    expect(await snapshot()).toEqual(held)
    for (const other of [
      { amount: '0.06' },
      { amount: undefined },
      { to },
      { reason: 'changed my mind' },
      { paymentId: partial.id },
    ])
      await refused(
        `key reused with ${JSON.stringify(other)}`,
        () => refundPayment({ ...input, ...other }),
        'IDEMPOTENCY_KEY_REUSED',
        'idempotencyKey',
      )
    expect(await countOf('refunds', 'idempotency_key', 'idem-1')).toBe(1)
    // the link's hold is released when the refund is canceled
    expect((await balances()).ETH).toEqual({
      available: before.ETH!.available - parseEther('0.05'),
      reserved: before.ETH!.reserved + parseEther('0.05'),
    })
    const canceled = await gql(
      'mutation ($id: ID!) { cancelRefund(id: $id) { __typename ... on Refund { status } } }',
      {
        id: first.refund.id,
      },
    )
    expect(canceled.data.cancelRefund).toEqual({ __typename: 'Refund', status: 'CANCELED' })
    expect(await balances()).toEqual(before)

    const cancel = (id: string) =>
      gql('mutation ($id: ID!) { cancelRefund(id: $id) { __typename ... on Refund { status } } }', { id })
    // five refunds at once that together ask for more than the payment credited: one is made, four refused
    const racing = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        refundPayment({ paymentId: paid.id, amount: '0.15', idempotencyKey: `race-${i}` }),
      ),
    )
    const made = racing.filter((r) => r.__typename === 'RefundPaymentPayload')
    expect(made.length).toBe(1)
    expect(racing.filter((r) => r.__typename === 'UserError').map((r) => r.code)).toEqual(
      Array(4).fill('AMOUNT_NOT_REFUNDABLE'),
    )
    expect((await cancel(made[0].refund.id)).data.cancelRefund.status).toBe('CANCELED')
    // the same key five times at once: one refund, the others replay it
    const same = await Promise.all(
      [1, 2, 3, 4, 5].map(() =>
        refundPayment({ paymentId: paid.id, amount: '0.01', idempotencyKey: 'same-key' }),
      ),
    )
    expect(same.map((r) => r.__typename)).toEqual(Array(5).fill('RefundPaymentPayload'))
    expect(new Set(same.map((r) => r.refund.id)).size).toBe(1)
    expect(same.filter((r) => !r.replayed).length).toBe(1)
    expect(await countOf('refunds', 'idempotency_key', 'same-key')).toBe(1)
    expect((await cancel(same[0].refund.id)).data.cancelRefund.status).toBe('CANCELED')
    expect(await balances()).toEqual(before)
    expect(await payment(paid.id)).toMatchObject({ status: 'COMPLETED', refundable: { credited: '0.2' } })
    await expectBooksExact()
  }, 60_000)
})
