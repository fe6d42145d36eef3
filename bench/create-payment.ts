// createPayment throughput and latency at concurrency 32, against a ceiling measured in the same run: the same
// HTTP stack (Bun.serve → createHttpHandler(ctx).handle → graphql-yoga with the same options, limits plugin,
// masking, request ids and metrics) answering a trivial schema whose one mutation does exactly one INSERT, as a
// prepared statement, through the same postgres.js pool. All receive the same Authorization header.
// The fiat-priced variant (`price: { amount, currency }`, quoted at the rate in the in-memory rate book) goes to
// the same server as the plain one and is measured against it (bar: ≥ 0.8× the plain req/s), and so is the
// invoice variant (the same price, no chain or asset, `accept` of ETH, USDT and USDC: three quotes, no address).

import { loadavg } from 'node:os'
import { rates } from '@tollgate/sdk'
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql'
import { createContext } from '../src/context.ts'
import { createMerchant } from '../src/core/access/merchants.ts'
import { topUpAddressPool } from '../src/core/payments/addresses.ts'
import { createSigner } from '../src/core/payouts/signer.ts'
import { refreshRates } from '../src/core/pricing/refresh-rates.ts'
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
// plain and priced take an address from the pool in warm-up and rounds (the ceiling and invoices take none)
const addressPoolSize = Math.max(20_000, 2 * (warmup + rounds * requests) + 1000)
const ethUsd = '3456.78'
// a second token on the bench's chain, so an invoice can accept three assets; it is never read from a node here
const usdc = { symbol: 'USDC', address: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512', decimals: 6 }

// other work on the machine moves these numbers: the report says how busy it was when measuring began
const loadAtStart = loadavg()[0] as number
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
const config = {
  ...testConfig(undefined, {
    tokens: [{ symbol: 'USDT', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }, usdc],
  }),
  rates: {
    fixed: rates(() => import('../src/plugins/rates-fixed/index.ts'), { rates: { 'ETH/USD': ethUsd } }),
  },
  pricing: {
    pairs: { 'ETH/USD': { sources: ['fixed'] }, 'USDT/USD': { pin: '1' }, 'USDC/USD': { pin: '1' } },
  },
}
const ctx = await createContext(env, createLogger(env.LOG_LEVEL), { role: 'api', config })
const devnet = ctx.chains.get('devnet')!
if (devnet.driver.accountPath !== accountPath)
  throw new Error(`unexpected account ${devnet.driver.accountPath}`)
if (!ctx.pricing || !ctx.rateBook) throw new Error('the pricing config was not loaded')

/**
 * Runs the rates job's refresh (the fixed provider's quote, dated now) and has the book read it at once: before
 * measuring, and between rounds (untimed) so a long run never reaches the rate's maximum age.
 */
async function storeRates() {
  const pricing = ctx.pricing as NonNullable<typeof ctx.pricing>
  await refreshRates({ db: ctx.db, rates: pricing.providers, pricing: pricing.config, log: ctx.log })
  await ctx.rateBook!.reload()
  const quoted = ctx.rateBook!.quote('ETH/USD')
  if (quoted.rate !== ethUsd) throw new Error(`the book quotes ETH/USD at ${quoted.rate}`)
}
await storeRates()

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
  api: serve(createHttpHandler(ctx).handle),
  ceiling: serve(createHttpHandler(ctx, { schema: ceilingSchema }).handle),
}
const createMutation =
  'mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address amountDue status expiresAt } } ... on UserError { code message } } }'
const invoiceMutation =
  'mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreateInvoicePayload { invoice { id status expiresAt rateLockedUntil methods { chain asset { symbol } amountDue rate } } } ... on UserError { code message } } }'
const variants = {
  createPayment: {
    server: servers.api,
    body: JSON.stringify({
      query: createMutation,
      variables: { input: { chain: 'devnet', asset: 'USDT', amount: '12.5', orderId: 'bench' } },
    }),
  },
  priced: {
    server: servers.api,
    body: JSON.stringify({
      query: createMutation,
      variables: {
        input: {
          chain: 'devnet',
          asset: 'ETH',
          price: { amount: '25.00', currency: 'USD' },
          orderId: 'bench',
        },
      },
    }),
  },
  invoice: {
    server: servers.api,
    body: JSON.stringify({
      query: invoiceMutation,
      variables: {
        input: {
          price: { amount: '25.00', currency: 'USD' },
          accept: [
            { chain: 'devnet', asset: 'ETH' },
            { chain: 'devnet', asset: 'USDT' },
            { chain: 'devnet', asset: 'USDC' },
          ],
          orderId: 'bench',
        },
      },
    }),
  },
  ceiling: { server: servers.ceiling, body: JSON.stringify({ query: 'mutation { ping }' }) },
}
const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey.key}` }
type Variant = keyof typeof variants
const variantNames = Object.keys(variants) as Variant[]
const url = (variant: Variant) => `http://127.0.0.1:${variants[variant].server.port}/graphql`

async function load(variant: Variant, n: number): Promise<LoadResult> {
  const result = await runLoad({
    url: url(variant),
    body: variants[variant].body,
    headers,
    concurrency,
    requests: n,
  })
  if (result.errors > 0 || result.requests !== n)
    throw new Error(`${variant}: ${result.errors} errors in ${result.requests} of ${n} requests`)
  return result
}

// one request of each, checked by hand (the priced one for its amount: 25 USD at 3456.78 USD/ETH, rounded up
// to wei; the invoice for its three quotes), then warm-up of each
const pricedDue = '0.007232164037051823'
for (const variant of variantNames) {
  const res = await fetch(url(variant), { method: 'POST', headers, body: variants[variant].body })
  const text = await res.text()
  const expect = {
    ceiling: '"ping"',
    createPayment: '"amountDue":"12.5"',
    priced: `"amountDue":"${pricedDue}"`,
    invoice: `"methods":[{"chain":"devnet","asset":{"symbol":"ETH"},"amountDue":"${pricedDue}","rate":"${ethUsd}"},{"chain":"devnet","asset":{"symbol":"USDT"},"amountDue":"25","rate":"1"},{"chain":"devnet","asset":{"symbol":"USDC"},"amountDue":"25","rate":"1"}]`,
  }
  if (!res.ok || text.includes('"errors"') || !text.includes(expect[variant]))
    throw new Error(`${variant} answered ${res.status}: ${text}`)
  await load(variant, warmup)
}

// interleaved rounds, the order rotated each round so that drift hits every variant alike
const results: Record<Variant, LoadResult[]> = { createPayment: [], priced: [], invoice: [], ceiling: [] }
for (let round = 0; round < rounds; round++) {
  await storeRates()
  const order = variantNames.map((_, i) => variantNames[(i + round) % variantNames.length] as Variant)
  for (const variant of order) results[variant].push(await load(variant, requests))
}

// every request really wrote its row, each priced one at the stored rate
const [counts] = await ctx.query<{ plain: string; priced: string; invoices: string; pings: string }>(
  `select (select count(*) from payments where rate is null) as plain,
          (select count(*) from payments where rate = $1 and price_amount = '25.00' and price_currency = 'USD') as priced,
          (select count(*) from invoices
            where price_amount = '25.00' and price_currency = 'USD' and jsonb_array_length(methods) = 3
              and exists (select 1 from invoice_events e where e.invoice_id = invoices.id)) as invoices,
          (select count(*) from bench_ceiling) as pings`,
  [ethUsd],
)
const expected = 1 + warmup + rounds * requests
if ([counts?.plain, counts?.priced, counts?.invoices, counts?.pings].some((n) => Number(n) !== expected))
  throw new Error(`expected ${expected} rows of each, found ${JSON.stringify(counts)}`)

const summary = (rs: LoadResult[]) => ({
  rps: median(rs.map((r) => r.rps)),
  p50: median(rs.map((r) => r.p50)),
  p99: median(rs.map((r) => r.p99)),
})
const ceiling = summary(results.ceiling)
const created = summary(results.createPayment)
const priced = summary(results.priced)
const ratio = created.rps / ceiling.rps
const pricedRatio = priced.rps / created.rps
const invoiced = summary(results.invoice)
const invoiceRatio = invoiced.rps / created.rps
const perRound = (a: Variant, b: Variant) =>
  results[a].map((r, i) => fmt(r.rps / (results[b][i] as LoadResult).rps, 2)).join(', ')
const row = (name: string, s: typeof ceiling) => [
  name,
  fmt(s.rps, 0),
  fmt(s.p50, 2),
  fmt(s.p99, 2),
  fmt(s.rps / ceiling.rps, 2),
  fmt(s.rps / created.rps, 2),
]

report(
  'createPayment (bench/create-payment.ts)',
  `${table(
    ['variant', 'req/s', 'p50 ms', 'p99 ms', 'ratio to ceiling', 'ratio to createPayment'],
    [
      row('ceiling: same server, trivial mutation doing 1 INSERT', ceiling),
      row('createPayment (amount: 12.5 USDT)', created),
      row('createPayment priced (price: 25.00 USD, in ETH)', priced),
      row('createPayment invoice (price: 25.00 USD, accept ETH, USDT, USDC)', invoiced),
    ],
  )}

Load average ${fmt(loadAtStart, 2)} when measuring began.
Concurrency ${concurrency}, DB pool ${dbPoolSize}, ${requests} requests per round after ${warmup} of warm-up, median of
${rounds} interleaved rounds, the order rotated each round (per-round createPayment / ceiling
${perRound('createPayment', 'ceiling')}; priced / createPayment ${perRound('priced', 'createPayment')};
invoice / createPayment ${perRound('invoice', 'createPayment')}); load generator in its own process over
127.0.0.1; address pool of ${addressPoolSize} derived before measuring. All get the same Authorization header;
the ceiling's one INSERT is a prepared statement and it does not look the key up, while createPayment looks the
key up and then inserts (payments group-committed, several per statement). The priced
variant goes to the same server with \`price: { amount: '25.00', currency: 'USD' }\` for ETH under the pairs
ETH/USD (fixed provider) and USDT/USD (pinned): the rate (ETH/USD ${ethUsd}, stored before each round, untimed) is
read from the in-memory rate book, the amount quoted (rounded up to wei), and the rate, its sources and lock stored
with the payment; nothing asks a provider on the request path. The invoice variant sends the same price with
no chain or asset and \`accept\` of ETH, USDT and USDC on the same chain (USDC/USD pinned at 1, like USDT/USD):
three quotes from the rate book and one statement inserting the invoice and its first event; no address is
taken until the buyer chooses a method.
**createPayment / ceiling = ${fmt(ratio, 2)}** (bar: ≥ 0.80);
**priced / createPayment = ${fmt(pricedRatio, 2)}** (bar: ≥ 0.80);
**invoice / createPayment = ${fmt(invoiceRatio, 2)}** (bar: ≥ 0.80).`,
)

for (const server of Object.values(servers)) server.stop(true)
await ctx.close()
await testDb.drop()
// leave nothing behind in the shared Redis (refill requests queued for a worker that does not run here)
await clearRedisPrefix(env.REDIS_URL, env.REDIS_PREFIX)
