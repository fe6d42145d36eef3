import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { tooManySocketsCloseCode } from '../../src/graphql-ws.ts'
import { liveLimits } from '../../src/live-limits.ts'
import { createHttpHandler, startServer } from '../../src/server.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type LiveSocket, type LiveStream, openSocket, openSse } from '../helpers/live-client.ts'
import { waitFor } from '../helpers/processes.ts'

// Finding 9: one client cannot hold an unbounded number of live streams. Caps per graphql-ws socket, per client
// address on sockets, and per address on subscriptions over both transports; beyond them a clear refusal, and
// the slots come back as soon as the client lets go.

let app: TestApp
let server: ReturnType<typeof Bun.serve>
let wsUrl: string
let yoga: ReturnType<typeof createHttpHandler>['yoga']
let payment: { id: string; clientSecret: string }
const local = '127.0.0.1'

const perSocket = 3
const socketsPerAddress = 2
const perAddress = 5

const checkoutStream =
  'subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) { id status } }'

beforeAll(async () => {
  app = await createTestApp({
    env: {
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: String(perSocket),
      WS_MAX_CONNECTIONS_PER_IP: String(socketsPerAddress),
      SUBSCRIPTIONS_MAX_PER_IP: String(perAddress),
    },
  })
  server = startServer(app.ctx, { port: 0, hostname: local })
  wsUrl = `ws://${local}:${server.port}/graphql`
  yoga = createHttpHandler(app.ctx).yoga
  const created = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id clientSecret } } } }`,
    { input: { chain: 'devnet', asset: 'ETH', amount: '1' } },
  )
  payment = created.data.createPayment.payment
})
afterAll(async () => {
  server.stop(true)
  await app.close()
})

const opened: Array<{ close(): void }> = []
afterEach(async () => {
  for (const o of opened.splice(0)) o.close()
  // every test starts with all of the address's slots free
  await waitFor('the slots to come back', () => {
    const limits = liveLimits(app.ctx)
    return limits.subscriptionsPerAddress.held(local) === 0 && limits.socketsPerAddress.held(local) === 0
  })
})

async function socket(): Promise<LiveSocket> {
  const s = openSocket(wsUrl)
  opened.push(s)
  await s.ready
  return s
}

function watchPayment(s: LiveSocket): LiveStream {
  return s.subscribe(checkoutStream, { id: payment.id, secret: payment.clientSecret })
}

/** A checkout stream over server-sent events from `clientIp` (what the HTTP server hands yoga per request). */
async function sseFrom(clientIp: string) {
  const controller = new AbortController()
  opened.push({ close: () => controller.abort() })
  const res = await yoga.fetch(
    new Request('http://tollgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        query: checkoutStream,
        variables: { id: payment.id, secret: payment.clientSecret },
      }),
      signal: controller.signal,
    }),
    { requestId: crypto.randomUUID(), clientIp } as never,
  )
  const reader = res.body!.getReader()
  // a client going away: the server's response stream is cancelled
  const close = () => {
    controller.abort()
    reader.cancel().catch(() => {})
  }
  opened.push({ close })
  // the first event past yoga's keep-alive comments
  let text = ''
  while (!/event: (next|complete)\ndata: .*\n\n/.test(text))
    text += new TextDecoder().decode((await reader.read()).value)
  return { first: text, close }
}

const running = (streams: LiveStream[]) => streams.filter((s) => s.data().length > 0 && !s.ended()).length

describe('subscriptions per graphql-ws socket', () => {
  test('error: subscriptions beyond WS_MAX_SUBSCRIPTIONS_PER_CONNECTION get an error with TOO_MANY_SUBSCRIPTIONS; the first ones keep running', async () => {
    const s = await socket()
    const streams = Array.from({ length: perSocket }, () => watchPayment(s))
    await Promise.all(streams.map((x) => x.untilMessages(1)))
    const extra = watchPayment(s)
    await extra.untilEnded()
    expect(extra.messages).toHaveLength(1)
    expect(extra.messages[0]).toMatchObject({
      type: 'error',
      payload: [{ extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit: perSocket } }],
    })
    expect(running(streams)).toBe(perSocket)
    // completing one frees its place on the socket
    streams[0]!.close()
    const again = watchPayment(s)
    await again.untilMessages(1)
    expect(again.data()[0].paymentUpdated.id).toBe(payment.id)
  })

  test('error: 2,000 subscriptions sent at once on one socket: only the cap runs, every other one is refused, and the socket stays usable', async () => {
    const s = await socket()
    const streams = Array.from({ length: 2000 }, () => watchPayment(s))
    await waitFor(
      'every subscription to be answered',
      () => streams.every((x) => x.messages.length > 0),
      15_000,
    )
    const refused = streams.filter((x) => x.errorCodes().includes('TOO_MANY_SUBSCRIPTIONS'))
    expect(refused.length).toBe(2000 - perSocket)
    expect(running(streams)).toBe(perSocket)
    expect(liveLimits(app.ctx).subscriptionsPerAddress.held(local)).toBe(perSocket)
    expect(app.logs.filter((l) => (l.level as number) >= 50)).toEqual([])
  })
})

describe('graphql-ws sockets per address', () => {
  test('error: a socket beyond WS_MAX_CONNECTIONS_PER_IP is closed at once with 1013 and the limit in the reason; closing one lets a new one in', async () => {
    const first = await socket()
    await socket()
    const third = openSocket(wsUrl)
    opened.push(third)
    const closed = await third.closed
    expect(closed.code).toBe(tooManySocketsCloseCode)
    expect(closed.reason).toContain(`at most ${socketsPerAddress}`)
    expect(await third.ready.then(() => 'acknowledged').catch(() => 'refused')).toBe('refused')
    first.close()
    await waitFor(
      'the socket slot to come back',
      () => liveLimits(app.ctx).socketsPerAddress.held(local) === 1,
    )
    const fourth = await socket()
    const stream = watchPayment(fourth)
    await stream.untilMessages(1)
    expect(stream.data()).toHaveLength(1)
  })
})

describe('the address sockets are counted by', () => {
  test('error: a client cannot escape the socket cap by writing X-Forwarded-For (no trusted proxy is configured)', async () => {
    await socket()
    await socket()
    const spoofed = openSocket(wsUrl, undefined, { 'x-forwarded-for': '203.0.113.50' })
    opened.push(spoofed)
    expect((await spoofed.closed).code).toBe(tooManySocketsCloseCode)
  })

  test('behavior: behind a trusted proxy (TRUST_PROXY), each forwarded client has caps of its own', async () => {
    const proxied = await createTestApp({
      env: { WS_MAX_CONNECTIONS_PER_IP: '1', TRUST_PROXY: local },
    })
    const proxiedServer = startServer(proxied.ctx, { port: 0, hostname: local })
    const url = `ws://${local}:${proxiedServer.port}/graphql`
    try {
      const first = openSocket(url, undefined, { 'x-forwarded-for': '203.0.113.1' })
      const other = openSocket(url, undefined, { 'x-forwarded-for': '203.0.113.2' })
      await Promise.all([first.ready, other.ready])
      const again = openSocket(url, undefined, { 'x-forwarded-for': '198.51.100.9, 203.0.113.1' })
      expect((await again.closed).code).toBe(tooManySocketsCloseCode)
      expect(liveLimits(proxied.ctx).socketsPerAddress.held('203.0.113.1')).toBe(1)
      expect(liveLimits(proxied.ctx).socketsPerAddress.held(local)).toBe(0)
      first.close()
      other.close()
    } finally {
      proxiedServer.stop(true)
      await proxied.close()
    }
  })
})

describe('subscriptions per address, over both transports', () => {
  test('error: beyond SUBSCRIPTIONS_MAX_PER_IP across sockets and server-sent events, TOO_MANY_SUBSCRIPTIONS; another address is not affected', async () => {
    const a = await socket()
    const b = await socket()
    const onA = Array.from({ length: perSocket }, () => watchPayment(a))
    const onB = Array.from({ length: perAddress - perSocket }, () => watchPayment(b))
    await Promise.all([...onA, ...onB].map((x) => x.untilMessages(1)))
    const overWs = watchPayment(b)
    await overWs.untilEnded()
    expect(overWs.errorCodes()).toEqual(['TOO_MANY_SUBSCRIPTIONS'])
    const overSse = await sseFrom(local)
    expect(overSse.first).toContain('TOO_MANY_SUBSCRIPTIONS')
    const elsewhere = await sseFrom('198.51.100.7')
    expect(elsewhere.first).toContain(payment.id)
    // the address's streams end: its slots come back, and SSE from it is admitted again
    a.close()
    await waitFor(
      'the address to drop to its socket B streams',
      () => liveLimits(app.ctx).subscriptionsPerAddress.held(local) === perAddress - perSocket,
    )
    const admitted = await sseFrom(local)
    expect(admitted.first).toContain(payment.id)
  })

  test('error: through the HTTP server, server-sent events count against the address too (the server hands yoga the client address)', async () => {
    const a = await socket()
    const b = await socket()
    const full = [
      ...Array.from({ length: perSocket }, () => watchPayment(a)),
      ...Array.from({ length: perAddress - perSocket }, () => watchPayment(b)),
    ]
    await Promise.all(full.map((x) => x.untilMessages(1)))
    const over = openSse(`http://${local}:${server.port}/graphql`, checkoutStream, {
      id: payment.id,
      secret: payment.clientSecret,
    })
    opened.push(over)
    await over.untilEnded()
    expect(over.errorCodes()).toEqual(['TOO_MANY_SUBSCRIPTIONS'])
    a.close()
    await waitFor(
      'the address to drop to its socket B streams',
      () => liveLimits(app.ctx).subscriptionsPerAddress.held(local) === perAddress - perSocket,
    )
    const admitted = openSse(`http://${local}:${server.port}/graphql`, checkoutStream, {
      id: payment.id,
      secret: payment.clientSecret,
    })
    opened.push(admitted)
    await admitted.untilMessages(1)
    expect(admitted.data()[0].paymentUpdated.id).toBe(payment.id)
    expect(liveLimits(app.ctx).subscriptionsPerAddress.held(local)).toBe(perAddress - perSocket + 1)
  })

  test('behavior: slots come back however a client lets go (complete, socket closed, SSE aborted): 30 rounds later a full set is still admitted', async () => {
    for (let round = 0; round < 30; round++) {
      const s = await socket()
      const streams = Array.from({ length: perSocket }, () => watchPayment(s))
      await Promise.all(streams.map((x) => x.untilMessages(1)))
      streams[0]!.close() // complete
      const sse = await sseFrom(local)
      sse.close() // abort
      s.close() // the rest, by closing the socket
    }
    await waitFor('every slot back', () => liveLimits(app.ctx).subscriptionsPerAddress.held(local) === 0)
    const a = await socket()
    const b = await socket()
    const full = [
      ...Array.from({ length: perSocket }, () => watchPayment(a)),
      ...Array.from({ length: perAddress - perSocket }, () => watchPayment(b)),
    ]
    await Promise.all(full.map((x) => x.untilMessages(1)))
    expect(running(full)).toBe(perAddress)
  })

  test('behavior: refusals are logged at info, with the limit, never as errors', async () => {
    const before = app.logs.length
    const s = await socket()
    const streams = Array.from({ length: perSocket + 2 }, () => watchPayment(s))
    await waitFor('every subscription answered', () => streams.every((x) => x.messages.length > 0))
    const lines = app.logs.slice(before)
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([])
    const refusals = lines.filter((l) => String(l.msg).startsWith('subscription refused'))
    expect(refusals).toHaveLength(2)
    for (const line of refusals) expect(line).toMatchObject({ level: 30, limit: perSocket })
  })
})
