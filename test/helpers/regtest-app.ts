import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadPluginsConfig } from '../../src/context.ts'
import { createTestApp } from './app.ts'
import type { Bcoin } from './bcoin.ts'
import { gatewayMnemonic } from './chain.ts'
import { repoRoot } from './processes.ts'

/**
 * A gateway in this process on a bcoin regtest node, configured by a plugins config file that signer processes can
 * import too (`configFile`): chain `regtest`, 2 confirmations, payout passes every 200 ms with no window, sweeps of
 * up to 10 % fees, `cold` as the chain's cold storage settings, scanning from the node's current height; seeded
 * with gatewayMnemonic. `close` ends the app and removes the file.
 *
 * @example
 * const regtest = await startRegtestApp(node, { address: cold.address, float: { BTC: '0.3' } }, 'tollgate-cold-')
 * afterAll(() => regtest.close())
 */
export async function startRegtestApp(node: Bcoin, cold: Record<string, unknown>, tmpPrefix: string) {
  const dir = mkdtempSync(join(tmpdir(), tmpPrefix))
  const configFile = join(dir, 'plugins.config.ts')
  writeFileSync(
    configFile,
    `import { chain, defineConfig } from ${JSON.stringify(join(repoRoot, 'packages/sdk/src/index.ts'))}
export default defineConfig({
  chains: {
    regtest: chain(
      () => import(${JSON.stringify(join(repoRoot, 'src/plugins/bitcoin/index.ts'))}),
      { network: 'regtest', rpcUrls: [${JSON.stringify(node.url)}], confirmations: 2, finalityDepth: 6, timeoutMs: 5000, headPollMs: 200 },
      {
        startHeight: ${await node.height()},
        scanIntervalMs: 300,
        payouts: { intervalMs: 200, windowMs: 0, maxBatch: 50 },
        sweeps: { maxFeeShareBps: 1000 },
        cold: ${JSON.stringify(cold)},
      },
    ),
  },
})
`,
  )
  try {
    const app = await createTestApp({
      config: await loadPluginsConfig(configFile),
      env: { TOLLGATE_SEED: gatewayMnemonic },
    })
    const close = async () => {
      await app.close()
      rmSync(dir, { recursive: true, force: true })
    }
    return { app, configFile, close }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}
