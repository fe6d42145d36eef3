import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { withdrawals } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import { liveLimits } from '../../src/live-limits.ts'
import { startServer } from '../../src/server.ts'
import type { TestApp } from '../helpers/app.ts'
import type { Devnet } from '../helpers/chain.ts'
import { startDevnetApp } from '../helpers/devnet-app.ts'
import { type LiveStream, openSocket, openSse } from '../helpers/live-client.ts'
import { waitFor } from '../helpers/processes.ts'

// A withdrawal's life, live: the API process that requests, approves or cancels it and the payout pass that
// batches, sends and confirms it each signal the change once committed; subscribers read the withdrawal again.

let devnet: Devnet
let app: TestApp
let server: ReturnType<typeof Bun.serve>
let wsUrl: string
let httpUrl: string
let shop: { id: string; key: string }
let rival: { id: string; key: string }
/** A withdrawal of each merchant, whose signals show that a merchant's stream is listening. */
let shopWitness: { id: string; merchantId: string }
let rivalWitness: { id: string; merchantId: string }

const recipient = privateKeyToAccount(`0x${'5'.repeat(64)}` as Hex).address

const oneStream = `subscription ($id: ID!) { withdrawalUpdated(id: $id) { id status amount to events { toStatus } } }`
const merchantStream = 'subscription { withdrawalsUpdated { id status events { toStatus } } }'

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp(
    { confirmations: 2 },
    // above 5 ETH a second admin approves: the withdrawal passes through AWAITING_APPROVAL
    { payouts: { mode: 'batch', maxBatch: 50, approvalAbove: { ETH: '5' } }, sweeps: { enabled: false } },
  ))
  server = startServer(app.ctx, { port: 0, hostname: '127.0.0.1' })
  wsUrl = `ws://127.0.0.1:${server.port}/graphql`
  httpUrl = `http://127.0.0.1:${server.port}/graphql`
  shop = await app.merchant('Payout shop')
  rival = await app.merchant('Rival shop')
  // balances are credited through the real path: paid on chain, scanned, confirmed
  for (const [merchant, amount] of [
    [shop, '10'],
    [rival, '1'],
  ] as const) {
    const created = await app.gql(
      `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
        ... on CreatePaymentPayload { payment { address } } } }`,
      { input: { chain: 'devnet', asset: 'ETH', amount } },
      merchant.key,
    )
    await devnet.payNative(created.data.createPayment.payment.address, parseEther(amount))
  }
  await devnet.mine(2)
  await syncChain(
    { db: app.ctx.db, log: app.ctx.log, scanner: newScannerState() },
    app.ctx.chains.get('devnet')!,
  )
  // the operator funds the hot wallet the payouts are sent from
  await devnet.payNative(
    roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury').address,
    parseEther('20'),
  )
  shopWitness = { id: await request('0.1', 'witness'), merchantId: shop.id }
  rivalWitness = { id: await request('0.1', 'witness', rival.key), merchantId: rival.id }
}, 60_000)
afterAll(async () => {
  server?.stop(true)
  await app?.close()
  await devnet?.stop()
})

/** A new key of the shop, made through the API by its admin key. */
async function shopKey(scopes: string[]): Promise<{ id: string; key: string }> {
  const res = await app.gql(
    `mutation ($name: String!, $scopes: [ApiKeyScope!]!) {
      createApiKey(name: $name, scopes: $scopes) { ... on ApiKeyCreated { key apiKey { id } } } }`,
    { name: 'watcher', scopes },
    shop.key,
  )
  return { id: res.data.createApiKey.apiKey.id, key: res.data.createApiKey.key }
}

/** Both transports, with `key`: a graphql-ws socket and a server-sent events stream. */
async function bothTransports(query: string, key: string, variables: Record<string, unknown> = {}) {
  const socket = openSocket(wsUrl, `Bearer ${key}`)
  await socket.ready
  return {
    ws: socket.subscribe(query, variables),
    sse: openSse(httpUrl, query, variables, key),
    close: () => socket.close(),
  }
}

async function request(amount: string, idempotencyKey: string, key = shop.key): Promise<string> {
  const res = await app.gql(
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
      ... on RequestWithdrawalPayload { withdrawal { id } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', to: recipient, amount, idempotencyKey } },
    key,
  )
  const id = res.data.requestWithdrawal.withdrawal?.id
  if (!id) throw new Error(JSON.stringify(res))
  return id
}

const statusOf = async (id: string) =>
  (await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, id)))[0]!.status

/** The statuses a stream was sent for one withdrawal, in order. */
const statusesSeen = (stream: LiveStream, field: string, id: string) =>
  stream
    .data()
    .map((d) => d[field])
    .filter((w) => w.id === id)
    .map((w) => w.status)

/**
 * Waits until `streams` of withdrawalsUpdated listen: the witness is signalled again (as the worker would) until
 * every stream was sent it.
 */
async function untilListening(streams: LiveStream[], witness: { id: string; merchantId: string }) {
  await waitFor('the streams to listen', async () => {
    app.ctx.bus.publishWithdrawals([
      { ...witnessChange, withdrawalId: witness.id, merchantId: witness.merchantId },
    ])
    await Bun.sleep(50)
    return streams.every((s) => statusesSeen(s, 'withdrawalsUpdated', witness.id).length > 0)
  })
}
const witnessChange = { seq: 1, type: 'withdrawal.requested' }

describe('live withdrawals', () => {
  test('default: a withdrawal requested, approved, batched, broadcast and confirmed reaches graphql-ws and SSE subscribers after every step, in order, with its whole history; the other merchant sees none of it', async () => {
    const merchant = await bothTransports(merchantStream, shop.key)
    const rivalMerchant = await bothTransports(merchantStream, rival.key)
    await untilListening([merchant.ws, merchant.sse], shopWitness)
    await untilListening([rivalMerchant.ws, rivalMerchant.sse], rivalWitness)
    const id = await request('6', 'live-1')
    await waitFor('the merchant streams to hear the request', () =>
      [merchant.ws, merchant.sse].every((s) => statusesSeen(s, 'withdrawalsUpdated', id).length > 0),
    )
    const one = await bothTransports(oneStream, shop.key, { id })
    const streams = [
      { stream: one.ws, field: 'withdrawalUpdated' },
      { stream: one.sse, field: 'withdrawalUpdated' },
      { stream: merchant.ws, field: 'withdrawalsUpdated' },
      { stream: merchant.sse, field: 'withdrawalsUpdated' },
    ]
    const allSaw = (status: string) =>
      waitFor(`every subscriber to see ${status}`, () =>
        streams.every(({ stream, field }) => statusesSeen(stream, field, id).at(-1) === status),
      )
    // the current state comes first on withdrawalUpdated
    await allSaw('AWAITING_APPROVAL')
    expect(one.ws.data()[0].withdrawalUpdated).toEqual({
      id,
      status: 'AWAITING_APPROVAL',
      amount: '6',
      to: recipient,
      events: [{ toStatus: 'AWAITING_APPROVAL' }],
    })
    const checkpoints = ['AWAITING_APPROVAL']

    const approver = await shopKey(['ADMIN'])
    const approved = await app.gql(
      'mutation ($id: ID!) { approveWithdrawal(id: $id) { ... on Withdrawal { status } ... on UserError { code } } }',
      { id },
      approver.key,
    )
    expect(approved.data.approveWithdrawal).toEqual({ status: 'QUEUED' })
    await allSaw('QUEUED')
    checkpoints.push('QUEUED')

    // one payout pass at a time, its changes seen by every subscriber before the next pass
    for (let pass = 0; (await statusOf(id)) !== 'CONFIRMED'; pass++) {
      if (pass > 30) throw new Error(`the withdrawal did not confirm (${await statusOf(id)})`)
      const before = await statusOf(id)
      await processPayouts(app.ctx, 'devnet')
      const after = await statusOf(id)
      if (after === before) {
        await devnet.mine(1)
        continue
      }
      await allSaw(after)
      checkpoints.push(after)
    }

    // every state the withdrawal was left in between steps was sent, once, in order, on every stream; a pass
    // that batches and broadcasts it sends BROADCAST, whose history holds the BATCHED step
    const lifecycle = ['AWAITING_APPROVAL', 'QUEUED', 'BATCHED', 'BROADCAST', 'CONFIRMED']
    expect(checkpoints.filter((c) => !lifecycle.includes(c))).toEqual([])
    expect(checkpoints).toEqual(lifecycle.filter((c) => checkpoints.includes(c)))
    expect(checkpoints.slice(0, 2)).toEqual(['AWAITING_APPROVAL', 'QUEUED'])
    expect(checkpoints.at(-1)).toBe('CONFIRMED')
    for (const { stream, field } of streams) {
      expect(statusesSeen(stream, field, id)).toEqual(checkpoints)
      expect(
        stream
          .data()
          .at(-1)
          [field].events.map((e: { toStatus: string }) => e.toStatus),
      ).toEqual(lifecycle)
      expect(stream.ended()).toBe(false)
    }
    // the rival's streams listened all along, and heard its own withdrawal go out in the same passes
    await waitFor('the rival streams to see their own withdrawal confirmed', () =>
      [rivalMerchant.ws, rivalMerchant.sse].every(
        (stream) => statusesSeen(stream, 'withdrawalsUpdated', rivalWitness.id).at(-1) === 'CONFIRMED',
      ),
    )
    for (const stream of [rivalMerchant.ws, rivalMerchant.sse])
      expect(stream.data().map((d) => d.withdrawalsUpdated.id)).not.toContain(id)
    for (const s of [merchant, rivalMerchant, one]) {
      s.ws.close()
      s.sse.close()
      s.close()
    }
  }, 60_000)

  test('default: a withdrawal canceled through the API is seen canceled on withdrawalUpdated and withdrawalsUpdated', async () => {
    const merchant = await bothTransports(merchantStream, shop.key)
    await untilListening([merchant.ws, merchant.sse], shopWitness)
    const id = await request('0.5', 'live-cancel')
    const one = await bothTransports(oneStream, shop.key, { id })
    await waitFor('the current state', () =>
      [one.ws, one.sse].every((s) => statusesSeen(s, 'withdrawalUpdated', id).length > 0),
    )
    const canceled = await app.gql(
      'mutation ($id: ID!) { cancelWithdrawal(id: $id) { ... on Withdrawal { status } } }',
      { id },
      shop.key,
    )
    expect(canceled.data.cancelWithdrawal).toEqual({ status: 'CANCELED' })
    await waitFor('every subscriber to see CANCELED', () =>
      [
        statusesSeen(one.ws, 'withdrawalUpdated', id),
        statusesSeen(one.sse, 'withdrawalUpdated', id),
        statusesSeen(merchant.ws, 'withdrawalsUpdated', id),
        statusesSeen(merchant.sse, 'withdrawalsUpdated', id),
      ].every((seen) => seen.at(-1) === 'CANCELED'),
    )
    expect(statusesSeen(one.ws, 'withdrawalUpdated', id)).toEqual(['QUEUED', 'CANCELED'])
    expect(statusesSeen(merchant.sse, 'withdrawalsUpdated', id)).toEqual(['QUEUED', 'CANCELED'])
    for (const s of [merchant, one]) {
      s.ws.close()
      s.sse.close()
      s.close()
    }
  }, 30_000)

  test("behavior: another merchant's key gets NOT_FOUND for the shop's withdrawal on both transports", async () => {
    const id = await request('0.25', 'live-rival')
    const { ws, sse, close } = await bothTransports(oneStream, rival.key, { id })
    await Promise.all([ws.untilEnded(), sse.untilEnded()])
    expect(ws.errorCodes()).toEqual(['NOT_FOUND'])
    expect(sse.errorCodes()).toEqual(['NOT_FOUND'])
    expect([ws.data(), sse.data()]).toEqual([[], []])
    close()
  })

  test('behavior: a key without payments:read is refused both subscriptions with FORBIDDEN', async () => {
    const id = await request('0.25', 'live-viewer')
    const writer = await shopKey(['WEBHOOKS_WRITE'])
    for (const [query, variables] of [
      [oneStream, { id }],
      [merchantStream, {}],
    ] as const) {
      const { ws, sse, close } = await bothTransports(query, writer.key, variables)
      await Promise.all([ws.untilEnded(), sse.untilEnded()])
      expect(ws.errorCodes()).toEqual(['FORBIDDEN'])
      expect(sse.errorCodes()).toEqual(['FORBIDDEN'])
      close()
    }
  })

  test('behavior: revoking the key ends its withdrawalsUpdated and withdrawalUpdated streams with UNAUTHENTICATED, without waiting for a change', async () => {
    const id = await request('0.25', 'live-revoke')
    const watcher = await shopKey(['PAYMENTS_READ'])
    const merchant = await bothTransports(merchantStream, watcher.key)
    const one = await bothTransports(oneStream, watcher.key, { id })
    await waitFor('the current state', () =>
      [one.ws, one.sse].every((s) => statusesSeen(s, 'withdrawalUpdated', id).length > 0),
    )
    const revoked = await app.gql(
      'mutation ($id: ID!) { revokeApiKey(id: $id) { ... on RevokeApiKeyPayload { id } } }',
      { id: watcher.id },
      shop.key,
    )
    expect(revoked.data.revokeApiKey).toEqual({ id: watcher.id })
    const streams = [merchant.ws, merchant.sse, one.ws, one.sse]
    await Promise.all(streams.map((s) => s.untilEnded()))
    for (const s of streams) expect(s.errorCodes()).toContain('UNAUTHENTICATED')
    merchant.close()
    one.close()
  })

  test('behavior: withdrawal streams hold subscription slots of their address while open, on both transports, and give them back', async () => {
    const held = () => liveLimits(app.ctx).subscriptionsPerAddress.held('127.0.0.1')
    await waitFor('no slot held', () => held() === 0)
    const merchant = await bothTransports(merchantStream, shop.key)
    const one = await bothTransports(oneStream, shop.key, { id: shopWitness.id })
    await untilListening([merchant.ws, merchant.sse], shopWitness)
    await waitFor('the current state', () =>
      [one.ws, one.sse].every((s) => statusesSeen(s, 'withdrawalUpdated', shopWitness.id).length > 0),
    )
    expect(held()).toBe(4)
    for (const s of [merchant, one]) {
      s.ws.close()
      s.sse.close()
      s.close()
    }
    await waitFor('the slots to come back', () => held() === 0)
  })
})
