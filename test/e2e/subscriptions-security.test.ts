import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApiKey } from '../../src/core/access/api-keys.ts'
import { startServer } from '../../src/server.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type LiveStream, openSocket, openSse } from '../helpers/live-client.ts'
import { waitFor } from '../helpers/processes.ts'

// Who may watch what, live: keys are checked when a subscription starts and for as long as it runs (a revoked
// or expired key ends its streams on every transport); a checkout's client secret opens the payer's view of one
// payment and nothing of the merchant's.

let app: TestApp
let server: ReturnType<typeof Bun.serve>
let wsUrl: string
let httpUrl: string
let shop: { id: string; key: string }
let rival: { id: string; key: string }
let payment: { id: string; clientSecret: string; address: string }

const merchantStream = 'subscription { paymentsUpdated { id status orderId metadata } }'
const checkoutStream = `subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) {
  id status chain amountDue amountReceived amountRemaining confirmations confirmationsRequired address paymentUri
  expiresAt asset { symbol decimals } } }`

beforeAll(async () => {
  app = await createTestApp()
  server = startServer(app.ctx, { port: 0, hostname: '127.0.0.1' })
  wsUrl = `ws://127.0.0.1:${server.port}/graphql`
  httpUrl = `http://127.0.0.1:${server.port}/graphql`
  shop = await app.merchant('Shop')
  rival = await app.merchant('Rival')
  const created = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id clientSecret address } } } }`,
    {
      input: {
        chain: 'devnet',
        asset: 'USDT',
        amount: '10',
        orderId: 'order-secret-42',
        metadata: { vip: 'yes' },
      },
    },
    shop.key,
  )
  payment = created.data.createPayment.payment
})
afterAll(async () => {
  server.stop(true)
  await app.close()
})

/** Tells subscribers of the shop's payment to look again (what the worker does after a change). */
function signal() {
  app.ctx.bus.publish([{ paymentId: payment.id, merchantId: shop.id, seq: 1, type: 'payment.created' }])
}

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

async function revoke(id: string) {
  const res = await app.gql(
    'mutation ($id: ID!) { revokeApiKey(id: $id) { ... on RevokeApiKeyPayload { id } ... on UserError { code } } }',
    { id },
    shop.key,
  )
  expect(res.data.revokeApiKey).toEqual({ id })
}

/** Both transports, with `key`: a graphql-ws socket and a server-sent events stream. */
async function bothTransports(query: string, key?: string, variables: Record<string, unknown> = {}) {
  const socket = openSocket(wsUrl, key ? `Bearer ${key}` : undefined)
  await socket.ready
  return {
    ws: socket.subscribe(query, variables),
    sse: openSse(httpUrl, query, variables, key),
    close: () => socket.close(),
  }
}

/**
 * Proof that `streams` got nothing more: a fresh stream with a valid key receives the next signal, and the
 * same Redis message would have reached the others.
 */
async function expectNothingMoreAfter(streams: LiveStream[]) {
  const counts = streams.map((s) => s.messages.length)
  const witness = (await bothTransports(merchantStream, shop.key)).ws
  // the witness is live once it has heard a signal
  await waitFor('the witness stream to hear a signal', async () => {
    signal()
    await Bun.sleep(50)
    return witness.data().length > 0
  })
  witness.close()
  expect(streams.map((s) => s.messages.length)).toEqual(counts)
}

describe('revocation and expiry end live streams (finding 1)', () => {
  test('behavior: revoking a key ends its open paymentsUpdated streams on graphql-ws and SSE with UNAUTHENTICATED, without waiting for an event', async () => {
    const watcher = await shopKey(['PAYMENTS_READ'])
    const { ws, sse, close } = await bothTransports(merchantStream, watcher.key)
    await waitFor('both streams to carry an event', async () => {
      signal()
      await Bun.sleep(50)
      return ws.data().length > 0 && sse.data().length > 0
    })
    expect(ws.data()[0].paymentsUpdated).toMatchObject({ id: payment.id, orderId: 'order-secret-42' })
    await revoke(watcher.id)
    // no signal is sent: the revocation alone ends them
    await Promise.all([ws.untilEnded(), sse.untilEnded()])
    expect(ws.errorCodes()).toContain('UNAUTHENTICATED')
    expect(sse.errorCodes()).toContain('UNAUTHENTICATED')
    await expectNothingMoreAfter([ws, sse])
    close()
  })

  test('behavior: a key that expires ends its open streams at its expiry, and then fails to authenticate', async () => {
    const expiresAt = new Date(Date.now() + 1500)
    const expiring = await createApiKey(app.ctx, {
      merchantId: shop.id,
      scopes: ['payments:read'],
      expiresAt,
    })
    const { ws, sse, close } = await bothTransports(merchantStream, expiring.key)
    await waitFor('both streams to carry an event', async () => {
      signal()
      await Bun.sleep(50)
      return ws.data().length > 0 && sse.data().length > 0
    })
    await Promise.all([ws.untilEnded(), sse.untilEnded()])
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt.getTime())
    expect(ws.errorCodes()).toContain('UNAUTHENTICATED')
    expect(sse.errorCodes()).toContain('UNAUTHENTICATED')
    const after = await app.gql('{ me { id } }', {}, expiring.key)
    expect(after.errors[0].extensions.code).toBe('UNAUTHENTICATED')
    close()
  })

  test('behavior: when the revocation channel is re-established (cache emptied), open streams recheck their key: one revoked unheard ends', async () => {
    const watcher = await shopKey(['PAYMENTS_READ'])
    const { ws, sse, close } = await bothTransports(merchantStream, watcher.key)
    await waitFor('both streams to carry an event', async () => {
      signal()
      await Bun.sleep(50)
      return ws.data().length > 0 && sse.data().length > 0
    })
    // revoked behind the gateway's back: no NOTIFY is sent
    await app.ctx.query('update api_keys set revoked_at = now() where id = $1', [watcher.id])
    app.ctx.authCache.clear()
    await Promise.all([ws.untilEnded(), sse.untilEnded()])
    expect(ws.errorCodes()).toContain('UNAUTHENTICATED')
    expect(sse.errorCodes()).toContain('UNAUTHENTICATED')
    close()
  })

  test('behavior: every event rechecks the key: one revoked unheard, once out of the cache, gets no further event', async () => {
    const watcher = await shopKey(['PAYMENTS_READ'])
    const { ws, sse, close } = await bothTransports(merchantStream, watcher.key)
    await waitFor('both streams to carry an event', async () => {
      signal()
      await Bun.sleep(50)
      return ws.data().length > 0 && sse.data().length > 0
    })
    const counts = [ws.data().length, sse.data().length]
    await app.ctx.query('update api_keys set revoked_at = now() where id = $1', [watcher.id])
    // the entry leaves the cache without a revocation being heard (its TTL, or the cache being full)
    const get = app.ctx.authCache.get
    app.ctx.authCache.get = () => undefined
    try {
      signal()
      await Promise.all([ws.untilEnded(), sse.untilEnded()])
    } finally {
      app.ctx.authCache.get = get
    }
    expect([ws.data().length, sse.data().length]).toEqual(counts)
    expect(ws.errorCodes()).toContain('UNAUTHENTICATED')
    close()
  })

  test('behavior: revoking one key leaves the streams of the merchant’s other keys running', async () => {
    const kept = await shopKey(['PAYMENTS_READ'])
    const gone = await shopKey(['PAYMENTS_READ'])
    const keptStreams = await bothTransports(merchantStream, kept.key)
    const goneStreams = await bothTransports(merchantStream, gone.key)
    await revoke(gone.id)
    await Promise.all([goneStreams.ws.untilEnded(), goneStreams.sse.untilEnded()])
    const before = keptStreams.ws.data().length
    await waitFor('the kept streams to carry an event', async () => {
      signal()
      await Bun.sleep(50)
      return keptStreams.ws.data().length > before && keptStreams.sse.data().length > 0
    })
    expect(keptStreams.ws.ended()).toBe(false)
    expect(keptStreams.sse.ended()).toBe(false)
    keptStreams.close()
    keptStreams.sse.close()
    goneStreams.close()
  })
})

describe('a client secret opens the checkout view only (finding 2)', () => {
  test('error: another merchant’s key with a payment’s client secret opens none of its private fields', async () => {
    for (const key of [rival.key, shop.key, undefined]) {
      const { ws, sse, close } = await bothTransports(
        `subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) {
          id orderId metadata clientSecret events { seq type } } }`,
        key,
        { id: payment.id, secret: payment.clientSecret },
      )
      await Promise.all([ws.untilEnded(), sse.untilEnded()])
      for (const stream of [ws, sse]) {
        const seen = JSON.stringify(stream.messages)
        expect(seen).not.toContain('order-secret-42')
        expect(seen).not.toContain('vip')
        expect(seen).not.toContain(payment.clientSecret)
        expect(stream.data()).toEqual([])
        expect(stream.errorCodes().length).toBeGreaterThan(0)
      }
      close()
    }
  })

  test('default: paymentUpdated streams the checkout fields, with or without a key, whoever’s key it is', async () => {
    for (const key of [undefined, rival.key, shop.key]) {
      const { ws, sse, close } = await bothTransports(checkoutStream, key, {
        id: payment.id,
        secret: payment.clientSecret,
      })
      await Promise.all([ws.untilMessages(1), sse.untilMessages(1)])
      for (const stream of [ws, sse]) {
        const view = stream.data()[0].paymentUpdated
        expect(view).toMatchObject({
          id: payment.id,
          status: 'PENDING',
          chain: 'devnet',
          amountDue: '10',
          amountReceived: '0',
          amountRemaining: '10',
          confirmations: 0,
          confirmationsRequired: 3,
          address: payment.address,
          asset: { symbol: 'USDT', decimals: 6 },
        })
        expect(view.paymentUri).toContain(payment.address)
        expect(Date.parse(view.expiresAt)).toBeGreaterThan(Date.now())
      }
      ws.close()
      sse.close()
      close()
    }
  })

  test('error: a wrong client secret, another payment’s secret or an unknown id is NOT_FOUND on both transports', async () => {
    const other = await app.gql(
      `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
        ... on CreatePaymentPayload { payment { id clientSecret } } } }`,
      { input: { chain: 'devnet', asset: 'ETH', amount: '1' } },
      rival.key,
    )
    const theirs = other.data.createPayment.payment
    for (const variables of [
      { id: payment.id, secret: 'nope' },
      { id: payment.id, secret: theirs.clientSecret },
      { id: 'pay_unknown', secret: payment.clientSecret },
      { id: payment.id, secret: '' },
      { id: payment.id, secret: 'x'.repeat(10_000) },
    ]) {
      const { ws, sse, close } = await bothTransports(checkoutStream, undefined, variables)
      await Promise.all([ws.untilEnded(), sse.untilEnded()])
      for (const stream of [ws, sse]) {
        expect(stream.errorCodes()).toEqual(['NOT_FOUND'])
        expect(JSON.stringify(stream.messages)).not.toContain(payment.address)
      }
      close()
    }
  })
})

describe('scopes are checked when a subscription starts (finding 7)', () => {
  test('error: a key without payments:read is refused paymentsUpdated up front with FORBIDDEN, and hears nothing after', async () => {
    const webhooksOnly = await shopKey(['WEBHOOKS_WRITE'])
    const { ws, sse, close } = await bothTransports(merchantStream, webhooksOnly.key)
    // no signal is sent: the refusal comes before any event
    await Promise.all([ws.untilEnded(), sse.untilEnded()])
    expect(ws.errorCodes()).toEqual(['FORBIDDEN'])
    expect(sse.errorCodes()).toEqual(['FORBIDDEN'])
    expect(ws.data().filter((d) => d?.paymentsUpdated)).toEqual([])
    await expectNothingMoreAfter([ws, sse])
    close()
  })

  test('behavior: the scope is rechecked at every event: a key whose scopes lost payments:read gets no further event', async () => {
    const watcher = await shopKey(['PAYMENTS_READ'])
    const { ws, sse, close } = await bothTransports(merchantStream, watcher.key)
    await waitFor('both streams to carry an event', async () => {
      signal()
      await Bun.sleep(50)
      return ws.data().length > 0 && sse.data().length > 0
    })
    const counts = [ws.data().length, sse.data().length]
    await app.ctx.query(`update api_keys set scopes = '{webhooks:write}' where id = $1`, [watcher.id])
    app.ctx.authCache.evict(watcher.id)
    await Promise.all([ws.untilEnded(), sse.untilEnded()])
    expect([ws.data().length, sse.data().length]).toEqual(counts)
    expect(ws.errorCodes()).toContain('FORBIDDEN')
    expect(sse.errorCodes()).toContain('FORBIDDEN')
    close()
  })
})

describe('unauthenticated subscriptions (finding 8)', () => {
  test('error: paymentsUpdated without a key, with a malformed, unknown or revoked key is UNAUTHENTICATED, logged at info without a stack', async () => {
    const revoked = await shopKey(['PAYMENTS_READ'])
    await revoke(revoked.id)
    const logsBefore = app.logs.length
    for (const key of [undefined, 'not-a-key', `tg_0123456789abcdef_${'A'.repeat(43)}`, revoked.key]) {
      const { ws, sse, close } = await bothTransports(merchantStream, key)
      await Promise.all([ws.untilEnded(), sse.untilEnded()])
      expect(ws.errorCodes()).toEqual(['UNAUTHENTICATED'])
      expect(sse.errorCodes()).toEqual(['UNAUTHENTICATED'])
      expect(JSON.stringify([ws.messages, sse.messages])).not.toContain('INTERNAL_SERVER_ERROR')
      close()
    }
    const logs = app.logs.slice(logsBefore)
    expect(logs.filter((l) => (l.level as number) >= 40)).toEqual([])
    const refusals = logs.filter((l) => l.code === 'UNAUTHENTICATED')
    expect(refusals.length).toBe(8)
    for (const line of refusals) {
      expect(line.level).toBe(30)
      expect(JSON.stringify(line)).not.toContain('stack')
    }
  })
})
