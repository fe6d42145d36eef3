import type { ChainSettings } from '@tollgate/sdk'
import { readChainStatus } from '../../src/chain-status.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createMetrics } from '../../src/metrics.ts'
import { createHttpHandler } from '../../src/server.ts'
import { createTestApp, type TestApp, testConfig } from './app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from './chain.ts'
import { type RpcFaultProxy, startRpcFaultProxy } from './rpc-fault-proxy.ts'

/**
 * The gateway on a devnet mined every 250 ms, talking to it only through an RPC fault proxy: the scene of the
 * tests that break the node under scanning and payouts. Its HTTP handler serves the chain status gauges (the
 * metrics read `readChainStatus` at scrape). Workers start on `startWorkers()`, so a test may drive passes by
 * hand first.
 *
 * @example
 * const scene = await startFaultScene({ settings: { callTimeoutMs: 1500 } })
 * scene.proxy.inject({ fault: { kind: 'http', status: 500 }, probability: 0.2 })
 * afterAll(() => scene.stop())
 */
export async function startFaultScene(
  options: { settings?: ChainSettings; evm?: Record<string, unknown>; seed?: number } = {},
) {
  const devnet: Devnet = await startDevnet()
  const proxy: RpcFaultProxy = await startRpcFaultProxy(devnet.url, { seed: options.seed ?? 1 })
  const app: TestApp = await createTestApp({
    config: testConfig(
      proxy.url,
      { confirmations: 2, ...options.evm },
      { sweeps: { enabled: false }, ...options.settings },
    ),
    env: { TOLLGATE_SEED: gatewayMnemonic },
  })
  const http = createHttpHandler(app.ctx, {
    metrics: createMetrics(undefined, () => readChainStatus(app.ctx)),
  })
  const miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
  let stopWorkers: (() => Promise<void>) | undefined
  const get = (path: string) => http.handle(new Request(`http://t${path}`))
  return {
    devnet,
    proxy,
    app,
    async startWorkers() {
      stopWorkers ??= await startWorkers(app.ctx)
    },
    async stopWorkers() {
      await stopWorkers?.()
      stopWorkers = undefined
    },
    /** The Prometheus text of /metrics. */
    metrics: async () => (await get('/metrics')).text(),
    /** /readyz: its HTTP status and body. */
    readyz: async () => {
      const res = await get('/readyz')
      return { status: res.status, body: (await res.json()) as ReadyzBody }
    },
    async stop() {
      clearInterval(miner)
      await stopWorkers?.()
      await app.close()
      await proxy.stop()
      await devnet.stop()
    },
  }
}
export type FaultScene = Awaited<ReturnType<typeof startFaultScene>>

export type ReadyzBody = {
  ok: boolean
  degraded: boolean
  checks: Array<{ name: string; ok: boolean; detail?: string; degraded?: string[] }>
}

/**
 * The value of one series in Prometheus text, or undefined when it is absent.
 *
 * @example
 * metricValue(text, 'tollgate_chain_lag_blocks', { chain: 'devnet' }) // 0
 */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = (m[2] as string).split(',').sort()
    if (have.length === wanted.length && have.every((l, i) => l === wanted[i])) return Number(m[3])
  }
  return undefined
}
