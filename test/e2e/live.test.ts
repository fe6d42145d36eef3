import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createClient } from 'graphql-ws'
import { Webhook } from 'standardwebhooks'
import { parseEther } from 'viem'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { createTestDatabase } from '../helpers/db.ts'
import {
  createMerchantWithCli,
  type GatewayProcess,
  graphqlClient,
  spawnApi,
  spawnCli,
  spawnWorker,
  waitFor,
} from '../helpers/processes.ts'

let devnet: Devnet
let db: Awaited<ReturnType<typeof createTestDatabase>>
let api: Awaited<ReturnType<typeof spawnApi>>
let worker: GatewayProcess
let env: Record<string, string>
let apiKey: string

beforeAll(async () => {
  devnet = await startDevnet()
  db = await createTestDatabase()
  env = {
    DATABASE_URL: db.url,
    REDIS_PREFIX: `live-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_SEED: gatewayMnemonic,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: devnet.url,
    TEST_CONFIRMATIONS: '2',
    LOG_LEVEL: 'info',
    WEBHOOK_ALLOW_PRIVATE: 'true',
  }
  apiKey = await createMerchantWithCli(env, 'Live shop')
  ;[api, worker] = await Promise.all([spawnApi(env), spawnWorker(env)])
}, 60_000)

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()])
  await devnet?.stop()
  await db?.drop()
})

const gql = (query: string, variables: Record<string, unknown> = {}) =>
  graphqlClient(api.url, apiKey)(query, variables)

async function createPayment(asset: string, amount: string) {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address clientSecret } } } }`,
    { input: { chain: 'devnet', asset, amount } },
  )
  return res.data.createPayment.payment as { id: string; address: string; clientSecret: string }
}

/** Subscribes with graphql-ws's own client and records every status it is sent. */
function watchStatuses(paymentId: string, clientSecret: string) {
  const client = createClient({ url: api.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 })
  const seen: Array<{ status: string; confirmations: number; amountReceived: string }> = []
  const done = new Promise<void>((resolve, reject) => {
    client.subscribe<{ paymentUpdated: { status: string; confirmations: number; amountReceived: string } }>(
      {
        query: `subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) { status confirmations amountReceived } }`,
        variables: { id: paymentId, secret: clientSecret },
      },
      {
        next: (msg) => {
          if (msg.errors) reject(new Error(JSON.stringify(msg.errors)))
          if (msg.data) seen.push(msg.data.paymentUpdated)
          if (msg.data?.paymentUpdated.status === 'COMPLETED') resolve()
        },
        error: reject,
        complete: resolve,
      },
    )
  })
  return { seen, done, close: () => client.dispose() }
}

describe('live status with real processes', () => {
  test('default: a native payment streams PENDING → PROCESSING → COMPLETED to a graphql-ws subscriber', async () => {
    const p = await createPayment('ETH', '0.75')
    const watch = watchStatuses(p.id, p.clientSecret)
    await waitFor('initial state', () => watch.seen.length > 0)
    expect(watch.seen[0]!.status).toBe('PENDING')
    await devnet.payNative(p.address, parseEther('0.75'))
    await waitFor('PROCESSING', () => watch.seen.some((s) => s.status === 'PROCESSING'))
    await devnet.mine(1)
    await watch.done
    watch.close()
    const statuses = watch.seen.map((s) => s.status).filter((s, i, all) => s !== all[i - 1])
    expect(statuses).toEqual(['PENDING', 'PROCESSING', 'COMPLETED'])
    expect(watch.seen.at(-1)).toEqual({ status: 'COMPLETED', confirmations: 2, amountReceived: '0.75' })
  }, 30_000)

  test('default: an ERC-20 payment completes, and the merchant stream sees it too', async () => {
    const merchantClient = createClient({
      url: api.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${apiKey}` },
    })
    const merchantSeen: Array<{ id: string; status: string }> = []
    const unsubscribe = merchantClient.subscribe<{ paymentsUpdated: { id: string; status: string } }>(
      { query: 'subscription { paymentsUpdated { id status } }' },
      {
        next: (m) => m.data && merchantSeen.push(m.data.paymentsUpdated),
        error: () => {},
        complete: () => {},
      },
    )
    await Bun.sleep(300)
    const p = await createPayment('USDT', '25')
    const watch = watchStatuses(p.id, p.clientSecret)
    await waitFor('initial state', () => watch.seen.length > 0)
    await devnet.payToken(p.address, 25_000_000n)
    await devnet.mine(1)
    await watch.done
    watch.close()
    await waitFor('merchant stream', () =>
      merchantSeen.some((m) => m.id === p.id && m.status === 'COMPLETED'),
    )
    unsubscribe()
    await merchantClient.dispose()
    expect(watch.seen.at(-1)?.amountReceived).toBe('25')
  }, 30_000)

  test('default: the merchant server gets signed webhooks for every status the worker moved the payment through', async () => {
    const received: Array<{ body: string; headers: Record<string, string> }> = []
    const server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(req) {
        received.push({ body: await req.text(), headers: Object.fromEntries(req.headers) })
        return new Response('ok')
      },
    })
    try {
      const created = await gql(
        `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { ... on WebhookEndpointWithSecret { secret } } }`,
        {
          input: {
            url: `http://127.0.0.1:${server.port}/`,
            events: ['PAYMENT_CREATED', 'PAYMENT_PROCESSING', 'PAYMENT_COMPLETED'],
          },
        },
      )
      const secret = created.data.createWebhookEndpoint.secret
      const p = await createPayment('ETH', '0.2')
      await devnet.payNative(p.address, parseEther('0.2'))
      await waitFor('processing', async () => {
        const r = await gql(`query ($id: ID!) { payment(id: $id) { status } }`, { id: p.id })
        return r.data.payment.status === 'PROCESSING'
      })
      await devnet.mine(1)
      const mine = () =>
        received
          .map((r) => new Webhook(secret).verify(r.body, r.headers) as any)
          .filter((e) => e.data.id === p.id)
      await waitFor('three webhooks', () => mine().length >= 3, 15_000)
      const events = mine().sort((a, b) => a.sequence - b.sequence)
      expect(events.map((e) => e.type)).toEqual([
        'payment.created',
        'payment.processing',
        'payment.completed',
      ])
      expect(events.map((e) => e.sequence)).toEqual([1, 2, 3])
      expect(events[2].data).toMatchObject({ status: 'COMPLETED', amountReceived: '0.2' })
    } finally {
      server.stop(true)
    }
  }, 30_000)

  test('behavior: SSE delivers the current state to a late subscriber', async () => {
    const p = await createPayment('ETH', '0.01')
    await devnet.payNative(p.address, parseEther('0.01'))
    await devnet.mine(2)
    await waitFor('completion', async () => {
      const r = await gql(`query ($id: ID!) { payment(id: $id) { status } }`, { id: p.id })
      return r.data.payment.status === 'COMPLETED'
    })
    const controller = new AbortController()
    const res = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        query: `subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) { status } }`,
        variables: { id: p.id, secret: p.clientSecret },
      }),
      signal: controller.signal,
    })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = res.body!.getReader()
    let text = ''
    while (!text.includes('COMPLETED')) text += new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    expect(text).toContain('"status":"COMPLETED"')
  }, 30_000)

  test('default: `tollgate chain status` shows the scanned height next to the tip; `chain resume` rescans', async () => {
    await waitFor('scanner caught up', async () => {
      const status = spawnCli(['chain', 'status'], env)
      await status.proc.exited
      const m = /devnet {2}scanned (\d+) {2}tip (\d+) {2}ok/.exec(status.output())
      return m && m[1] === m[2]
    })
    const completed = async () => {
      const list = await gql(
        '{ payments(first: 100) { edges { node { id status amountReceived amountDue } } } }',
      )
      return list.data.payments.edges.map((e: any) => e.node).filter((n: any) => n.status === 'COMPLETED')
    }
    const before = await completed()
    expect(before.length).toBeGreaterThan(0)
    const resume = spawnCli(['chain', 'resume', 'devnet', '--from', '1'], env)
    expect(await resume.proc.exited).toBe(0)
    expect(resume.output()).toContain('devnet: resumes from 1')
    // the worker rescans, revives what it had seen, and nothing is credited twice
    await waitFor('rescan', async () => {
      const status = spawnCli(['chain', 'status'], env)
      await status.proc.exited
      const m = /devnet {2}scanned (\d+) {2}tip (\d+)/.exec(status.output())
      return m && m[1] === m[2]
    })
    const after = await waitFor('completed again', async () => {
      const now = await completed()
      return now.length === before.length && now
    })
    // each was paid exactly its amount once: a rescan that doubled a deposit would show twice the amount
    for (const p of after) expect(p.amountReceived).toBe(p.amountDue)
  }, 30_000)

  test('error: a wrong client secret gets no data', async () => {
    const p = await createPayment('ETH', '1')
    const client = createClient({ url: api.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 })
    const result = await new Promise<any>((resolve) => {
      client.subscribe(
        {
          query: `subscription ($id: ID!) { paymentUpdated(id: $id, clientSecret: "nope") { status address } }`,
          variables: { id: p.id },
        },
        { next: resolve, error: resolve, complete: () => resolve('complete') },
      )
    })
    await client.dispose()
    expect(JSON.stringify(result)).toContain('NOT_FOUND')
    expect(JSON.stringify(result)).not.toContain(p.address)
  }, 15_000)
})
