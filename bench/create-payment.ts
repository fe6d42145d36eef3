// createPayment throughput and latency at concurrency 32, against a ceiling measured in the same run: the same
// server (Bun.serve, yoga, limits, request ids, metrics) answering a trivial mutation that does one INSERT.
// Both run at several database pool sizes; the bar compares the best of each.
import { sql } from 'drizzle-orm'
import { GraphQLBoolean, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql'
import { type AppContext, createContext } from '../src/context.ts'
import { topUpAddressPool } from '../src/core/addresses.ts'
import { createMerchant } from '../src/core/merchants.ts'
import { parseEnv } from '../src/env.ts'
import { createLogger } from '../src/log.ts'
import { startServer } from '../src/server.ts'
import { testConfig, testMnemonic } from '../test/helpers/app.ts'
import { createTestDatabase } from '../test/helpers/db.ts'
import { fmt, type LoadResult, median, report, runLoad, table } from './lib.ts'

const concurrency = 32
const requests = Number(process.env.BENCH_REQUESTS ?? 3000)
const rounds = 3
const poolSizes = [5, 10, 20]

const testDb = await createTestDatabase()
const envFor = (poolSize: number) =>
  parseEnv({
    DATABASE_URL: testDb.url,
    DATABASE_POOL_SIZE: String(poolSize),
    TOLLGATE_SEED: testMnemonic,
    LOG_LEVEL: 'warn',
    ADDRESS_POOL_SIZE: String((requests + 500) * rounds * poolSizes.length + 1000),
    REDIS_PREFIX: `bench-${crypto.randomUUID().slice(0, 8)}`,
  })

const ceilingSchema = (ctx: AppContext) =>
  new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: { ok: { type: GraphQLBoolean, resolve: () => true } },
    }),
    mutation: new GraphQLObjectType({
      name: 'Mutation',
      fields: {
        ping: {
          type: GraphQLString,
          resolve: async () => {
            const id = crypto.randomUUID()
            await ctx.db.execute(sql`insert into bench_ceiling (id) values (${id})`)
            return id
          },
        },
      },
    }),
  })

const createBody = JSON.stringify({
  query:
    'mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address amountDue status } } ... on UserError { code } } }',
  variables: { input: { chain: 'devnet', asset: 'USDT', amount: '12.5', orderId: 'bench' } },
})
const pingBody = JSON.stringify({ query: 'mutation { ping }' })

// derive the whole pool once, outside any measurement
{
  const setup = await createContext(envFor(10), createLogger('warn'), { role: 'api', config: testConfig() })
  await topUpAddressPool(setup, setup.chains.get('devnet')!)
  await setup.db.execute(
    sql`create table if not exists bench_ceiling (id text primary key, created_at timestamptz not null default now())`,
  )
  await setup.close()
}

const rows: Array<Array<string | number>> = []
const best = { create: 0, ceiling: 0 }
for (const poolSize of poolSizes) {
  const ctx = await createContext(envFor(poolSize), createLogger('warn'), {
    role: 'api',
    config: testConfig(),
  })
  const { apiKey } = await createMerchant(ctx, { name: 'Bench' })
  const gateway = startServer(ctx, { port: 0, hostname: '127.0.0.1' })
  const ceiling = startServer(ctx, { port: 0, hostname: '127.0.0.1', schema: ceilingSchema(ctx) })
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey.key}` }
  const load = (url: string, body: string, n = requests) =>
    runLoad({ url, body, headers, concurrency, requests: n })
  await load(`${gateway.url}graphql`, createBody, 500) // warm-up
  await load(`${ceiling.url}graphql`, pingBody, 500)
  const results: { create: LoadResult[]; ceiling: LoadResult[] } = { create: [], ceiling: [] }
  for (let round = 0; round < rounds; round++) {
    results.ceiling.push(await load(`${ceiling.url}graphql`, pingBody))
    results.create.push(await load(`${gateway.url}graphql`, createBody))
  }
  for (const [name, rs] of [
    ['ceiling: trivial mutation + 1 INSERT', results.ceiling],
    ['createPayment', results.create],
  ] as const) {
    const rps = median(rs.map((r) => r.rps))
    if (name === 'createPayment') best.create = Math.max(best.create, rps)
    else best.ceiling = Math.max(best.ceiling, rps)
    rows.push([
      name,
      poolSize,
      fmt(rps, 0),
      fmt(median(rs.map((r) => r.p50)), 2),
      fmt(median(rs.map((r) => r.p99)), 2),
      rs.reduce((s, r) => s + r.errors, 0),
    ])
  }
  gateway.stop(true)
  ceiling.stop(true)
  await ctx.close()
}

report(
  'createPayment (bench/create-payment.ts)',
  `${table(['variant', 'DB pool', 'req/s', 'p50 ms', 'p99 ms', 'errors'], rows)}

Concurrency ${concurrency}, ${requests} requests per round, median of ${rounds} alternating rounds per pool size,
load generator in its own process. **Best createPayment / best ceiling = ${fmt(best.create / best.ceiling, 2)}**
(bar: ≥ 0.80).`,
)
await testDb.drop()
