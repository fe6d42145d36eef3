import { afterAll, beforeAll, expect, test } from 'bun:test'
import { and, eq, like } from 'drizzle-orm'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createApiKey, revokeApiKey } from '../../src/core/access/api-keys.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { requestWithdrawal } from '../../src/core/payouts/withdrawals.ts'
import { type DbHandle, openDb } from '../../src/db/client.ts'
import { migrate } from '../../src/db/migrate.ts'
import { ledgerPostings, outboundTxs, webhookDeliveries, withdrawals } from '../../src/db/schema/index.ts'
import type { TestApp } from '../helpers/app.ts'
import { type Devnet, startDevnet } from '../helpers/chain.ts'
import { startOutageScene } from '../helpers/outage.ts'
import { type OwnPostgres, startOwnPostgres } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/processes.ts'

// The database is the gateway's source of truth; a restart of it (an upgrade, a failover, `pg_ctl restart`)
// cuts every connection at once, the pool's and the LISTEN one's. This file restarts a Postgres of its own
// mid-run, with the API and every worker running in this process, and checks nothing exits, hangs or doubles.
let pg: OwnPostgres
let devnet: Devnet
let app: TestApp
let other: DbHandle | undefined
let scene: Awaited<ReturnType<typeof startOutageScene>> | undefined
let received: Map<string, number>
const crashes: unknown[] = []
const onCrash = (error: unknown) => crashes.push(error)

beforeAll(async () => {
  process.on('uncaughtException', onCrash)
  process.on('unhandledRejection', onCrash)
  ;[pg, devnet] = await Promise.all([startOwnPostgres(), startDevnet()])
  const migrator = await openDb({ url: pg.url, maxConnections: 1 })
  await migrate(migrator)
  await migrator.close()
  scene = await startOutageScene(devnet, { DATABASE_URL: pg.url })
  ;({ app, received } = scene)
}, 30_000)

afterAll(async () => {
  await scene?.stop()
  await other?.close()
  await devnet?.stop()
  await pg?.stop()
  process.off('uncaughtException', onCrash)
  process.off('unhandledRejection', onCrash)
}, 20_000)

const paymentStatus = (id: string) => scene!.paymentStatus(id)

const me = (key: string) => app.gql('{ me { id } }', {}, key)

test('behavior: Postgres down 1.5 s and restarted mid-run: API back within seconds, payment credited once, withdrawal sent once, each webhook event delivered once, API and workers still serving', async () => {
  // a balance to withdraw from, and a funded treasury to send it
  const merchant = await scene!.fundedMerchant('Postgres restart shop')
  const toPay = await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
  await devnet.payNative(toPay.payment.address, parseEther('1'))
  const to = privateKeyToAccount(`0x${'6'.repeat(64)}` as Hex).address
  const { withdrawal } = await requestWithdrawal(app.ctx, merchant.id, {
    chain: 'devnet',
    asset: 'ETH',
    to,
    amount: '0.5',
    idempotencyKey: 'postgres-restart',
  })

  // with the payment being detected and the withdrawal being sent, every connection is cut and the server
  // stays away long enough for queries of every worker to fail
  await pg.restart({ downMs: 1500 })
  // back within seconds of the server, not after the driver's backoff grown by every failed attempt meanwhile
  // (a request left waiting past the deadline counts as no answer)
  const backBy = Date.now() + 5_000
  await waitFor(
    'the API answering again',
    () =>
      Promise.race([
        app.gql('{ me { id } }', {}, merchant.key).then(
          (r) => r?.data?.me?.id,
          () => undefined,
        ),
        Bun.sleep(Math.max(0, backBy - Date.now())).then(() => undefined),
      ]),
    5_000,
  )

  await waitFor(
    'payment COMPLETED and the withdrawal CONFIRMED',
    async () => {
      const [w] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, withdrawal.id))
      return (await paymentStatus(toPay.payment.id)) === 'COMPLETED' && w?.status === 'CONFIRMED'
    },
    20_000,
  )
  expect((await app.gql('{ me { id } }', {}, merchant.key)).data).toEqual({ me: { id: merchant.id } })

  // credited once: one posting to the merchant for the payment, of exactly what was paid
  const credits = (
    await app.ctx.db
      .select()
      .from(ledgerPostings)
      .where(and(eq(ledgerPostings.refType, 'payment'), like(ledgerPostings.refId, `${toPay.payment.id}#%`)))
  ).filter((p) => p.merchantId === merchant.id && p.amount > 0n)
  expect(credits.map((p) => p.amount)).toEqual([parseEther('1')])
  // sent once: one transaction, the exact amount on chain
  expect(await devnet.client.getBalance({ address: to })).toBe(parseEther('0.5'))
  const sent = await app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.purpose, 'withdrawal'))
  expect(sent.length).toBe(1)
  const [w] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.merchantId, merchant.id))
  expect(w?.outboundTxId).toBe(sent[0]!.id)

  const deliveries = () =>
    app.ctx.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.merchantId, merchant.id))
  await waitFor(
    'every webhook delivered',
    async () => {
      const all = await deliveries()
      return (
        all.some((d) => d.eventType === 'withdrawal.confirmed') && all.every((d) => d.status === 'succeeded')
      )
    },
    20_000,
  )
  const all = await deliveries()
  const types = all.map((d) => d.eventType)
  for (const type of ['payment.completed', 'withdrawal.confirmed']) expect(types).toContain(type)
  expect([...received.keys()].sort()).toEqual(all.map((d) => d.eventId).sort())
  expect([...received.values()].every((n) => n === 1)).toBe(true)
  expect(crashes).toEqual([])
}, 40_000)

test('behavior: after a Postgres restart the revocation LISTEN is re-established: a key revoked by another process stops working here', async () => {
  const merchant = await app.merchant('Revoked after restart')
  const key = await createApiKey(app.ctx, { merchantId: merchant.id, name: 'cached' })
  await pg.restart()
  // the cache is active again only once the subscription is back; then this key is cached
  await waitFor('the revocation subscription back', () => app.ctx.authCache?.active)
  expect((await me(key.key)).data).toEqual({ me: { id: merchant.id } })
  expect((await me(key.key)).data).toEqual({ me: { id: merchant.id } })
  // another process: its own connection, no access to this process's cache, only the NOTIFY reaches it
  other = await openDb({ url: pg.url, maxConnections: 1 })
  await revokeApiKey({ db: other.db }, { merchantId: merchant.id, keyId: key.id })
  await waitFor('the revoked key refused', async () => (await me(key.key)).errors?.length > 0, 5_000)
  expect(crashes).toEqual([])
}, 30_000)
