import { afterAll, beforeAll, expect, test } from 'bun:test'
import { and, eq, inArray } from 'drizzle-orm'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createSigner } from '../../src/core/payouts/signer.ts'
import { type DbHandle, keepsSessions, openDb } from '../../src/db/client.ts'
import { outboundTxs, webhookDeliveries } from '../../src/db/schema/index.ts'
import { deriveEvmAddress } from '../../src/plugins/evm/derive.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { countingWebhookReceiver } from '../helpers/outage.ts'
import { type OwnPgBouncer, startPgBouncer } from '../helpers/pgbouncer.ts'
import { type OwnPostgres, startOwnPostgres } from '../helpers/postgres.ts'
import {
  createMerchantWithCli,
  type GatewayProcess,
  graphqlClient,
  spawnApi,
  spawnCli,
  spawnWorker,
  waitFor,
} from '../helpers/processes.ts'

// The scaled layout as real processes, every query through PgBouncer in transaction mode (the one Debian ships:
// no prepared statements across transactions, no LISTEN): two API processes, two keyless chain workers, two
// signers. Postgres, PgBouncer and the chain are this file's own.
const poolSize = 4
let pg: OwnPostgres
let bouncer: OwnPgBouncer
let devnet: Devnet
let direct: DbHandle
let env: Record<string, string>
let keyless: Record<string, string>
const processes: GatewayProcess[] = []
let apis: Array<Awaited<ReturnType<typeof spawnApi>>> = []
let apiKey: string
let miner: ReturnType<typeof setInterval> | undefined
const { receiver, received } = countingWebhookReceiver()

async function cli(args: string[], extra: Record<string, string> = {}): Promise<string> {
  const run = spawnCli(args, { ...env, ...extra })
  const code = await run.proc.exited
  if (code !== 0) throw new Error(`tollgate ${args.join(' ')} exited ${code}: ${run.output()}`)
  return run.output()
}

beforeAll(async () => {
  ;[pg, devnet] = await Promise.all([startOwnPostgres(), startDevnet()])
  bouncer = await startPgBouncer({ host: '127.0.0.1', port: pg.port, user: 'postgres' }, { poolSize })
  direct = await openDb({ url: pg.url, maxConnections: 2 })
  env = {
    // every query through the pooler; Postgres itself only for the revocation LISTEN
    DATABASE_URL: bouncer.url('postgres'),
    DATABASE_DIRECT_URL: pg.url,
    REDIS_PREFIX: `scaled-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: devnet.url,
    TEST_CONFIRMATIONS: '2',
    TEST_PAYOUT_INTERVAL_MS: '200',
    // one withdrawal per transaction: the two signers take consecutive nonces of one sender
    TEST_PAYOUT_MAX_BATCH: '1',
    ADDRESS_POOL_SIZE: '100',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    LOG_LEVEL: 'info',
  }
  await cli(['migrate'])
  const xpubs = /TOLLGATE_XPUBS=(\S+)/.exec(
    await cli(['xpub', 'show'], { TOLLGATE_SEED: gatewayMnemonic }),
  )?.[1]
  if (!xpubs) throw new Error('xpub show printed no TOLLGATE_XPUBS')
  keyless = { ...env, TOLLGATE_XPUBS: xpubs }
  apiKey = await createMerchantWithCli(env, 'Scaled shop')
  const started = await Promise.all([
    spawnApi(keyless),
    spawnApi(keyless),
    spawnWorker(keyless, ['--role', 'chain']),
    spawnWorker(keyless, ['--role', 'chain']),
    spawnWorker({ ...env, TOLLGATE_SEED: gatewayMnemonic }, ['--role', 'signer']),
    spawnWorker({ ...env, TOLLGATE_SEED: gatewayMnemonic }, ['--role', 'signer']),
  ])
  processes.push(...started)
  apis = started.slice(0, 2) as typeof apis
  miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
}, 40_000)

afterAll(async () => {
  if (miner) clearInterval(miner)
  await Promise.all(processes.map((p) => p.stop()))
  receiver.stop(true)
  await direct?.close()
  await bouncer?.stop()
  await devnet?.stop()
  await pg?.stop()
}, 20_000)

/** Client backends on Postgres itself (PgBouncer's server connections, LISTENs, this test's own). */
async function serverConnections(): Promise<number> {
  const [row] = await direct.query<{ n: string }>(
    "select count(*)::text as n from pg_stat_activity where backend_type = 'client backend' and datname = 'postgres'",
    [],
  )
  return Number(row?.n)
}

test('behavior: behind PgBouncer in transaction mode (pool of 4), two APIs, two chain workers and two signers: concurrent payments created, one paid and completed, its webhooks delivered once, six withdrawals each sent once, Postgres sees the pool, not the processes', async () => {
  const [a, b] = apis.map((api) => graphqlClient(api.url, apiKey)) as [
    ReturnType<typeof graphqlClient>,
    ReturnType<typeof graphqlClient>,
  ]
  const hook = await a(
    `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
      ... on WebhookEndpointWithSecret { endpoint { id } } ... on UserError { code message } } }`,
    {
      input: {
        url: `http://127.0.0.1:${receiver.port}/hook`,
        events: ['PAYMENT_COMPLETED', 'WITHDRAWAL_CONFIRMED'],
      },
    },
  )
  expect(hook.data.createWebhookEndpoint.endpoint.id).toBeString()

  // prepared statements through a transaction pooler collide ("prepared statement … already exists"):
  // 30 payments at once over both APIs must all be created
  const create = (gql: typeof a, amount: string) =>
    gql(
      `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
        ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
      { input: { chain: 'devnet', asset: 'ETH', amount } },
    )
  const created = await Promise.all(
    Array.from({ length: 30 }, (_, i) => create(i % 2 ? a : b, `0.00${(i % 9) + 1}`)),
  )
  for (const r of created) expect(r.data?.createPayment?.payment?.id).toBeString()

  // the treasury pays the withdrawals (its address from the seed, as the operator funds it)
  const treasury = deriveEvmAddress(
    createSigner(gatewayMnemonic).xpub("m/44'/60'/1'"),
    "m/44'/60'/1'",
    0,
  ).address
  await devnet.payNative(treasury, parseEther('5'))
  const payment = (await create(a, '2')).data.createPayment.payment as { id: string; address: string }
  await devnet.payNative(payment.address, parseEther('2'))
  await waitFor(
    'the payment COMPLETED (seen through the other API)',
    async () =>
      (await b('query ($id: ID!) { payment(id: $id) { status } }', { id: payment.id })).data?.payment
        ?.status === 'COMPLETED',
    15_000,
  )

  const recipients = Array.from(
    { length: 6 },
    (_, i) => privateKeyToAccount(`0x${(i + 1).toString(16).padStart(64, 'b')}` as Hex).address,
  )
  const ids: string[] = []
  for (const [i, to] of recipients.entries()) {
    const res = await (i % 2 ? a : b)(
      `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
        ... on RequestWithdrawalPayload { withdrawal { id } } ... on UserError { code message } } }`,
      { input: { chain: 'devnet', asset: 'ETH', to, amount: `0.1${i}`, idempotencyKey: `scaled-${i}` } },
    )
    expect(res.data.requestWithdrawal.withdrawal.id).toBeString()
    ids.push(res.data.requestWithdrawal.withdrawal.id)
  }
  await waitFor(
    'six withdrawals CONFIRMED',
    async () => {
      const page = await a('{ withdrawals(first: 10) { edges { node { status } } } }')
      const statuses = page.data?.withdrawals.edges.map((e: { node: { status: string } }) => e.node.status)
      return statuses?.length === 6 && statuses.every((s: string) => s === 'CONFIRMED')
    },
    25_000,
  )
  // each sent once, exactly: one transaction per withdrawal, consecutive nonces of the treasury
  for (const [i, to] of recipients.entries())
    expect(await devnet.client.getBalance({ address: to })).toBe(parseEther(`0.1${i}`))
  const sent = await direct.db
    .select()
    .from(outboundTxs)
    .where(and(eq(outboundTxs.purpose, 'withdrawal'), inArray(outboundTxs.status, ['confirmed'])))
  expect(sent).toHaveLength(6)
  const nonces = sent.map((t) => Number(t.nonce)).sort((x, y) => x - y)
  expect(nonces).toEqual(nonces.map((_, i) => (nonces[0] as number) + i))
  const all = await direct.db.select().from(outboundTxs).where(eq(outboundTxs.purpose, 'withdrawal'))
  expect(all.filter((t) => t.status !== 'confirmed')).toEqual([])

  const deliveries = () => direct.db.select().from(webhookDeliveries)
  await waitFor(
    'the webhooks delivered',
    async () => {
      const rows = await deliveries()
      return rows.length === 7 && rows.every((d) => d.status === 'succeeded')
    },
    15_000,
  )
  const rows = await deliveries()
  expect(rows.map((d) => d.eventType).sort()).toEqual([
    'payment.completed',
    ...Array(6).fill('withdrawal.confirmed'),
  ])
  expect([...received.keys()].sort()).toEqual(rows.map((d) => d.eventId).sort())
  expect([...received.values()].every((n) => n === 1)).toBe(true)

  // both signers took part (each advanced payouts), and nothing was sent twice (above)
  for (const signer of processes.slice(4, 6)) expect(signer.output()).toContain('payouts advanced')

  // every process found DATABASE_URL does not keep sessions, and runs without named prepared statements
  for (const p of processes) expect(p.output()).toContain('prepared statements off')

  // six processes with pools of 10 each: Postgres holds PgBouncer's 4, the two APIs' LISTENs and this test's
  const clients = (await bouncer.show('clients')).filter((c) => c.database === 'postgres').length
  const servers = await serverConnections()
  expect(servers).toBeLessThanOrEqual(poolSize + 2 + 2)
  expect(clients).toBeGreaterThan(servers)
  console.log(`PgBouncer clients ${clients}, Postgres client backends ${servers}`)
}, 40_000)

/** `{ me { id } }` with `key` against one API: its merchant id, or undefined when refused. */
const me = (url: string, key: string) =>
  graphqlClient(url, key)('{ me { id } }').then((r) => r.data?.me?.id as string | undefined)

test('behavior: a key revoked with the CLI through PgBouncer is refused at once by both APIs, which hear the NOTIFY over DATABASE_DIRECT_URL', async () => {
  // one LISTEN per API on Postgres itself (not through PgBouncer), none in the workers; every probe heard
  const listens = await direct.query<{ n: string }>(
    "select count(*)::text as n from pg_stat_activity where query ilike 'listen %' and client_port is not null",
    [],
  )
  expect(Number(listens[0]?.n)).toBe(2)
  for (const p of processes) expect(p.output()).not.toContain('LISTEN hears no notifications')
  const merchantId = await me(apis[0]!.url, apiKey)
  const created = JSON.parse(
    (await cli(['apikey', 'create', '--merchant', merchantId!, '--json'])).trim().split('\n').at(-1)!,
  )
  // cached in both processes (the second request is answered from the cache)
  for (const api of apis)
    for (let i = 0; i < 2; i++) expect(await me(api.url, created.apiKey)).toBe(merchantId)
  await cli(['apikey', 'revoke', created.id])
  for (const api of apis)
    await waitFor(
      'the revoked key refused',
      async () => (await me(api.url, created.apiKey)) === undefined,
      3_000,
    )
}, 20_000)

test('behavior: an API whose LISTEN goes through PgBouncer hears nothing, says so, and looks keys up on every request: a revocation still takes effect on the next one', async () => {
  const { DATABASE_DIRECT_URL: _, ...pooledOnly } = keyless
  const api = await spawnApi(pooledOnly)
  processes.push(api)
  await waitFor(
    'the warning about LISTEN',
    () => api.output().includes('LISTEN hears no notifications'),
    5_000,
  )
  const merchantId = await me(api.url, apiKey)
  const created = JSON.parse(
    (await cli(['apikey', 'create', '--merchant', merchantId!, '--json'])).trim().split('\n').at(-1)!,
  )
  for (let i = 0; i < 3; i++) expect(await me(api.url, created.apiKey)).toBe(merchantId)
  await cli(['apikey', 'revoke', created.id])
  expect(await me(api.url, created.apiKey)).toBeUndefined()
}, 20_000)

test('behavior: keepsSessions tells Postgres and a session-mode pooler (prepared statements on) from a transaction-mode pooler (off)', async () => {
  const session = await startPgBouncer(
    { host: '127.0.0.1', port: pg.port, user: 'postgres' },
    { mode: 'session' },
  )
  try {
    expect(await keepsSessions(pg.url)).toBe(true)
    expect(await keepsSessions(session.url('postgres'))).toBe(true)
    expect(await keepsSessions(bouncer.url('postgres'))).toBe(false)
    // nothing answers there: the safe answer
    expect(await keepsSessions('postgres://postgres@127.0.0.1:1/postgres')).toBe(false)
  } finally {
    await session.stop()
  }
}, 20_000)
