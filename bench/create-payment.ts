// createPayment throughput and latency at concurrency 32, against a ceiling measured in the same run: the same
// HTTP stack (Bun.serve → createHttpHandler(ctx).handle → graphql-yoga with the same options, limits plugin,
// masking, request ids and metrics) answering a trivial schema whose one mutation does exactly one INSERT, as a
// prepared statement, through the same postgres.js pool. Both receive the same Authorization header.
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql'
import { createContext } from '../src/context.ts'
import { createMerchant } from '../src/core/access/merchants.ts'
import { topUpAddressPool } from '../src/core/payments/addresses.ts'
import { createSigner } from '../src/core/payouts/signer.ts'
import { parseEnv } from '../src/env.ts'
import { createLogger } from '../src/log.ts'
import { createHttpHandler } from '../src/server.ts'
import { testConfig, testMnemonic } from '../test/helpers/app.ts'
import { createTestDatabase } from '../test/helpers/db.ts'
import { clearRedisPrefix } from '../test/helpers/redis.ts'
import { fmt, type LoadResult, median, report, runLoad, table } from './lib.ts'

const concurrency = 32
const requests = Number(process.env.BENCH_REQUESTS ?? 3000)
const warmup = 500
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const dbPoolSize = Number(process.env.BENCH_DB_POOL ?? 10)
const accountPath = "m/44'/60'/0'"
const addressPoolSize = Math.max(20_000, warmup + rounds * requests + 1000)

const testDb = await createTestDatabase()
const env = parseEnv({
  DATABASE_URL: testDb.url,
  DATABASE_POOL_SIZE: String(dbPoolSize),
  // watch-only, as an API process should run: the pool is derived from the account xpub
  TOLLGATE_XPUBS: `${accountPath}=${createSigner(testMnemonic).xpub(accountPath)}`,
  LOG_LEVEL: 'warn',
  ADDRESS_POOL_SIZE: String(addressPoolSize),
  REDIS_PREFIX: `bench-${crypto.randomUUID().slice(0, 8)}`,
  // one key sends every request of the run: the per-key limits would measure themselves, not the API
  RATE_LIMIT_PER_KEY: '0',
  RATE_LIMIT_PER_IP: '0',
  GRAPHQL_COST_BUDGET: '1000000000',
})
const ctx = await createContext(env, createLogger(env.LOG_LEVEL), { role: 'api', config: testConfig() })
const devnet = ctx.chains.get('devnet')!
if (devnet.driver.accountPath !== accountPath)
  throw new Error(`unexpected account ${devnet.driver.accountPath}`)

// the whole pool is derived before measuring: no refill runs while requests are timed
await topUpAddressPool(ctx, devnet)
await ctx.query(
  'create table bench_ceiling (id text primary key, created_at timestamptz not null default now())',
  [],
)
const { apiKey } = await createMerchant(ctx, { name: 'Bench' })

const ceilingSchema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: { ok: { type: GraphQLString, resolve: () => 'ok' } },
  }),
  mutation: new GraphQLObjectType({
    name: 'Mutation',
    fields: {
      ping: {
        type: GraphQLString,
        resolve: async () => {
          const id = crypto.randomUUID()
          await ctx.query('insert into bench_ceiling (id) values ($1)', [id])
          return id
        },
      },
    },
  }),
})

const serve = (fetch: (request: Request) => Promise<Response>) =>
  Bun.serve({ port: 0, hostname: '127.0.0.1', maxRequestBodySize: env.MAX_BODY_BYTES, fetch })
const servers = {
  createPayment: serve(createHttpHandler(ctx).handle),
  ceiling: serve(createHttpHandler(ctx, { schema: ceilingSchema }).handle),
}
const bodies = {
  createPayment: JSON.stringify({
    query:
      'mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address amountDue status expiresAt } } ... on UserError { code message } } }',
    variables: { input: { chain: 'devnet', asset: 'USDT', amount: '12.5', orderId: 'bench' } },
  }),
  ceiling: JSON.stringify({ query: 'mutation { ping }' }),
}
const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey.key}` }
type Variant = keyof typeof servers

async function load(variant: Variant, n: number): Promise<LoadResult> {
  const url = `http://127.0.0.1:${servers[variant].port}/graphql`
  const result = await runLoad({ url, body: bodies[variant], headers, concurrency, requests: n })
  if (result.errors > 0 || result.requests !== n)
    throw new Error(`${variant}: ${result.errors} errors in ${result.requests} of ${n} requests`)
  return result
}

// one request of each, checked by hand, then warm-up of both
for (const variant of ['createPayment', 'ceiling'] as const) {
  const res = await fetch(`http://127.0.0.1:${servers[variant].port}/graphql`, {
    method: 'POST',
    headers,
    body: bodies[variant],
  })
  const text = await res.text()
  if (!res.ok || text.includes('"errors"') || !text.includes(variant === 'ceiling' ? 'ping' : '"address"'))
    throw new Error(`${variant} answered ${res.status}: ${text}`)
  await load(variant, warmup)
}

// alternating rounds, the order flipped each round so that drift hits both alike
const results: Record<Variant, LoadResult[]> = { createPayment: [], ceiling: [] }
for (let round = 0; round < rounds; round++) {
  const order: Variant[] = round % 2 === 0 ? ['ceiling', 'createPayment'] : ['createPayment', 'ceiling']
  for (const variant of order) results[variant].push(await load(variant, requests))
}

// every request really wrote its row
const [payments] = await ctx.query<{ n: string }>('select count(*) as n from payments', [])
const [pings] = await ctx.query<{ n: string }>('select count(*) as n from bench_ceiling', [])
const expected = 1 + warmup + rounds * requests
if (Number(payments?.n) !== expected || Number(pings?.n) !== expected)
  throw new Error(`expected ${expected} rows, found ${payments?.n} payments and ${pings?.n} ceiling rows`)

const summary = (rs: LoadResult[]) => ({
  rps: median(rs.map((r) => r.rps)),
  p50: median(rs.map((r) => r.p50)),
  p99: median(rs.map((r) => r.p99)),
})
const ceiling = summary(results.ceiling)
const created = summary(results.createPayment)
const ratio = created.rps / ceiling.rps
const roundRatios = results.createPayment.map((r, i) => r.rps / (results.ceiling[i] as LoadResult).rps)
const row = (name: string, s: typeof ceiling) => [
  name,
  fmt(s.rps, 0),
  fmt(s.p50, 2),
  fmt(s.p99, 2),
  fmt(s.rps / ceiling.rps, 2),
]

report(
  'createPayment (bench/create-payment.ts)',
  `${table(
    ['variant', 'req/s', 'p50 ms', 'p99 ms', 'ratio to ceiling'],
    [row('ceiling: same server, trivial mutation doing 1 INSERT', ceiling), row('createPayment', created)],
  )}

Concurrency ${concurrency}, DB pool ${dbPoolSize}, ${requests} requests per round after ${warmup} of warm-up, median of
${rounds} alternating rounds (per-round ratios ${roundRatios.map((r) => fmt(r, 2)).join(', ')}); load generator in its
own process over 127.0.0.1; address pool of ${addressPoolSize} derived before measuring. Both get the same
Authorization header; the ceiling's one INSERT is a prepared statement and it does not look the key up, while
createPayment looks the key up and then inserts (payments group-committed, several per statement).
**createPayment / ceiling = ${fmt(ratio, 2)}** (bar: ≥ 0.80).`,
)

for (const server of Object.values(servers)) server.stop(true)
await ctx.close()
await testDb.drop()
// leave nothing behind in the shared Redis (refill requests queued for a worker that does not run here)
await clearRedisPrefix(env.REDIS_URL, env.REDIS_PREFIX)
