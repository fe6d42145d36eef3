// createPayment throughput and latency at concurrency 32, against a ceiling measured in the same run:
// the same server (Bun.serve, yoga, limits, request ids, metrics) answering a trivial mutation that does one INSERT.
import { sql } from 'drizzle-orm'
import { GraphQLBoolean, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql'
import { createContext } from '../src/context.ts'
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

const testDb = await createTestDatabase()
const env = parseEnv({
  DATABASE_URL: testDb.url,
  TOLLGATE_SEED: testMnemonic,
  LOG_LEVEL: 'warn',
  ADDRESS_POOL_SIZE: String((requests + 500) * (rounds + 1)),
  REDIS_PREFIX: `bench-${crypto.randomUUID().slice(0, 8)}`,
})
const ctx = await createContext(env, createLogger('warn'), { role: 'api', config: testConfig() })
await topUpAddressPool(ctx, ctx.chains.get('devnet')!)
const { apiKey } = await createMerchant(ctx, { name: 'Bench' })
const gateway = startServer(ctx, { port: 0, hostname: '127.0.0.1' })

// the ceiling: same server stack, trivial resolver + one INSERT through the same pool
await ctx.db.execute(
  sql`create table if not exists bench_ceiling (id text primary key, created_at timestamptz not null default now())`,
)
const trivial = new GraphQLSchema({
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
const ceiling = startServer(ctx, { port: 0, hostname: '127.0.0.1', schema: trivial })

const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey.key}` }
const createBody = JSON.stringify({
  query:
    'mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address amountDue status } } ... on UserError { code } } }',
  variables: { input: { chain: 'devnet', asset: 'USDT', amount: '12.5', orderId: 'bench' } },
})
const pingBody = JSON.stringify({ query: 'mutation { ping }' })

const load = (url: string, body: string, n = requests) =>
  runLoad({ url, body, headers, concurrency, requests: n })
await load(`${gateway.url}graphql`, createBody, 500) // warm-up
await load(`${ceiling.url}graphql`, pingBody, 500)
const results: { create: LoadResult[]; ceiling: LoadResult[] } = { create: [], ceiling: [] }
for (let round = 0; round < rounds; round++) {
  results.ceiling.push(await load(`${ceiling.url}graphql`, pingBody))
  results.create.push(await load(`${gateway.url}graphql`, createBody))
}
const row = (name: string, rs: LoadResult[]) => {
  const errors = rs.reduce((s, r) => s + r.errors, 0)
  return [
    name,
    fmt(median(rs.map((r) => r.rps)), 0),
    fmt(median(rs.map((r) => r.p50)), 2),
    fmt(median(rs.map((r) => r.p99)), 2),
    errors,
  ]
}
const ratio = median(results.create.map((r) => r.rps)) / median(results.ceiling.map((r) => r.rps))
report(
  'createPayment (bench/create-payment.ts)',
  `${table(['variant', 'req/s', 'p50 ms', 'p99 ms', 'errors'], [row('ceiling: trivial mutation + 1 INSERT', results.ceiling), row('createPayment', results.create)])}

Concurrency ${concurrency}, ${requests} requests per round, median of ${rounds} alternating rounds, load generator in its own
process. **createPayment / ceiling = ${fmt(ratio, 2)}** (bar: ≥ 0.80).`,
)

gateway.stop(true)
ceiling.stop(true)
await ctx.close()
await testDb.drop()
