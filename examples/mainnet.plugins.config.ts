import { chain, defineConfig } from '@tollgate/sdk'

/**
 * Every well-known mainnet by preset: no chain id, native currency or token contract is typed here; each comes
 * from the drivers' presets (src/plugins/evm/presets.ts, tron/presets.ts, bitcoin/presets.ts; README, "Presets").
 * Copy it to plugins.config.ts at the gateway's root (the module paths then start with ./src/plugins/…) and set
 * the RPC URLs. The EVM chains share one BIP44 account; the gateway still never hands one deposit address to two
 * chains (the `addresses: 'distinct'` default).
 */
const env = process.env
const evm = () => import('../src/plugins/evm/index.ts')
const tron = () => import('../src/plugins/tron/index.ts')
const bitcoin = () => import('../src/plugins/bitcoin/index.ts')
const urls = (value: string | undefined, fallback: string) => (value ?? fallback).split(',')

export default defineConfig({
  chains: {
    ethereum: chain(evm, {
      preset: 'ethereum',
      rpcUrls: urls(env.ETHEREUM_RPC_URLS, 'https://ethereum-rpc.publicnode.com'),
      tokens: ['USDT', 'USDC'],
    }),
    bsc: chain(evm, {
      preset: 'bsc',
      rpcUrls: urls(env.BSC_RPC_URLS, 'https://bsc-rpc.publicnode.com'),
      tokens: ['USDT', 'USDC'],
    }),
    polygon: chain(evm, {
      preset: 'polygon',
      rpcUrls: urls(env.POLYGON_RPC_URLS, 'https://polygon-bor-rpc.publicnode.com'),
      tokens: ['USDT', 'USDC'],
    }),
    arbitrum: chain(evm, {
      preset: 'arbitrum',
      rpcUrls: urls(env.ARBITRUM_RPC_URLS, 'https://arbitrum-one-rpc.publicnode.com'),
      tokens: ['USDT', 'USDC'],
    }),
    base: chain(evm, {
      preset: 'base',
      rpcUrls: urls(env.BASE_RPC_URLS, 'https://base-rpc.publicnode.com'),
      tokens: ['USDC'],
    }),
    optimism: chain(evm, {
      preset: 'optimism',
      rpcUrls: urls(env.OPTIMISM_RPC_URLS, 'https://optimism-rpc.publicnode.com'),
      tokens: ['USDT', 'USDC'],
    }),
    tron: chain(tron, {
      preset: 'tron',
      fullHosts: urls(env.TRON_FULL_HOSTS, 'https://api.trongrid.io'),
      apiKey: env.TRONGRID_API_KEY,
      tokens: ['USDT'],
    }),
    bitcoin: chain(
      bitcoin,
      { preset: 'bitcoin', rpcUrls: urls(env.BITCOIN_RPC_URLS, 'http://127.0.0.1:8332') },
      // an hour without a block happens on Bitcoin; do not call that a stale node
      { degradedAfter: { staleTipMs: 2 * 3600 * 1000 } },
    ),
  },
})
