import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp, testConfig } from './app.ts'
import { type Devnet, gatewayMnemonic } from './chain.ts'

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
  return {
    app,
    receiver,
    /** How often each webhook id was received. */
    received,
    async stop() {
      clearInterval(miner)
      await stopWorkers()
      await app.close()
      receiver.stop(true)
    },
  }
}
