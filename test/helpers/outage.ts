import { eq } from 'drizzle-orm'
import { parseEther } from 'viem'
import { createPayment } from '../../src/core/payments/create.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { createWebhookEndpoint } from '../../src/core/webhooks/endpoints.ts'
import { webhookEventTypes } from '../../src/core/webhooks/events.ts'
import { payments } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp, testConfig } from './app.ts'
import { type Devnet, gatewayMnemonic } from './chain.ts'
import { waitFor } from './processes.ts'

/**
 * A webhook receiver on a free local port that answers 200 and counts how often each `webhook-id` arrived.
 *
 * @example
 * const { receiver, received } = countingWebhookReceiver()
 */
export function countingWebhookReceiver() {
  const received = new Map<string, number>()
  const receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const id = req.headers.get('webhook-id') ?? ''
      received.set(id, (received.get(id) ?? 0) + 1)
      await req.text()
      return new Response('ok')
    },
  })
  return { receiver, received }
}

/**
 * The whole gateway in this process (API context and every worker, with the seed) on a devnet mined every
 * 250 ms, and a webhook receiver counting each `webhook-id` it gets: the scene of the tests that take a service
 * away mid-run. `env` points it at the service the test owns (its own Redis or Postgres).
 *
 * @example
 * const scene = await startOutageScene(devnet, { REDIS_URL: redis.url })
 * afterAll(() => scene.stop())
 */
export async function startOutageScene(devnet: Devnet, env: Record<string, string>) {
  const { receiver, received } = countingWebhookReceiver()
  const app: TestApp = await createTestApp({
    config: testConfig(
      devnet.url,
      { confirmations: 2 },
      { payouts: { mode: 'none', intervalMs: 300 }, sweeps: { enabled: false } },
    ),
    env: { TOLLGATE_SEED: gatewayMnemonic, WEBHOOK_ALLOW_PRIVATE: 'true', ...env },
  })
  const stopWorkers = await startWorkers(app.ctx)
  const miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
  const paymentStatus = async (id: string) =>
    (await app.ctx.db.select().from(payments).where(eq(payments.id, id)))[0]?.status
  return {
    app,
    receiver,
    /** How often each webhook id was received. */
    received,
    paymentStatus,
    /**
     * A merchant with an endpoint on the receiver for every event, 2 ETH credited from a completed payment, and
     * a treasury funded with 5 ETH to send withdrawals from.
     */
    async fundedMerchant(name: string) {
      const merchant = await app.merchant(name)
      await createWebhookEndpoint(app.ctx, merchant.id, {
        url: `http://127.0.0.1:${receiver.port}/`,
        events: webhookEventTypes,
      })
      const funding = await createPayment(app.ctx, merchant.id, {
        chain: 'devnet',
        asset: 'ETH',
        amount: '2',
      })
      await devnet.payNative(funding.payment.address, parseEther('2'))
      await waitFor(
        'the funding payment COMPLETED',
        async () => (await paymentStatus(funding.payment.id)) === 'COMPLETED',
      )
      await devnet.payNative(
        roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury').address,
        parseEther('5'),
      )
      return merchant
    },
    async stop() {
      clearInterval(miner)
      await stopWorkers()
      await app.close()
      receiver.stop(true)
    },
  }
}
