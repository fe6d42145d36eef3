import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chain, defineConfig } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import { createWebhookEndpoint } from '../../src/core/webhooks/endpoints.ts'
import { webhookEventTypes } from '../../src/core/webhooks/events.ts'
import { payments } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Bcoin, startBcoin } from '../helpers/bcoin.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'
import { recordingWebhookReceiver } from '../helpers/kyt.ts'
import {
  createPricedPayment,
  type RateStandIns,
  startRateStandIns,
  waitForPayment,
  waitForRate,
  withPricing,
} from '../helpers/pricing.ts'
import { waitFor } from '../helpers/processes.ts'

// A fiat-priced Bitcoin payment through the whole gateway on a bcoin regtest node: BTC/USD from the Kraken
// stand-in (Coinbase behind it) by the rates job, the sats quoted through GraphQL, paid and seen by the chain
// worker, and the rate kept with the payment.

let node: Bcoin
let standIns: RateStandIns
let app: TestApp
let key: string
let hooks: ReturnType<typeof recordingWebhookReceiver>
let stopWorkers: (() => Promise<void>) | undefined

beforeAll(async () => {
  node = await startBcoin()
  standIns = startRateStandIns()
  hooks = recordingWebhookReceiver()
  const config = defineConfig({
    chains: {
      regtest: chain(
        () => import('../../src/plugins/bitcoin/index.ts'),
        {
          network: 'regtest',
          rpcUrls: [node.url],
          confirmations: 2,
          finalityDepth: 6,
          timeoutMs: 5000,
          headPollMs: 200,
        },
        // the 432 blocks to segwit activation hold nothing for the gateway
        { startHeight: await node.height(), scanIntervalMs: 300 },
      ),
    },
  })
  app = await createTestApp({
    config: withPricing(config, standIns, {
      pairs: { 'BTC/USD': { sources: ['kraken', 'coinbase'] } },
      refreshSeconds: 1,
    }),
    env: { TOLLGATE_SEED: gatewayMnemonic, WEBHOOK_ALLOW_PRIVATE: 'true' },
  })
  const merchant = await app.merchant('Bitcoin priced shop')
  key = merchant.key
  await createWebhookEndpoint(app.ctx, merchant.id, { url: hooks.url, events: webhookEventTypes })
  stopWorkers = await startWorkers(app.ctx)
}, 90_000)
afterAll(async () => {
  await stopWorkers?.()
  await app?.close()
  hooks?.stop()
  await standIns?.stop()
  await node?.stop()
})

describe('a fiat-priced Bitcoin payment on bcoin regtest', () => {
  test('default: 25.00 USD at BTC/USD from the Kraken stand-in is quoted in sats, paid at that amount → COMPLETED with the rate stored', async () => {
    const rate = await waitForRate(app, key, 'BTC/USD', (r) => r.fresh, 10_000)
    // Kraken names Bitcoin XBT; the first source of the rule answered
    expect(rate).toMatchObject({
      rate: '65000.1',
      method: 'fallback',
      sources: [{ provider: 'kraken', rate: '65000.10000' }],
    })
    expect(standIns.kraken.requests.some((r) => r.path.includes('pair=XBTUSD'))).toBe(true)

    const before = Date.now()
    const { result, errors } = await createPricedPayment(app, key, {
      chain: 'regtest',
      asset: 'BTC',
      price: { amount: '25.00', currency: 'USD' },
    })
    expect(errors).toBeUndefined()
    const created = result.payment
    // 25 / 65000.1 = 0.000384614792…, rounded up to the sat
    expect(created).toMatchObject({
      status: 'PENDING',
      amountDue: '0.00038462',
      price: { amount: '25.00', currency: 'USD' },
      rate: '65000.1',
      amountRemainingFiat: '25',
    })
    // the default lock: 900 s
    expect(Date.parse(created.rateLockedUntil)).toBeGreaterThanOrEqual(before + 900_000)

    await node.send(created.address, 38_462n)
    await node.mine(2)
    const done = await waitForPayment(
      app,
      key,
      created.id,
      ({ row }) => row.status === 'COMPLETED',
      'COMPLETED',
    )
    expect(done).toMatchObject({
      amountReceived: '0.00038462',
      overpaidAmount: '0',
      rate: '65000.1',
      amountReceivedFiat: '25',
      amountRemainingFiat: '0',
    })
    expect(done.events.map((e: { type: string }) => e.type)).toContain('payment.completed')

    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, created.id))
    expect(row).toMatchObject({
      status: 'COMPLETED',
      amountDue: 38_462n,
      amountReceived: 38_462n,
      priceAmount: '25.00',
      priceCurrency: 'USD',
      rate: '65000.1',
      rateSources: { method: 'fallback', sources: [{ provider: 'kraken', rate: '65000.10000' }] },
    })
    // the time of the quote it rests on, from before the payment was priced
    expect(row!.rateAt!.getTime()).toBeLessThanOrEqual(row!.createdAt.getTime())

    const completed = await waitFor('payment.completed webhook', () =>
      hooks.of(created.id).find((h) => h.type === 'payment.completed'),
    )
    expect(completed.data).toMatchObject({
      amountDue: '0.00038462',
      price: { amount: '25.00', currency: 'USD' },
      rate: { value: '65000.1', sources: { sources: [{ provider: 'kraken' }] } },
      amountReceivedFiat: '25',
    })
  }, 30_000)
})
