// Block mined → subscription message latency, with real processes: API and worker spawned, anvil mining each
// transaction as it arrives, a graphql-ws client subscribed to each payment.
import { createClient } from 'graphql-ws'
import { parseEther } from 'viem'
import { gatewayMnemonic, startDevnet } from '../test/helpers/chain.ts'
import { createTestDatabase } from '../test/helpers/db.ts'
import { spawnApi, spawnCli, spawnWorker, waitFor } from '../test/helpers/processes.ts'
import { fmt, percentile, report, table } from './lib.ts'

const samples = Number(process.env.BENCH_SAMPLES ?? 60)
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
const created = spawnCli(['merchant', 'create', '--name', 'Latency', '--json'], env)
await created.proc.exited
const apiKey = JSON.parse(created.output().trim().split('\n').at(-1)!).apiKey as string
const [api, worker] = await Promise.all([spawnApi(env), spawnWorker(env)])
const client = createClient({ url: api.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 })

const latencies: number[] = []
for (let i = 0; i < samples; i++) {
  const res = await fetch(`${api.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({
      query: `mutation { createPayment(input: {chain: "devnet", asset: "ETH", amount: "0.01"}) { ... on CreatePaymentPayload { payment { id address clientSecret } } } }`,
    }),
  })
  const p = ((await res.json()) as any).data.createPayment.payment
  let minedAt = 0
  let seenAt = 0
  let subscribed = false
  const unsubscribe = client.subscribe<{ paymentUpdated: { status: string } }>(
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
  // anvil mines the transaction before it answers: the block exists when this returns
  await devnet.payNative(p.address, parseEther('0.01'))
  minedAt = performance.now()
  await waitFor('PROCESSING', () => seenAt > 0, 10_000)
  latencies.push(seenAt - minedAt)
  unsubscribe()
}
latencies.sort((a, b) => a - b)
report(
  'Detection latency (bench/detect-latency.ts)',
  `${table(
    ['samples', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
    [
      [
        samples,
        fmt(percentile(latencies, 50)),
        fmt(percentile(latencies, 90)),
        fmt(percentile(latencies, 99)),
        fmt(latencies.at(-1)!),
      ],
    ],
  )}

Block mined (anvil answers the transaction once it is in a block) → \`paymentUpdated\` message with PROCESSING at a
graphql-ws client. API and worker are separate processes (Redis pub/sub between them); the worker polls for new heads
every 100 ms and scans at once. **p99 = ${fmt(percentile(latencies, 99))} ms** (bar: ≤ 1000 ms).`,
)
await client.dispose()
await Promise.all([api.stop(), worker.stop()])
await devnet.stop()
await db.drop()
