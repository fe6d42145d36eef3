import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createPaymentBus, type PaymentBus } from '../../src/pubsub.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { type LiveStream, openSocket, openSse } from '../helpers/live-client.ts'
import { createMerchantWithCli, graphqlClient, spawnApi, spawnCli, waitFor } from '../helpers/processes.ts'
import { clearRedisPrefix } from '../helpers/redis.ts'

// Finding 1 across processes: a revocation made anywhere (another API process, the operator's command line)
// ends the key's open streams in every API process, on both transports, without waiting for an event.

let db: Awaited<ReturnType<typeof createTestDatabase>>
let env: Record<string, string>
let apis: Array<Awaited<ReturnType<typeof spawnApi>>> = []
let adminKey: string
let merchantId: string
let paymentId: string
let bus: PaymentBus
const redisPrefix = `revocation-${crypto.randomUUID().slice(0, 8)}`

beforeAll(async () => {
  db = await createTestDatabase()
  env = {
    DATABASE_URL: db.url,
    REDIS_PREFIX: redisPrefix,
    TOLLGATE_SEED: 'test test test test test test test test test test test junk',
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: 'http://127.0.0.1:9',
    ADDRESS_POOL_SIZE: '5',
    LOG_LEVEL: 'warn',
  }
  adminKey = await createMerchantWithCli(env, 'Two processes')
  apis = await Promise.all([spawnApi(env), spawnApi(env)])
  const gql = graphqlClient(apis[0]!.url, adminKey)
  merchantId = (await gql('{ me { id } }')).data.me.id
  const created = await gql(
    `mutation { createPayment(input: { chain: "devnet", asset: "ETH", amount: "1", orderId: "o-1" }) {
      ... on CreatePaymentPayload { payment { id } } } }`,
  )
  paymentId = created.data.createPayment.payment.id
  bus = createPaymentBus('redis://127.0.0.1:6379', redisPrefix)
}, 60_000)

afterAll(async () => {
  bus?.close()
  await Promise.all(apis.map((a) => a.stop()))
  await db?.drop()
  await clearRedisPrefix('redis://127.0.0.1:6379', redisPrefix)
})

const merchantStream = 'subscription { paymentsUpdated { id orderId } }'

/** A payments:read key, made through the API. */
async function readKey(): Promise<{ id: string; key: string }> {
  const res = await graphqlClient(
    apis[1]!.url,
    adminKey,
  )(
    `mutation { createApiKey(name: "watcher", scopes: [PAYMENTS_READ]) { ... on ApiKeyCreated { key apiKey { id } } } }`,
  )
  return { id: res.data.createApiKey.apiKey.id, key: res.data.createApiKey.key }
}

/** Streams with `key` on `api`, over graphql-ws and SSE, once both have carried an event. */
async function liveStreams(api: { url: string; wsUrl: string }, key: string) {
  const socket = openSocket(api.wsUrl, `Bearer ${key}`)
  await socket.ready
  const ws = socket.subscribe(merchantStream)
  const sse = openSse(`${api.url}/graphql`, merchantStream, {}, key)
  await waitFor('both streams to carry an event', async () => {
    bus.publish([{ paymentId, merchantId, seq: 1, type: 'payment.created' }])
    await Bun.sleep(50)
    return ws.data().length > 0 && sse.data().length > 0
  })
  expect(ws.data()[0].paymentsUpdated).toEqual({ id: paymentId, orderId: 'o-1' })
  return { ws, sse, close: () => socket.close() }
}

async function expectEndedUnauthenticated(streams: LiveStream[]) {
  await Promise.all(streams.map((s) => s.untilEnded()))
  for (const s of streams) expect(s.errorCodes()).toContain('UNAUTHENTICATED')
}

describe('revocation reaches every API process', () => {
  test('behavior: a key revoked through the other API process ends its streams here, on graphql-ws and SSE, with no event sent', async () => {
    const [a, b] = apis as [(typeof apis)[0], (typeof apis)[0]]
    const watcher = await readKey()
    const streams = await liveStreams(a, watcher.key)
    const revoked = await graphqlClient(b.url, adminKey)(
      `mutation ($id: ID!) { revokeApiKey(id: $id) { ... on RevokeApiKeyPayload { id } } }`,
      { id: watcher.id },
    )
    expect(revoked.data.revokeApiKey.id).toBe(watcher.id)
    await expectEndedUnauthenticated([streams.ws, streams.sse])
    streams.close()
  })

  test('behavior: `tollgate apikey revoke` (no API process involved) ends the key’s streams in both API processes', async () => {
    const [a, b] = apis as [(typeof apis)[0], (typeof apis)[0]]
    const watcher = await readKey()
    const onA = await liveStreams(a, watcher.key)
    const onB = await liveStreams(b, watcher.key)
    const run = spawnCli(['apikey', 'revoke', watcher.id], env)
    expect(await run.proc.exited).toBe(0)
    await expectEndedUnauthenticated([onA.ws, onA.sse, onB.ws, onB.sse])
    onA.close()
    onB.close()
  })

  test('behavior: streams of a key that stays valid keep running in both processes while another key is revoked', async () => {
    const [a, b] = apis as [(typeof apis)[0], (typeof apis)[0]]
    const kept = await readKey()
    const gone = await readKey()
    const keptStreams = await liveStreams(a, kept.key)
    const goneStreams = await liveStreams(b, gone.key)
    const run = spawnCli(['apikey', 'revoke', gone.id], env)
    expect(await run.proc.exited).toBe(0)
    await expectEndedUnauthenticated([goneStreams.ws, goneStreams.sse])
    const before = [keptStreams.ws.data().length, keptStreams.sse.data().length]
    await waitFor('the kept streams to carry another event', async () => {
      bus.publish([{ paymentId, merchantId, seq: 1, type: 'payment.created' }])
      await Bun.sleep(50)
      return keptStreams.ws.data().length > before[0]! && keptStreams.sse.data().length > before[1]!
    })
    expect(keptStreams.ws.ended() || keptStreams.sse.ended()).toBe(false)
    keptStreams.close()
    keptStreams.sse.close()
    goneStreams.close()
  })
})
