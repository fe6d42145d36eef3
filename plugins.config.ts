import { chain, defineConfig } from '@tollgate/sdk'

/**
 * Which chains this gateway serves and the module that drives each. The default is a local EVM devnet
 * (anvil, chain id 31337) so that `bun run dev` works out of the box; add mainnets alongside it.
 */
const env = process.env

export default defineConfig({
  chains: {
    devnet: chain(() => import('./src/plugins/evm/index.ts'), {
      chain: {
        id: 31337,
        name: 'Anvil devnet',
        nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      },
      rpcUrls: [env.DEVNET_RPC_URL ?? 'http://127.0.0.1:8545'],
      // the first contract anvil's first account deploys lands here; `tollgate dev` deploys a test token there
      tokens: [
        {
          symbol: 'USDT',
          name: 'Tether USD (devnet)',
          address: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
          decimals: 6,
        },
      ],
      confirmations: Number(env.DEVNET_CONFIRMATIONS ?? 2),
      finalityDepth: 32,
      // a local node: poll for new heads often, so a payment shows up within a fraction of a second
      headPollMs: 200,
    }),
  },
})
