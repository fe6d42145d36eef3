import type { ChainSettings } from '@tollgate/sdk'
import { parseEther, parseUnits } from 'viem'
import { createPayment } from '../../src/core/payments/create.ts'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { createTestApp, type TestApp, testConfig } from './app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from './chain.ts'

/** The devnet's assets: ETH (18 decimals) and the test token USDT (6 decimals). */
export type DevnetAsset = 'ETH' | 'USDT'

/**
 * An anvil devnet and a gateway in this process on it (`testConfig(devnet.url, overrides, settings)`), seeded with
 * gatewayMnemonic so that its deposit and wallet addresses start empty; `env` goes on top of the app's environment.
 *
 * @example
 * ;({ devnet, app } = await startDevnetApp({ confirmations: 2 }, { sweeps: { enabled: false } }))
 */
export async function startDevnetApp(
  overrides: Record<string, unknown> = {},
  settings: ChainSettings = {},
  env: Record<string, string> = {},
): Promise<{ devnet: Devnet; app: TestApp }> {
  const devnet = await startDevnet()
  try {
    const app = await createTestApp({
      config: testConfig(devnet.url, overrides, settings),
      env: { TOLLGATE_SEED: gatewayMnemonic, ...env },
    })
    return { devnet, app }
  } catch (err) {
    await devnet.stop()
    throw err
  }
}

/** `amount` of `asset` in its smallest units. */
export const devnetUnits = (asset: DevnetAsset, amount: string) =>
  asset === 'ETH' ? parseEther(amount) : parseUnits(amount, 6)

/**
 * The merchant's balance the real way: a payment of each `[asset, amount]` created and paid in full on the devnet,
 * then `confirmations` blocks mined and the chain scanned once (with `scanner`, the file's own when it keeps one).
 */
export async function paidPayments(
  app: TestApp,
  devnet: Devnet,
  merchantId: string,
  paid: ReadonlyArray<readonly [DevnetAsset, string]>,
  options: { confirmations: number; scanner?: ScannerState },
) {
  const created = []
  for (const [asset, amount] of paid) {
    const { payment } = await createPayment(app.ctx, merchantId, { chain: 'devnet', asset, amount })
    if (asset === 'USDT') await devnet.payToken(payment.address, devnetUnits(asset, amount))
    else await devnet.payNative(payment.address, devnetUnits(asset, amount))
    created.push(payment)
  }
  await devnet.mine(options.confirmations)
  const scanner = options.scanner ?? newScannerState()
  await syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('devnet')!)
  return created
}

/** The operator fills a gateway wallet from the devnet's payer: ETH first, then USDT. */
export async function fundWallet(
  devnet: Devnet,
  address: string,
  amounts: Partial<Record<DevnetAsset, string>>,
) {
  if (amounts.ETH) await devnet.payNative(address, devnetUnits('ETH', amounts.ETH))
  if (amounts.USDT) await devnet.payToken(address, devnetUnits('USDT', amounts.USDT))
}

/**
 * The environment of the CLI's processes (a signer worker, `batch enable`, `reconcile`) on the app's database,
 * Redis prefix and seed, with the plugins config `pluginsConfig` pointing at the devnet.
 */
export function devnetProcessEnv(
  app: TestApp,
  devnet: Devnet,
  options: { confirmations: number; pluginsConfig?: string },
): Record<string, string> {
  return {
    DATABASE_URL: app.databaseUrl,
    REDIS_PREFIX: app.ctx.env.REDIS_PREFIX,
    TOLLGATE_SEED: gatewayMnemonic,
    TOLLGATE_ENV: 'test',
    TOLLGATE_PLUGINS_CONFIG: options.pluginsConfig ?? 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: devnet.url,
    TEST_CONFIRMATIONS: String(options.confirmations),
    TEST_PAYOUT_INTERVAL_MS: '200',
    LOG_LEVEL: 'info',
  }
}
