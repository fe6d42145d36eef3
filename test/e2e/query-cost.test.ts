import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import pino from 'pino'
import { createContext } from '../../src/context.ts'
import { createApiKey } from '../../src/core/access/api-keys.ts'
import { newId } from '../../src/core/ids.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { listPaymentEvents } from '../../src/core/payments/queries.ts'
import { listPaymentTransfers } from '../../src/core/payments/views.ts'
import {
  chainCursors,
  outboundTxs,
  transfers,
  webhookAttempts,
  webhookDeliveries,
  webhookEndpoints,
  withdrawalEvents,
  withdrawals,
} from '../../src/db/schema/index.ts'
import { createHttpHandler } from '../../src/server.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { recordStatements, type StatementLog } from '../helpers/sql-count.ts'

// Query cost: a document is priced by what it makes the server do (fields × the list sizes they repeat under),
// refused before it runs when one operation costs too much, and charged to its API key's budget per minute.
// Per-payment fields that read the database are batched, so a page costs a handful of statements.

type GqlError = { message: string; extensions?: Record<string, unknown> }
type GqlResponse = { data?: any; errors?: GqlError[] }

let app: TestApp
let log: StatementLog
let merchant: { id: string; key: string }
const pageSize = 100

/** `n` aliases of `selection`: `a0: selection a1: selection …`. */
const aliased = (n: number, selection: string) =>
  `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${selection}`).join(' ')} }`

/** The document of the finding: 50 pages of 100 payments, each payment reading its transfers three times. */
const attack = aliased(
  50,
  'payments(first: 100) { edges { node { id status confirmations late transfers { txHash amount } } } }',
)

function onlyError(res: GqlResponse): GqlError {
  expect(res.data ?? null).toBeNull()
  expect(res.errors?.length).toBe(1)
  return res.errors![0]!
}

beforeAll(async () => {
  app = await createTestApp()
  merchant = await app.merchant('Cost')
  const created = []
  for (let i = 0; i < pageSize + 5; i++)
    created.push(
      (await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'USDT', amount: '5' })).payment,
    )
  // deposits on a third of the payments (two each, one of them late), some mined and some only seen
  await app.ctx.db.insert(chainCursors).values({ chain: 'devnet', height: 120n, hash: '0xcursor' })
  const rows = created
    .filter((_, i) => i % 3 === 0)
    .flatMap((p, i) =>
      [
        { blockHeight: 100n + BigInt(i % 20), late: false },
        { blockHeight: i % 2 === 0 ? null : 119n, late: i % 4 === 1 },
      ].map((t, n) => ({
        id: newId('trf'),
        chain: 'devnet',
        txHash: `0x${p.id.slice(4)}${n}`,
        index: n,
        asset: p.asset,
        toAddress: p.address,
        amount: 2_000_000n,
        blockHeight: t.blockHeight,
        paymentId: p.id,
        status: t.blockHeight === null ? ('seen' as const) : ('confirmed' as const),
        late: t.late,
      })),
    )
  await app.ctx.db.insert(transfers).values(rows)
  log = recordStatements(app)
})
afterAll(async () => {
  await log.close()
  await app.close()
})

describe('cost per operation', () => {
  test('error: the finding — 50 aliases of payments(first: 100) with confirmations, late and transfers are QUERY_TOO_COSTLY before any SQL runs', async () => {
    const fresh = await app.merchant('Attacker')
    expect((await app.gql('{ me { id } }', {}, fresh.key)).errors).toBeUndefined() // the key is looked up once
    log.reset()
    const res = await app.gql(attack, {}, fresh.key)
    const error = onlyError(res)
    expect(error.extensions?.code).toBe('QUERY_TOO_COSTLY')
    expect(error.extensions?.maxCost).toBe(app.ctx.env.GRAPHQL_MAX_COST)
    expect(error.extensions?.cost as number).toBeGreaterThan(app.ctx.env.GRAPHQL_MAX_COST)
    expect(error.message).toContain(String(app.ctx.env.GRAPHQL_MAX_COST))
    expect(log.statements).toEqual([])
  })
})

describe('batching', () => {
  test('behavior: a page of 100 payments selecting confirmations, late, transfers and events costs a handful of statements', async () => {
    const query = `{ payments(first: ${pageSize}) { edges { node {
      id confirmations late transfers { txHash index amount blockHeight status confirmations late }
      events { seq type toStatus }
    } } } }`
    await app.gql(query, {}, merchant.key) // the key is looked up and cached once
    log.reset()
    const res = await app.gql(query, {}, merchant.key)
    expect(res.errors).toBeUndefined()
    const nodes = res.data.payments.edges.map((e: { node: unknown }) => e.node)
    expect(nodes.length).toBe(pageSize)
    // the page, the transfers of all its payments (with their chains' cursors), their events
    expect(log.statements.length).toBe(3)
    await log.close()
    log = recordStatements(app)

    // and the batched answers are what each payment's own reads give
    let withTransfers = 0
    for (const node of nodes) {
      const own = await listPaymentTransfers(app.ctx, { id: node.id })
      if (own.length > 0) withTransfers++
      expect(node.transfers).toEqual(
        own.map((t) => ({
          txHash: t.txHash,
          index: t.index,
          amount: t.amount.toString(),
          blockHeight: t.blockHeight?.toString() ?? null,
          status: t.status,
          confirmations: t.confirmations,
          late: t.late,
        })),
      )
      expect(node.late).toBe(own.some((t) => t.late && t.status !== 'orphaned'))
      const live = own.filter((t) => t.status !== 'orphaned')
      expect(node.confirmations).toBe(
        live.length === 0 ? 0 : Math.min(3, ...live.map((t) => t.confirmations)),
      )
      const events = await listPaymentEvents(app.ctx, node.id)
      expect(node.events).toEqual(events.map((e) => ({ seq: e.seq, type: e.type, toStatus: e.toStatus })))
    }
    expect(withTransfers).toBeGreaterThan(20)
  })
})

/** Every field of a Payment, as a merchant's full listing would ask for it. */
const everyPaymentField = `id status chain asset { id symbol decimals } amountDue amountReceived amountRemaining
  amountConfirmed overpaidAmount confirmations late
  transfers { txHash index amount blockHeight status confirmations late }
  address paymentUri confirmationsRequired expiresAt orderId metadata clientSecret checkoutUrl createdAt updatedAt
  completedAt events { seq type fromStatus toStatus data createdAt }`

describe('normal operations', () => {
  test('default: the README examples run (createPayment, chains, payment, payments with a filter, me)', async () => {
    const created = await app.gql(
      `mutation {
        createPayment(input: { chain: "devnet", asset: "USDT", amount: "12.5", orderId: "A-1001", idempotencyKey: "A-1001" }) {
          ... on CreatePaymentPayload { replayed payment { id status address paymentUri amountDue expiresAt clientSecret } }
          ... on UserError { code field message }
        }
      }`,
      {},
      merchant.key,
    )
    expect(created.errors).toBeUndefined()
    const id = created.data.createPayment.payment.id
    const reads = [
      '{ chains { name assets { id symbol decimals } } }',
      `{ payment(id: "${id}") { ${everyPaymentField} } }`,
      '{ payments(first: 20, filter: { status: PENDING, chain: "devnet", orderId: "A-1001" }) { edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }',
      '{ me { id name createdAt } }',
    ]
    for (const query of reads) {
      const res = await app.gql(query, {}, merchant.key)
      expect(res.errors).toBeUndefined()
    }
  })

  test('default: a page of 100 payments selecting every field runs under the default GRAPHQL_MAX_COST', async () => {
    const res = await app.gql(
      `{ payments(first: 100) { edges { cursor node { ${everyPaymentField} } } pageInfo { hasNextPage endCursor } } }`,
      {},
      merchant.key,
    )
    expect(res.errors).toBeUndefined()
    expect(res.data.payments.edges.length).toBe(100)
    expect(res.data.payments.pageInfo.hasNextPage).toBe(true)
  })

  test("default: the checkout's subscription (server-sent events, no key) gets the payment", async () => {
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'devnet',
      asset: 'USDT',
      amount: '3',
    })
    const text = await firstEvent(
      // the checkout page's own document (src/checkout/assets/checkout.js)
      'subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) { ' +
        'status amountDue amountReceived amountRemaining confirmations confirmationsRequired paymentUri expiresAt } }',
      { id: payment.id, secret: payment.clientSecret },
    )
    expect(text).toContain('"status":"PENDING"')
    expect(text).not.toContain('errors')
  })

  test("behavior: a subscription's later events read the payment's transfers afresh (loaders do not keep them for the subscription's life)", async () => {
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'devnet',
      asset: 'USDT',
      amount: '3',
    })
    const controller = new AbortController()
    const res = await app.fetch(
      new Request('http://tollgate.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({
          query:
            'subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) { late confirmations } }',
          variables: { id: payment.id, secret: payment.clientSecret },
        }),
        signal: controller.signal,
      }),
    )
    const stream = readStream(res)
    await stream.until((text) => text.includes('"late":false,"confirmations":0'))
    const txHash = `0x${'ab'.repeat(32)}`
    await app.ctx.db.insert(transfers).values({
      id: newId('trf'),
      chain: 'devnet',
      txHash,
      index: 0,
      asset: payment.asset,
      toAddress: payment.address,
      amount: 1n,
      blockHeight: 119n, // the cursor is at 120: two confirmations
      paymentId: payment.id,
      late: true,
    })
    // the row changes (as a refresh would change it) and the bus says "look again"
    await app.ctx.query("update payments set updated_at = now() + interval '1 second' where id = $1", [
      payment.id,
    ])
    // the subscriber may still be starting to listen: say it until the event comes
    const signal = setInterval(
      () => app.ctx.bus.publish([{ paymentId: payment.id, merchantId: merchant.id, seq: 1, type: 'test' }]),
      100,
    )
    try {
      await stream.until((text) => text.includes('"late":true'))
    } finally {
      clearInterval(signal)
      controller.abort()
    }
    expect(stream.text()).toContain('"late":true,"confirmations":2')
  })
})

/** The first event of a subscription over server-sent events, as text. */
async function firstEvent(query: string, variables: Record<string, unknown>, key?: string): Promise<string> {
  const controller = new AbortController()
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' }
  if (key) headers.authorization = `Bearer ${key}`
  const res = await app.fetch(
    new Request('http://tollgate.test/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      signal: controller.signal,
    }),
  )
  const stream = readStream(res)
  // the first event, past any keep-alive comments
  await stream.until((text) => /\n\n/.test(text.replace(/^:.*\n\n/gm, '')))
  controller.abort()
  return stream.text()
}

/** Reads a streamed response as text until a condition holds; fails if the stream ends first. */
function readStream(res: Response) {
  const reader = res.body!.getReader()
  let text = ''
  return {
    text: () => text,
    async until(done: (text: string) => boolean) {
      while (!done(text)) {
        const chunk = await reader.read()
        if (chunk.done) throw new Error(`the stream ended first; it said: ${text}`)
        text += new TextDecoder().decode(chunk.value)
      }
    },
  }
}

describe('hostile documents', () => {
  const costly = async (query: string, variables: Record<string, unknown> = {}, operationName?: string) => {
    log.reset()
    const res = await gqlNamed(query, variables, operationName)
    const error = onlyError(res)
    expect(error.extensions?.code).toBe('QUERY_TOO_COSTLY')
    expect(error.extensions?.cost as number).toBeGreaterThan(error.extensions?.maxCost as number)
    expect(log.statements).toEqual([])
    return error
  }
  const invalidFirst = async (first: number) => {
    const res = await app.gql(`{ payments(first: ${first}) { edges { node { id } } } }`, {}, merchant.key)
    const error = onlyError(res)
    expect(error.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'first' })
  }

  test('error: first: 2147483647 (the largest Int) is QUERY_TOO_COSTLY, priced at its word', async () => {
    const error = await costly('{ payments(first: 2147483647) { edges { node { id } } } }')
    expect(error.extensions?.cost as number).toBeGreaterThan(2147483647)
  })

  test('error: first: 2147483648 (past Int) is refused by validation before it is priced', async () => {
    const res = await app.gql('{ payments(first: 2147483648) { edges { node { id } } } }', {}, merchant.key)
    expect(onlyError(res).message).toContain('Int cannot represent')
  })

  test('error: first: 1.5e9 (a float) is refused by validation', async () => {
    const res = await app.gql('{ payments(first: 1.5e9) { edges { node { id } } } }', {}, merchant.key)
    expect(onlyError(res).message).toContain('Int cannot represent')
  })

  for (const first of [-1, -2147483648, 0, 101])
    test(`error: first: ${first} is INVALID_INPUT on field first`, async () => {
      await invalidFirst(first)
    })

  test('error: a huge first in a variable is QUERY_TOO_COSTLY (variables are priced too)', async () => {
    await costly('query ($n: Int) { payments(first: $n) { edges { node { id } } } }', { n: 1_000_000 })
  })

  test("error: a huge first in a variable's default is QUERY_TOO_COSTLY", async () => {
    await costly('query ($n: Int = 5000000) { payments(first: $n) { edges { node { id } } } }')
  })

  test('error: a first variable of the wrong type is refused as a bad variable, before anything runs', async () => {
    log.reset()
    const res = await app.gql(
      'query ($n: Int) { payments(first: $n) { edges { node { id } } } }',
      { n: '100' },
      merchant.key,
    )
    expect(onlyError(res).message).toContain('$n')
    expect(log.statements).toEqual([])
  })

  test('error: 20 aliased pages of 100 payments with their events are QUERY_TOO_COSTLY', async () => {
    await costly(aliased(20, 'payments(first: 100) { edges { node { events { seq type } } } }'))
  })

  test('error: the attack hidden in a fragment is priced the same and refused', async () => {
    const inner = Array.from(
      { length: 50 },
      (_, i) =>
        `a${i}: payments(first: 100) { edges { node { id confirmations late transfers { txHash } } } }`,
    ).join(' ')
    await costly(`{ ...Attack } fragment Attack on Query { ${inner} }`)
  })

  test('error: the attack as the named operation of a document with a cheap one is refused', async () => {
    await costly(`query Cheap { me { id } } query Attack ${attack}`, {}, 'Attack')
  })

  test('error: the attack sent as a GET query string is refused the same way', async () => {
    log.reset()
    const res = await app.fetch(
      new Request(`http://tollgate.test/graphql?query=${encodeURIComponent(attack)}`, {
        headers: { authorization: `Bearer ${merchant.key}`, accept: 'application/json' },
      }),
    )
    expect(onlyError((await res.json()) as GqlResponse).extensions?.code).toBe('QUERY_TOO_COSTLY')
    expect(log.statements).toEqual([])
  })

  test('behavior: the cheap operation of that document runs (only the operation asked for is priced)', async () => {
    const res = await gqlNamed(`query Cheap { me { id } } query Attack ${attack}`, {}, 'Cheap')
    expect(res.errors).toBeUndefined()
    expect(res.data.me.id).toBe(merchant.id)
  })

  test('error: 20 aliased pages of 100 withdrawals with their events are QUERY_TOO_COSTLY', async () => {
    await costly(aliased(20, 'withdrawals(first: 100) { edges { node { id txHash events { seq type } } } }'))
  })

  test('error: 20 aliased pages of 100 webhook deliveries with their attempt logs are QUERY_TOO_COSTLY', async () => {
    await costly(
      aliased(
        20,
        'webhookDeliveries(endpointId: "whe_x", first: 100) { edges { node { id attemptLog { attempt statusCode } } } }',
      ),
    )
  })

  test('error: a list nested in the connection past GRAPHQL_MAX_DEPTH is QUERY_TOO_DEEP', async () => {
    const res = await app.gql(
      `{ payments { edges { node { asset { id } transfers { txHash } } } } __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }`,
      {},
      merchant.key,
    )
    expect(onlyError(res).extensions?.code).toBe('QUERY_TOO_DEEP')
  })

  test('behavior: first: null is the default page (20), priced and served as such', async () => {
    const res = await app.gql('{ payments(first: null) { edges { node { id } } } }', {}, merchant.key)
    expect(res.errors).toBeUndefined()
    expect(res.data.payments.edges.length).toBe(20)
  })
})

describe('hostile page arguments on every connection', () => {
  let endpointId: string
  beforeAll(async () => {
    endpointId = newId('whe')
    await app.ctx.db.insert(webhookEndpoints).values({
      id: endpointId,
      merchantId: merchant.id,
      url: 'https://receiver.test/hook',
      secret: 'whsec_x',
    })
    await app.gql('{ me { id } }', {}, merchant.key) // the key is looked up once, before the counting
  })

  const connections = {
    payments: (args: string) => `payments(${args})`,
    withdrawals: (args: string) => `withdrawals(${args})`,
    webhookDeliveries: (args: string) => `webhookDeliveries(endpointId: "${endpointId}", ${args})`,
  }
  const hostileArgs: Array<[string, string]> = [
    ['first: -1', 'first'],
    ['first: 0', 'first'],
    ['first: 101', 'first'],
    ['last: 5', 'last'],
    ['before: "eA"', 'last'],
    ['after: "not a cursor"', 'after'],
    [`after: "${Buffer.from('pay_../../etc').toString('base64url')}"`, 'after'],
  ]
  for (const [name, field] of Object.entries(connections))
    for (const [args, errorField] of hostileArgs)
      test(`error: ${name}(${args.slice(0, 24)}) is INVALID_INPUT on ${errorField}`, async () => {
        log.reset()
        const res = await app.gql(`{ ${field(args)} { edges { node { id } } } }`, {}, merchant.key)
        expect(onlyError(res).extensions).toMatchObject({ code: 'INVALID_INPUT', field: errorField })
        // refused before its page was read (the webhook endpoint's ownership may be checked first)
        expect(log.statements.filter((q) => !q.includes('webhook_endpoints'))).toEqual([])
      })
})

/** POST a document with an operation name (app.gql sends none). */
async function gqlNamed(
  query: string,
  variables: Record<string, unknown>,
  operationName?: string,
): Promise<GqlResponse> {
  const res = await app.fetch(
    new Request('http://tollgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${merchant.key}` },
      body: JSON.stringify({ query, variables, operationName }),
    }),
  )
  return res.json()
}

describe('batching of withdrawals and webhook deliveries', () => {
  test('behavior: a page of withdrawals with their events and tx hashes, and of deliveries with their attempt logs, costs a handful of statements', async () => {
    const seller = await app.merchant('Payouts')
    const ids = Array.from({ length: 30 }, () => newId('wd'))
    const txIds = ids.map(() => newId('otx'))
    await app.ctx.db.insert(outboundTxs).values(
      ids.slice(0, 10).map((_, i) => ({
        id: txIds[i]!,
        chain: 'devnet',
        purpose: 'withdrawal' as const,
        fromAddress: '0x0000000000000000000000000000000000000001',
        fromPath: "m/44'/60'/1'/0/0",
        asset: 'eip155:31337/slip44:60',
        status: 'broadcast' as const,
        unsigned: {},
        maxFee: 1n,
        hash: `0x${String(i).padStart(64, '0')}`,
      })),
    )
    await app.ctx.db.insert(withdrawals).values(
      ids.map((id, i) => ({
        id,
        merchantId: seller.id,
        chain: 'devnet',
        asset: 'eip155:31337/slip44:60',
        toAddress: '0x0000000000000000000000000000000000000002',
        amount: 1n,
        status: i < 10 ? ('BROADCAST' as const) : ('QUEUED' as const),
        idempotencyKey: `k${i}`,
        requestHash: 'h',
        outboundTxId: i < 10 ? txIds[i] : null,
        eventSeq: 2,
      })),
    )
    await app.ctx.db.insert(withdrawalEvents).values(
      ids.flatMap((id) => [
        {
          withdrawalId: id,
          merchantId: seller.id,
          seq: 1,
          type: 'withdrawal.requested',
          toStatus: 'QUEUED' as const,
        },
        {
          withdrawalId: id,
          merchantId: seller.id,
          seq: 2,
          type: 'withdrawal.broadcast',
          fromStatus: 'QUEUED' as const,
          toStatus: 'BROADCAST' as const,
        },
      ]),
    )
    const endpointId = newId('whe')
    await app.ctx.db
      .insert(webhookEndpoints)
      .values({ id: endpointId, merchantId: seller.id, url: 'https://receiver.test/hook', secret: 'whsec_x' })
    const deliveryIds = Array.from({ length: 30 }, () => newId('whd'))
    await app.ctx.db.insert(webhookDeliveries).values(
      deliveryIds.map((id, i) => ({
        id,
        endpointId,
        merchantId: seller.id,
        eventId: `evt_${i}`,
        eventType: 'payment.created',
        payload: {},
        attempts: 2,
      })),
    )
    await app.ctx.db.insert(webhookAttempts).values(
      deliveryIds.flatMap((deliveryId) => [
        { deliveryId, attempt: 1, statusCode: 500, latencyMs: 3 },
        { deliveryId, attempt: 2, statusCode: 200, latencyMs: 2 },
      ]),
    )

    await app.gql('{ me { id } }', {}, seller.key)
    log.reset()
    const res = await app.gql(
      `{ withdrawals(first: 100) { edges { node { id status txHash events { seq type } } } }
         webhookDeliveries(endpointId: "${endpointId}", first: 100) { edges { node { id attemptLog { attempt statusCode } } } } }`,
      {},
      seller.key,
    )
    expect(res.errors).toBeUndefined()
    // withdrawals page, their events, their transactions; the endpoint check, deliveries page, their attempts
    expect(log.statements.length).toBe(6)
    const nodes = res.data.withdrawals.edges.map((e: { node: any }) => e.node)
    expect(nodes.length).toBe(30)
    for (const node of nodes) {
      const i = ids.indexOf(node.id)
      expect(node.txHash).toBe(i < 10 ? `0x${String(i).padStart(64, '0')}` : null)
      expect(node.events).toEqual([
        { seq: 1, type: 'withdrawal.requested' },
        { seq: 2, type: 'withdrawal.broadcast' },
      ])
    }
    const deliveries = res.data.webhookDeliveries.edges.map((e: { node: any }) => e.node)
    expect(deliveries.length).toBe(30)
    for (const d of deliveries)
      expect(d.attemptLog).toEqual([
        { attempt: 1, statusCode: 500 },
        { attempt: 2, statusCode: 200 },
      ])
  })
})

describe('budget per API key', () => {
  // a small budget: 1000 points a minute, one operation at most 800
  let budgeted: TestApp
  // a second API process over the same database and Redis prefix
  let other: { ctx: Awaited<ReturnType<typeof createContext>>; handle: (r: Request) => Promise<Response> }
  let key: string
  let merchantId: string

  /** 2 for the page + 100 × (edges, node, id, amountDue, status): 502 points. */
  const halfBudget = '{ payments(first: 100) { edges { node { id amountDue status } } } }'
  /** 2 + 10 × 3: 32 points. */
  const small = '{ payments(first: 10) { edges { node { id } } } }'

  const post = (handle: (r: Request) => Promise<Response>, query: string, apiKey = key) =>
    handle(
      new Request('http://tollgate.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ query }),
      }),
    )

  beforeAll(async () => {
    budgeted = await createTestApp({ env: { GRAPHQL_COST_BUDGET: '1000', GRAPHQL_MAX_COST: '800' } })
    const ctx = await createContext(budgeted.ctx.env, pino({ level: 'silent' }), {
      role: 'api',
      config: testConfig(),
    })
    other = { ctx, handle: createHttpHandler(ctx).handle }
  })
  afterAll(async () => {
    await other.ctx.close()
    await budgeted.close()
  })

  test("error: the second of two requests over the minute's budget is RATE_LIMITED with a retry-after, in any API process", async () => {
    const owner = await budgeted.merchant('Budget')
    merchantId = owner.id
    key = owner.key
    const first = await post(budgeted.fetch, halfBudget)
    expect(first.status).toBe(200)
    expect(((await first.json()) as GqlResponse).errors).toBeUndefined()

    // 502 + 502 > 1000: refused, here and in the other process (the count is in Redis)
    for (const handle of [budgeted.fetch, other.handle]) {
      const second = await post(handle, halfBudget)
      expect(second.status).toBe(429)
      const retryAfter = Number(second.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(60)
      const error = onlyError((await second.json()) as GqlResponse)
      expect(error.extensions).toMatchObject({
        code: 'RATE_LIMITED',
        limiter: 'cost',
        retryAfter,
        cost: 502,
        budget: 1000,
      })
    }
  })

  test('behavior: a refused operation is not charged: what is left still pays for a smaller one', async () => {
    const res = (await (await post(other.handle, small)).json()) as GqlResponse
    expect(res.errors).toBeUndefined()
    expect(res.data.payments.edges).toEqual([])
  })

  test("behavior: the budget is the key's own: another key of the same merchant still has its whole minute", async () => {
    const second = await createApiKey(budgeted.ctx, { merchantId, name: 'second', scopes: ['payments:read'] })
    const secondKey = second.key
    const res = (await (await post(budgeted.fetch, halfBudget, secondKey)).json()) as GqlResponse
    expect(res.errors).toBeUndefined()
  })

  test('error: an operation costing more than GRAPHQL_MAX_COST is QUERY_TOO_COSTLY and spends nothing', async () => {
    const fresh = (await budgeted.merchant('Budget, costly')).key
    const res = (await (
      await post(
        budgeted.fetch,
        '{ payments(first: 100) { edges { node { id amountDue status late confirmations } } } }',
        fresh,
      )
    ).json()) as GqlResponse
    expect(onlyError(res).extensions).toMatchObject({
      code: 'QUERY_TOO_COSTLY',
      cost: 902,
      maxCost: 800,
    })
    // the whole budget is still there: two operations of 502 would not fit, one does
    expect(
      ((await (await post(budgeted.fetch, halfBudget, fresh)).json()) as GqlResponse).errors,
    ).toBeUndefined()
  })

  test('behavior: requests without a key are not charged to any budget (they can read only what a checkout may)', async () => {
    const res = await budgeted.gql('{ chains { name } }', {}, null)
    expect(res.errors).toBeUndefined()
  })
})
