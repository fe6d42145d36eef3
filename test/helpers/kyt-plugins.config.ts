import { join } from 'node:path'
import { defineConfig, kyt } from '@tollgate/sdk'
import base from '../fixtures/plugins.config.ts'

/**
 * The devnet chain with KYT screening, for tests that spawn real gateway processes: the offline sanctions
 * provider over the real SDN ETH list, and the risk-API provider against the stand-in at TEST_RISK_API_URL
 * (key TEST_RISK_API_KEY). The chains are test/fixtures/plugins.config.ts's, tunable through the environment.
 */
const env = process.env

export default defineConfig({
  ...base,
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
