import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { KytPolicyConfig } from '@tollgate/sdk'
import { and, eq } from 'drizzle-orm'
import { createWalletClient, formatEther, type Hex, http, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { newMnemonic } from '../../src/core/payouts/signer.ts'
import { webhookEventTypes } from '../../src/core/webhooks/events.ts'
import { kytChecks, merchants, payments, transfers, withdrawalEvents } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Devnet, devnetChain, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { kytTestConfig } from '../helpers/kyt.ts'
import { type GatewayProcess, spawnWorker, waitFor } from '../helpers/processes.ts'
import { creditOf, postingsOf } from '../helpers/unit.ts'
import { type RiskApiStandIn, startRiskApi } from '../stand-ins/risk-api.ts'

let devnet: Devnet
let riskApi: RiskApiStandIn
let app: TestApp
let stopWorkers: (() => Promise<void>) | undefined
let mining = true
let miner: ReturnType<typeof setInterval> | undefined
const spawned: GatewayProcess[] = []

beforeAll(async () => {
  devnet = await startDevnet()
  riskApi = startRiskApi()
  app = await createTestApp({
    config: kytTestConfig(devnet.url, {
      // the risk API answers within 800 ms or counts as down; the gateway waits 1 s for all providers
      riskApi: { url: riskApi.url, apiKey: riskApi.apiKey, timeoutMs: 800 },
      policy: { failMode: 'closed', failAfterMs: 60_000 },
      settings: { sweeps: { enabled: false } },
    }),
    env: { TOLLGATE_SEED: gatewayMnemonic, KYT_TIMEOUT_MS: '1000' },
  })
  // scanning, screening and webhooks; nothing is sent (a QUEUED withdrawal stays QUEUED)
  stopWorkers = await startWorkers(app.ctx, { payouts: false })
  miner = setInterval(() => {
    if (mining) devnet.mine(1).catch(() => {})
  }, 250)
}, 30_000)
afterAll(async () => {
  if (miner) clearInterval(miner)
  for (const p of spawned) await p.kill().catch(() => {})
  await stopWorkers?.()
  await app?.close()
  await riskApi?.stop()
  await devnet?.stop()
})

/** A merchant with its own overrides of the gateway's policy, as an operator sets them. */
async function merchantWith(gateway: TestApp, name: string, policy?: KytPolicyConfig) {
  const m = await gateway.merchant(name)
  if (policy) await gateway.ctx.db.update(merchants).set({ kytPolicy: policy }).where(eq(merchants.id, m.id))
  return m
}

/** A payment of `amount` ETH paid in full by the devnet's (unlisted) payer. */
async function paid(gateway: TestApp, merchantId: string, amount: string) {
  const { payment } = await createPayment(gateway.ctx, merchantId, { chain: 'devnet', asset: 'ETH', amount })
  await devnet.payNative(payment.address, parseEther(amount))
  return payment
}

const statusOf = async (gateway: TestApp, id: string) =>
  (await gateway.ctx.db.select().from(payments).where(eq(payments.id, id)))[0]?.status

async function checksOf(gateway: TestApp, paymentId: string) {
  return gateway.ctx.db.select().from(kytChecks).where(eq(kytChecks.paymentId, paymentId))
}

const down = () => riskApi.misbehave({ kind: 'status', status: 503 }, 'both')
const healed = () => riskApi.misbehave(undefined, 'both')

describe('a provider that does not answer', () => {
  test('error: failMode closed: once failAfterMs passes the deposit is HELD with KYT_UNAVAILABLE and never credited; the operator is alerted', async () => {
    const m = await merchantWith(app, 'Closed shop', { failMode: 'closed', failAfterMs: 1500 })
    down()
    try {
      const p = await paid(app, m.id, '0.3')
      await waitFor('HELD', async () => (await statusOf(app, p.id)) === 'HELD')
      const [check] = await checksOf(app, p.id)
      expect(check).toMatchObject({
        state: 'held',
        verdict: null,
        reason: 'KYT_UNAVAILABLE',
        failMode: 'closed',
      })
      // every question the risk API got ended in its 503; the sanctions list answered
      expect(check!.answers.find((a) => a.provider === 'risk')?.error).toBe('KYT_UNAVAILABLE')
      expect(check!.answers.find((a) => a.provider === 'sanctions')?.verdict).toBe('allow')
      const gql = await app.gql(
        'query ($id: ID!) { payment(id: $id) { status amountConfirmed kyt { state reason failMode } } }',
        { id: p.id },
        m.key,
      )
      expect(gql.data.payment).toEqual({
        status: 'HELD',
        amountConfirmed: '0',
        kyt: [{ state: 'HELD', reason: 'KYT_UNAVAILABLE', failMode: 'closed' }],
      })
      // deep enough to be credited had it been allowed, and still not
      await waitFor('the deposit at the required depth', async () => {
        const [t] = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
        return t?.status === 'confirmed'
      })
      expect(await statusOf(app, p.id)).toBe('HELD')
      expect(await creditOf(app.ctx.db, p.id)).toBe(0n)
      expect(app.logs.some((l) => l.level === 50 && l.check === check!.id && l.failMode === 'closed')).toBe(
        true,
      )
    } finally {
      healed()
    }
  }, 20_000)

  test('error: failMode open: once failAfterMs passes the deposit is credited with failMode open recorded, and an error is logged', async () => {
    const m = await merchantWith(app, 'Open shop', { failMode: 'open', failAfterMs: 1500 })
    // this time the API never answers at all: each question runs into the provider's timeout
    riskApi.misbehave({ kind: 'hang' }, 'both')
    try {
      const p = await paid(app, m.id, '0.2')
      await waitFor('COMPLETED', async () => (await statusOf(app, p.id)) === 'COMPLETED')
      const gql = await app.gql(
        'query ($id: ID!) { payment(id: $id) { status amountConfirmed kyt { id state verdict reason failMode } } }',
        { id: p.id },
        m.key,
      )
      expect(gql.data.payment).toMatchObject({
        status: 'COMPLETED',
        amountConfirmed: '0.2',
        kyt: [{ state: 'CLEAR', verdict: null, reason: null, failMode: 'open' }],
      })
      expect(await creditOf(app.ctx.db, p.id)).toBe(parseEther('0.2'))
      const [check] = await checksOf(app, p.id)
      expect(check!.answers.find((a) => a.provider === 'risk')?.error).toBe('KYT_TIMEOUT')
      const checkId = gql.data.payment.kyt[0].id
      const alert = app.logs.find((l) => l.check === checkId && l.failMode === 'open')
      expect(alert).toMatchObject({
        level: 50,
        state: 'clear',
        msg: 'kyt: no answer in time; let through unscreened (failMode open)',
      })
    } finally {
      healed()
    }
  }, 20_000)

  test('behavior: a screening retried after the provider recovers (before failAfterMs) credits the deposit exactly once', async () => {
    const m = await merchantWith(app, 'Patient shop')
    down()
    let paymentId: string
    try {
      const p = await paid(app, m.id, '0.4')
      paymentId = p.id
      // failed twice, postponed each time; the deposit waits uncredited
      await waitFor('two failed attempts', async () => {
        const [c] = await checksOf(app, p.id)
        return c !== undefined && c.attempts >= 2 && c.lastError !== null
      })
      const [c] = await checksOf(app, p.id)
      expect(c).toMatchObject({ state: 'pending', verdict: null })
      expect(c!.lastError).toContain('risk:')
      expect(await statusOf(app, p.id)).not.toBe('COMPLETED')
      expect(await creditOf(app.ctx.db, p.id)).toBe(0n)
    } finally {
      healed()
    }
    await waitFor('COMPLETED', async () => (await statusOf(app, paymentId)) === 'COMPLETED', 15_000)
    const [c] = await checksOf(app, paymentId)
    expect(c).toMatchObject({ state: 'clear', verdict: 'allow', failMode: null, reason: null })
    expect(await creditOf(app.ctx.db, paymentId)).toBe(parseEther('0.4'))
    // one credit: a single pair of postings, whatever the retries
    expect((await postingsOf(app.ctx.db, paymentId)).length).toBe(2)
  }, 30_000)

  test('behavior: a withdrawal requested while the provider is down waits in SCREENING, reserved, and is QUEUED once the provider answers', async () => {
    const m = await merchantWith(app, 'Paying shop')
    const funding = await paid(app, m.id, '1')
    await waitFor('funded', async () => (await statusOf(app, funding.id)) === 'COMPLETED')
    const to = privateKeyToAccount(`0x${'6b'.repeat(32)}` as Hex).address
    down()
    let id: string
    try {
      const res = await app.gql(
        `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
          __typename ... on RequestWithdrawalPayload { withdrawal { id status kyt { state verdict } } }
          ... on UserError { code message } } }`,
        { input: { chain: 'devnet', asset: 'ETH', to, amount: '0.25', idempotencyKey: 'while-down' } },
        m.key,
      )
      expect(res.data.requestWithdrawal.__typename).toBe('RequestWithdrawalPayload')
      expect(res.data.requestWithdrawal.withdrawal).toMatchObject({
        status: 'SCREENING',
        kyt: { state: 'PENDING', verdict: null },
      })
      id = res.data.requestWithdrawal.withdrawal.id
      const [b] = await getBalances(app.ctx, m.id)
      expect(b).toMatchObject({ available: parseEther('0.75'), reserved: parseEther('0.25') })
      // retried and still unanswered: it stays where it is
      await waitFor('a failed retry', async () => {
        const [c] = await app.ctx.db
          .select()
          .from(kytChecks)
          .where(and(eq(kytChecks.subjectType, 'withdrawal'), eq(kytChecks.subjectId, id)))
        return c !== undefined && c.attempts >= 1 && c.lastError !== null
      })
    } finally {
      healed()
    }
    const status = async () =>
      (
        await app.gql(
          'query ($id: ID!) { withdrawal(id: $id) { status kyt { state verdict } } }',
          { id },
          m.key,
        )
      ).data.withdrawal
    await waitFor('QUEUED', async () => (await status()).status === 'QUEUED', 15_000)
    expect((await status()).kyt).toEqual({ state: 'CLEAR', verdict: 'ALLOW' })
    const events = await app.ctx.db
      .select()
      .from(withdrawalEvents)
      .where(eq(withdrawalEvents.withdrawalId, id))
    expect(events.sort((a, b) => a.seq - b.seq).map((e) => [e.type, e.toStatus])).toEqual([
      ['withdrawal.requested', 'SCREENING'],
      ['withdrawal.queued', 'QUEUED'],
    ])
  }, 30_000)
})

describe('a withdrawal whose screening never gets an answer', () => {
  test('error: failMode closed: a SCREENING withdrawal waits for approval (withdrawal.held, KYT_UNAVAILABLE) once failAfterMs passes; every event it records is one a webhook can subscribe to', async () => {
    const m = await merchantWith(app, 'Cautious payer', { failMode: 'closed', failAfterMs: 1500 })
    const funding = await paid(app, m.id, '0.5')
    await waitFor('funded', async () => (await statusOf(app, funding.id)) === 'COMPLETED')
    const to = privateKeyToAccount(`0x${'7c'.repeat(32)}` as Hex).address
    down()
    try {
      const res = await app.gql(
        `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
          __typename ... on RequestWithdrawalPayload { withdrawal { id status } } } }`,
        { input: { chain: 'devnet', asset: 'ETH', to, amount: '0.1', idempotencyKey: 'never-answered' } },
        m.key,
      )
      const { id, status } = res.data.requestWithdrawal.withdrawal
      expect(status).toBe('SCREENING')
      const withdrawal = async () =>
        (
          await app.gql(
            'query ($id: ID!) { withdrawal(id: $id) { status kyt { state verdict reason failMode } } }',
            { id },
            m.key,
          )
        ).data.withdrawal
      await waitFor('AWAITING_APPROVAL', async () => (await withdrawal()).status === 'AWAITING_APPROVAL')
      expect((await withdrawal()).kyt).toEqual({
        state: 'HELD',
        verdict: null,
        reason: 'KYT_UNAVAILABLE',
        failMode: 'closed',
      })
      // still reserved: it waits, it is not given up
      const [b] = await getBalances(app.ctx, m.id)
      expect(b?.reserved).toBe(parseEther('0.1'))
      const events = (
        await app.ctx.db.select().from(withdrawalEvents).where(eq(withdrawalEvents.withdrawalId, id))
      ).sort((a, b) => a.seq - b.seq)
      const held = events.find((e) => e.type === 'withdrawal.held')
      // the sanctions list answered (its version is kept); the risk API did not
      expect(held?.data).toEqual({
        kyt: { reason: 'KYT_UNAVAILABLE', verdict: null, versions: expect.stringMatching(/^sanctions=ETH /) },
      })
      expect(
        app.logs.some((l) => l.level === 50 && l.failMode === 'closed' && l.subject === `withdrawal:${id}`),
      ).toBe(true)
      // what it records is what merchants can be told: no event type outside the webhook catalog
      expect(
        events.map((e) => e.type).filter((t) => !(webhookEventTypes as readonly string[]).includes(t)),
      ).toEqual([])
    } finally {
      healed()
    }
  }, 30_000)
})

describe('a chain worker killed mid-screening', () => {
  test('behavior: SIGKILL while screenings are claimed loses none: after a restart every payment is credited exactly once', async () => {
    // a gateway of its own (its own database, Redis prefix and seed), run by real worker processes
    const seed = newMnemonic()
    const gateway = await createTestApp({
      config: kytTestConfig(devnet.url, { riskApi: { url: riskApi.url, apiKey: riskApi.apiKey } }),
      env: { TOLLGATE_SEED: seed },
    })
    try {
      const env = {
        DATABASE_URL: gateway.databaseUrl,
        REDIS_PREFIX: gateway.ctx.env.REDIS_PREFIX,
        TOLLGATE_SEED: seed,
        TOLLGATE_PLUGINS_CONFIG: 'test/helpers/kyt-plugins.config.ts',
        TEST_RPC_URL: devnet.url,
        TEST_RISK_API_URL: riskApi.url,
        TEST_RISK_API_KEY: riskApi.apiKey,
        KYT_TIMEOUT_MS: '1500',
        LOG_LEVEL: 'info',
      }
      const m = await gateway.merchant('Crash shop')
      const amounts = ['0.11', '0.12', '0.13', '0.14', '0.15']
      const created = []
      for (const amount of amounts)
        created.push(
          (await createPayment(gateway.ctx, m.id, { chain: 'devnet', asset: 'ETH', amount })).payment,
        )
      // all paid in one block, so one scanned range opens every screening and one pass claims them all
      mining = false
      const wallet = createWalletClient({
        account: devnet.payer,
        chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
        transport: http(devnet.url),
      })
      await devnet.test.setAutomine(false)
      const hashes: Hex[] = []
      try {
        const nonce = await devnet.client.getTransactionCount({ address: devnet.payer.address })
        for (const [i, p] of created.entries())
          hashes.push(
            await wallet.sendTransaction({
              to: p.address as Hex,
              value: parseEther(amounts[i]!),
              nonce: nonce + i,
            }),
          )
        await devnet.mine(1)
      } finally {
        await devnet.test.setAutomine(true)
        mining = true
      }
      const receipts = await Promise.all(
        hashes.map((hash) => devnet.client.waitForTransactionReceipt({ hash })),
      )
      expect(new Set(receipts.map((r) => r.blockNumber)).size).toBe(1)

      riskApi.misbehave({ kind: 'hang' }, 'both')
      const asked = riskApi.requests.length
      const first = await spawnWorker(env)
      spawned.push(first)
      // every screening is under way: each one's question to the risk API hangs
      await riskApi.waitForRequests(asked + created.length)
      await first.kill()

      const checks = await gateway.ctx.db.select().from(kytChecks)
      expect(checks.map((c) => [c.state, c.attempts, c.lastError])).toEqual(
        created.map(() => ['pending', 1, null]),
      )
      for (const p of created) expect(await creditOf(gateway.ctx.db, p.id)).toBe(0n)

      const second = await spawnWorker(env)
      spawned.push(second)
      healed()
      // the dead worker's claims run out (its lease), then the new one screens them
      await waitFor(
        'every payment COMPLETED',
        async () => {
          const rows = await gateway.ctx.db.select().from(payments)
          return rows.filter((r) => r.status === 'COMPLETED').length === created.length
        },
        30_000,
      )
      await second.stop()

      for (const [i, p] of created.entries()) {
        expect(await creditOf(gateway.ctx.db, p.id)).toBe(parseEther(amounts[i]!))
        expect((await postingsOf(gateway.ctx.db, p.id)).length).toBe(2)
      }
      const after = await gateway.ctx.db.select().from(kytChecks)
      expect(after.map((c) => c.state)).toEqual(created.map(() => 'clear'))
      expect(after.every((c) => c.attempts >= 2)).toBe(true)
      const [balance] = await getBalances(gateway.ctx, m.id)
      expect(formatEther(balance!.available)).toBe('0.65')
    } finally {
      healed()
      await gateway.close()
    }
  }, 60_000)
})
