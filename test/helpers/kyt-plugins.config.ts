import { join } from 'node:path'
import { chain, defineConfig, kyt } from '@tollgate/sdk'

/**
 * The devnet chain with KYT screening, for tests that spawn real gateway processes: the offline sanctions
 * provider over the real SDN ETH list, and the risk-API provider against the stand-in at TEST_RISK_API_URL
 * (key TEST_RISK_API_KEY). Everything else as in test/fixtures/plugins.config.ts, tunable through the environment.
 */
const env = process.env

export default defineConfig({
  chains: {
    devnet: chain(
      () => import('../../src/plugins/evm/index.ts'),
      {
        chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
        rpcUrls: [env.TEST_RPC_URL ?? 'http://127.0.0.1:8545'],
        tokens: [{ symbol: 'USDT', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }],
        confirmations: Number(env.TEST_CONFIRMATIONS ?? 2),
        finalityDepth: 16,
        headPollMs: 100,
        timeoutMs: 2000,
      },
      {
        startHeight: 0,
        scanIntervalMs: 500,
        maxRange: Number(env.TEST_MAX_RANGE ?? 100),
        sweeps: { enabled: false },
        payouts: { intervalMs: 300 },
      },
    ),
  },
  kyt: {
    sanctions: kyt(() => import('../../src/plugins/kyt-sanctions/index.ts'), {
      lists: [{ asset: 'ETH', file: join(import.meta.dir, '../fixtures/kyt/ofac_sdn_ETH.txt') }],
    }),
    risk: kyt(() => import('../../src/plugins/kyt-risk-api/index.ts'), {
      baseUrl: env.TEST_RISK_API_URL ?? 'http://127.0.0.1:1',
      apiKey: env.TEST_RISK_API_KEY ?? 'unset',
      inProgressPauseMs: 0,
    }),
  },
})
