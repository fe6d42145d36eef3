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
import { runLoad } from './lib.ts'
const testDb = await createTestDatabase()
const env = parseEnv({ DATABASE_URL: testDb.url, TOLLGATE_SEED: testMnemonic, LOG_LEVEL: 'warn', ADDRESS_POOL_SIZE: '9000' })
const ctx = await createContext(env, createLogger('warn'), { role: 'api', config: testConfig() })
await topUpAddressPool(ctx, ctx.chains.get('devnet')!)
await ctx.db.execute(sql`create table if not exists bench_ceiling (id text primary key, created_at timestamptz not null default now())`)
const { apiKey } = await createMerchant(ctx, { name: 'B' })
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLBoolean, resolve: () => true } } }),
  mutation: new GraphQLObjectType({ name: 'Mutation', fields: { ping: { type: GraphQLString, resolve: async () => { const id = crypto.randomUUID(); await ctx.db.execute(sql`insert into bench_ceiling (id) values (${id})`); return id } } } }),
})
const mode = process.env.MODE
const server = startServer(ctx, { port: 0, hostname: '127.0.0.1', schema: mode === 'ping' ? schema : undefined })
const body = mode === 'ping' ? JSON.stringify({ query: 'mutation { ping }' }) : JSON.stringify({ query: 'mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address amountDue status } } ... on UserError { code } } }', variables: { input: { chain: 'devnet', asset: 'USDT', amount: '12.5', orderId: 'bench' } } })
const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey.key}` }
await runLoad({ url: `${server.url}graphql`, body, headers, concurrency: 32, requests: 500 })
console.error('START', Date.now())
const r = await runLoad({ url: `${server.url}graphql`, body, headers, concurrency: 32, requests: 6000 })
console.error(mode, JSON.stringify(r))
process.exit(0)
