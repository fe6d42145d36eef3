import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import postgres from 'postgres'
import { launchBrowser } from './browser.ts'
import { type Devnet, freePort, gatewayMnemonic, startDevnet } from './chain.ts'
import { createTestDatabase } from './db.ts'
import {
  createMerchantWithCli,
  type GatewayProcess,
  graphqlClient,
  repoRoot,
  spawnApi,
  spawnWorker,
} from './processes.ts'

/** What the hosted checkout's browser tests run against (`startCheckoutGateway`). */
export type CheckoutGateway<Node> = {
  /** The chain node the processes scan. */
  node: Node
  db: Awaited<ReturnType<typeof createTestDatabase>>
  /** On the gateway's database. */
  sql: postgres.Sql
  /** The processes' environment (the API's, without its PUBLIC_URL and PORT). */
  env: Record<string, string>
  api: Awaited<ReturnType<typeof spawnApi>>
  worker: GatewayProcess
  browser: Browser
  apiKey: string
  /** GraphQL with the merchant's API key. */
  gql: ReturnType<typeof graphqlClient>
  /** Ends all of it. */
  stop(): Promise<void>
}

/**
 * A gateway for the hosted checkout's browser tests: an API (its links under its own address, `PUBLIC_URL`) and a
 * worker as their own processes on a fresh database, scanning the chain `node` the test starts; a merchant made
 * with the CLI, a GraphQL client holding its key, and a headless Chromium. What started is stopped again when a
 * later step fails.
 *
 * @example
 * const gateway = await startCheckoutGateway({
 *   node: startBcoin(),
 *   merchant: 'Shop',
 *   prefix: 'checkout-btc',
 *   chainEnv: (node) => ({ TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/bitcoin.plugins.config.ts', TEST_BTC_RPC_URL: node.url }),
 * })
 * afterAll(() => gateway?.stop())
 */
export async function startCheckoutGateway<Node extends { stop(): Promise<unknown> }>(options: {
  /** The chain node, starting: it starts alongside the database and the browser. */
  node: Promise<Node>
  merchant: string
  /** REDIS_PREFIX's first part. */
  prefix: string
  /** The chain's part of the processes' environment: its plugins config and how to reach the node. */
  chainEnv: (node: Node) => Record<string, string> | Promise<Record<string, string>>
  /** The worker's environment where it differs from the API's (e.g. the node behind a proxy). */
  workerEnv?: (env: Record<string, string>, node: Node) => Record<string, string>
}): Promise<CheckoutGateway<Node>> {
  let node: Node | undefined
  let db: CheckoutGateway<Node>['db'] | undefined
  let browser: Browser | undefined
  let sql: postgres.Sql | undefined
  let api: CheckoutGateway<Node>['api'] | undefined
  let worker: GatewayProcess | undefined
  const stop = async () => {
    await browser?.close()
    await Promise.all([api?.stop(), worker?.stop()])
    await sql?.end()
    await node?.stop()
    await db?.drop()
  }
  try {
    const [n, d, b] = await Promise.allSettled([options.node, createTestDatabase(), launchBrowser()])
    node = fulfilled(n)
    db = fulfilled(d)
    browser = fulfilled(b)
    for (const s of [n, d, b]) if (s.status === 'rejected') throw s.reason
    sql = postgres(db!.url, { max: 2 })
    const env = {
      DATABASE_URL: db!.url,
      REDIS_PREFIX: `${options.prefix}-${crypto.randomUUID().slice(0, 8)}`,
      TOLLGATE_SEED: gatewayMnemonic,
      ...(await options.chainEnv(node!)),
      LOG_LEVEL: 'info',
    }
    const apiKey = await createMerchantWithCli(env, options.merchant)
    const port = await freePort()
    const [a, w] = await Promise.allSettled([
      spawnApi({ ...env, PUBLIC_URL: `http://127.0.0.1:${port}` }, port),
      spawnWorker(options.workerEnv?.(env, node!) ?? env),
    ])
    api = fulfilled(a)
    worker = fulfilled(w)
    for (const s of [a, w]) if (s.status === 'rejected') throw s.reason
    return {
      node: node!,
      db: db!,
      sql,
      env,
      api: api!,
      worker: worker!,
      browser: browser!,
      apiKey,
      gql: graphqlClient(api!.url, apiKey),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * `startCheckoutGateway` on anvil (test/fixtures/plugins.config.ts, 2 confirmations); with `pins`, prices the
 * operator pinned (e.g. `{ 'ETH/USD': '2500' }`, answered with no rates job) in a config written for the processes.
 *
 * @example
 * const gateway = await startDevnetCheckout({ merchant: 'Shop', prefix: 'checkout', pins: { 'ETH/USD': '2500' } })
 * afterAll(() => gateway?.stop())
 * await gateway.node.payNative(payment.address, parseEther('0.05'))
 */
export async function startDevnetCheckout(options: {
  merchant: string
  prefix: string
  pins?: Record<string, string>
}): Promise<CheckoutGateway<Devnet>> {
  const configDir = options.pins ? mkdtempSync(join(tmpdir(), `tollgate-${options.prefix}-`)) : undefined
  const removeConfig = () => configDir && rmSync(configDir, { recursive: true, force: true })
  try {
    const pluginsConfig = configDir
      ? writePinnedConfig(configDir, options.pins!)
      : 'test/fixtures/plugins.config.ts'
    const gateway = await startCheckoutGateway({
      node: startDevnet(),
      merchant: options.merchant,
      prefix: options.prefix,
      chainEnv: (devnet) => ({
        TOLLGATE_PLUGINS_CONFIG: pluginsConfig,
        TEST_RPC_URL: devnet.url,
        TEST_CONFIRMATIONS: '2',
      }),
    })
    return {
      ...gateway,
      stop: async () => {
        await gateway.stop()
        removeConfig()
      },
    }
  } catch (err) {
    removeConfig()
    throw err
  }
}

/** The devnet test config with `pins` as the operator's pinned prices, written in `dir`; returns its path. */
function writePinnedConfig(dir: string, pins: Record<string, string>): string {
  const path = join(dir, 'plugins.config.ts')
  const pairs = Object.fromEntries(Object.entries(pins).map(([pair, pin]) => [pair, { pin }]))
  writeFileSync(
    path,
    `import base from ${JSON.stringify(join(repoRoot, 'test/fixtures/plugins.config.ts'))}

export default { ...base, pricing: { pairs: ${JSON.stringify(pairs)} } }
`,
  )
  return path
}

function fulfilled<T>(settled: PromiseSettledResult<T>): T | undefined {
  return settled.status === 'fulfilled' ? settled.value : undefined
}
