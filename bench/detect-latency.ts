// Block mined → subscription message latency, with real processes: API and worker spawned, anvil mining each
// transaction as it arrives, a graphql-ws client subscribed to each payment. The worker is measured twice: with
// the node's WebSocket URL (heads by eth_subscribe) and with HTTP alone (heads polled every 100 ms).
import { loadavg } from 'node:os'
import { createClient } from 'graphql-ws'
import { parseEther } from 'viem'
import { startBcoin } from '../test/helpers/bcoin.ts'
import { gatewayMnemonic, startDevnet } from '../test/helpers/chain.ts'
import { createTestDatabase } from '../test/helpers/db.ts'
import { spawnApi, spawnCli, spawnWorker, waitFor } from '../test/helpers/processes.ts'
import { fmt, percentile, report, table } from './lib.ts'

const samples = Number(process.env.BENCH_SAMPLES ?? 60)
/** Payments paid before measuring, per worker: its first scans with a deposit run cold. */
const warmup = 3
const devnet = await startDevnet()
const db = await createTestDatabase()
const env = {
  DATABASE_URL: db.url,
  REDIS_PREFIX: `bench-${crypto.randomUUID().slice(0, 8)}`,
  TOLLGATE_SEED: gatewayMnemonic,
  TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
  TEST_RPC_URL: devnet.url,
  LOG_LEVEL: 'info',
}
const loadAtStart = loadavg()[0] as number
const created = spawnCli(['merchant', 'create', '--name', 'Latency', '--json'], env)
await created.proc.exited
const apiKey = JSON.parse(created.output().trim().split('\n').at(-1)!).apiKey as string
const api = await spawnApi(env)
const client = createClient({ url: api.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 })

type Gateway = { url: string; key: string; client: ReturnType<typeof createClient> }

/**
 * One payment created, subscribed to and paid through `gateway`: ms from the clock `pay` returns (taken when the
 * payment is on its way) to its PROCESSING message.
 */
async function paymentToProcessing(
  gateway: Gateway,
  input: string,
  pay: (address: string) => Promise<number>,
): Promise<number> {
  const res = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.key}` },
    body: JSON.stringify({
      query: `mutation { createPayment(input: {${input}}) { ... on CreatePaymentPayload { payment { id address clientSecret } } } }`,
    }),
  })
  const p = ((await res.json()) as any).data.createPayment.payment
  let seenAt = 0
  let subscribed = false
  const unsubscribe = gateway.client.subscribe<{ paymentUpdated: { status: string } }>(
    {
      query: 'subscription ($id: ID!, $s: String!) { paymentUpdated(id: $id, clientSecret: $s) { status } }',
      variables: { id: p.id, s: p.clientSecret },
    },
    {
      next: (m) => {
        subscribed = true
        if (m.data?.paymentUpdated.status === 'PROCESSING' && !seenAt) seenAt = performance.now()
      },
      error: (e) => console.error(e),
      complete: () => {},
    },
  )
  await waitFor('subscription', () => subscribed)
  const from = await pay(p.address)
  await waitFor('PROCESSING', () => seenAt > 0, 10_000)
  unsubscribe()
  return seenAt - from
}

/** One EVM payment: ms from the block's mining to its PROCESSING message. */
const measureOne = () =>
  paymentToProcessing(
    { url: api.url, key: apiKey, client },
    'chain: "devnet", asset: "ETH", amount: "0.01"',
    async (address) => {
      // signed beforehand, so nothing but the broadcast stands between the clock and the block: anvil mines the
      // transaction before it answers, so the block exists when the answer arrives
      const raw = await devnet.signNative(address, parseEther('0.01'))
      await devnet.client.request({ method: 'eth_sendRawTransaction', params: [raw] })
      return performance.now()
    },
  )

/** `samples` payments (after `warmup` unmeasured ones) against a worker started with `workerEnv`; sorted latencies. */
async function measure(workerEnv: Record<string, string>): Promise<number[]> {
  const worker = await spawnWorker({ ...env, ...workerEnv })
  const latencies: number[] = []
  try {
    for (let i = 0; i < warmup; i++) await measureOne()
    for (let i = 0; i < samples; i++) latencies.push(await measureOne())
  } catch (err) {
    // what the worker said is the first thing to read when a payment was never seen
    console.error(worker.output().slice(-4000))
    throw err
  } finally {
    await worker.stop()
  }
  return latencies.sort((a, b) => a - b)
}

const variants: Array<[string, number[]]> = [
  ['WebSocket: heads by eth_subscribe', await measure({ TEST_WS_URL: devnet.anvil.wsUrl })],
  ['HTTP: heads polled every 100 ms', await measure({})],
]
const subscribed = variants[0]![1]

// ---- Bitcoin: broadcast → PROCESSING over graphql-ws, from the node's mempool, no block mined ----
const btcSamples = Number(process.env.BENCH_BTC_SAMPLES ?? 40)
async function measureBitcoin(): Promise<number[]> {
  const node = await startBcoin()
  const btcDb = await createTestDatabase()
  const btcEnv = {
    DATABASE_URL: btcDb.url,
    REDIS_PREFIX: `bench-btc-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_SEED: gatewayMnemonic,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/bitcoin.plugins.config.ts',
    TEST_BTC_RPC_URL: node.url,
    TEST_BTC_START: String(await node.height()),
    LOG_LEVEL: 'info',
  }
  const made = spawnCli(['merchant', 'create', '--name', 'Latency BTC', '--json'], btcEnv)
  await made.proc.exited
  const btcKey = JSON.parse(made.output().trim().split('\n').at(-1)!).apiKey as string
  const [btcApi, btcWorker] = await Promise.all([spawnApi(btcEnv), spawnWorker(btcEnv)])
  const btcClient = createClient({ url: btcApi.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 })
  const latencies: number[] = []
  try {
    const gateway = { url: btcApi.url, key: btcKey, client: btcClient }
    for (let i = 0; i < warmup + btcSamples; i++) {
      const latency = await paymentToProcessing(
        gateway,
        'chain: "regtest", asset: "BTC", amount: "0.001"',
        async (address) => {
          const signed = await node.sign([{ address, amount: 100_000n }])
          const sent = performance.now()
          await node.rpc('sendrawtransaction', [signed.raw])
          return sent
        },
      )
      if (i >= warmup) latencies.push(latency)
      // a block now and then keeps the faucet's coins maturing and the mempool small
      if (i % 10 === 9) await node.mine(1)
    }
  } catch (err) {
    console.error(btcWorker.output().slice(-4000))
    throw err
  } finally {
    await btcClient.dispose()
    await Promise.all([btcApi.stop(), btcWorker.stop()])
    await node.stop()
    await btcDb.drop()
  }
  return latencies.sort((a, b) => a - b)
}
const bitcoin = await measureBitcoin()
report(
  'Detection latency (bench/detect-latency.ts)',
  `${table(
    ['worker reaches the node by', 'samples', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
    [
      ...variants,
      ['Bitcoin (bcoin regtest): broadcast, seen in the mempool', bitcoin] as [string, number[]],
    ].map(([name, l]) => [
      name,
      l.length,
      fmt(percentile(l, 50)),
      fmt(percentile(l, 90)),
      fmt(percentile(l, 99)),
      fmt(l.at(-1)!),
    ]),
  )}

Block mined (anvil answers the raw transaction once it is in a block) → \`paymentUpdated\` message with PROCESSING
at a graphql-ws client. API and worker are separate processes (Redis pub/sub between them); a new head starts a
scan at once. Each worker is warmed up with ${warmup} payments first. With the node's WebSocket URL configured the
worker holds a \`newHeads\` subscription and polls nothing; with HTTP alone it polls \`eth_blockNumber\`.
**WebSocket: p50 = ${fmt(percentile(subscribed, 50))} ms, p99 = ${fmt(percentile(subscribed, 99))} ms** (bar: p50 ≤ 50 ms,
p99 ≤ 150 ms). Bitcoin: transaction broadcast → \`paymentUpdated\` PROCESSING (0 confirmations, no block), the worker
looking at the mempool every \`MEMPOOL_POLL_MS\` (500 ms): **p50 = ${fmt(percentile(bitcoin, 50))} ms, p99 =
${fmt(percentile(bitcoin, 99))} ms** (bar: p99 ≤ 1000 ms). Load average (1 min) when measuring began: ${fmt(loadAtStart, 2)} on ${navigator.hardwareConcurrency} cores.`,
)
await client.dispose()
await api.stop()
await devnet.stop()
await db.drop()
