import { afterAll, beforeAll, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { createPayment } from '../../src/core/payments/create.ts'
import { createWebhookEndpoint } from '../../src/core/webhooks/endpoints.ts'
import { webhookDeliveries } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp, testMnemonic } from '../helpers/app.ts'
import { spawnWorker, waitFor } from '../helpers/processes.ts'

let app: TestApp
beforeAll(async () => {
  app = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } })
})
afterAll(() => app.close())

test('behavior: a worker killed with SIGKILL in the middle of a delivery: the event is still delivered, by the next worker', async () => {
  const requests: string[] = []
  let hang = true
  const receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      requests.push(req.headers.get('webhook-id') ?? '')
      await req.text()
      if (hang) await Bun.sleep(5000) // the first request is still open when the worker dies
      return new Response('ok')
    },
  })
  const env = {
    DATABASE_URL: app.databaseUrl,
    REDIS_PREFIX: app.ctx.env.REDIS_PREFIX,
    TOLLGATE_SEED: testMnemonic,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: 'http://127.0.0.1:9',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'info',
  }
  try {
    const merchant = await app.merchant('Crashy hooks')
    await createWebhookEndpoint(app.ctx, merchant.id, {
      url: `http://127.0.0.1:${receiver.port}/`,
      events: ['payment.created'],
    })
    await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
    const first = await spawnWorker(env)
    await waitFor('the first request', () => requests.length >= 1, 10_000)
    await first.kill()
    hang = false
    const [claimed] = await app.ctx.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.merchantId, merchant.id))
    expect(claimed?.status).toBe('pending')
    expect(claimed?.attempts).toBe(0) // the dead worker recorded nothing
    const second = await spawnWorker(env)
    try {
      await waitFor(
        'delivered',
        async () => {
          const [d] = await app.ctx.db
            .select()
            .from(webhookDeliveries)
            .where(eq(webhookDeliveries.merchantId, merchant.id))
          return d?.status === 'succeeded'
        },
        20_000,
      )
    } finally {
      await second.stop()
    }
    // at least once, with the same webhook-id so the receiver can dedupe
    expect(requests.length).toBeGreaterThanOrEqual(2)
    expect(new Set(requests).size).toBe(1)
  } finally {
    receiver.stop(true)
  }
}, 40_000)
