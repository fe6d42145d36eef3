import type { AssetInfo } from '@tollgate/sdk'
import type { LoadedChain } from '../plugins/registry.ts'
import { builder } from './builder.ts'
import { ChainStatusRef, loadChainStatus } from './chain-status.ts'
import { readCost } from './cost.ts'

export const AssetRef = builder.objectRef<AssetInfo>('Asset').implement({
  description: 'An asset a chain can receive.',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'CAIP-19 asset id' }),
    symbol: t.exposeString('symbol'),
    name: t.exposeString('name'),
    decimals: t.exposeInt('decimals'),
    native: t.exposeBoolean('native'),
    contract: t.string({ nullable: true, resolve: (a) => a.contract ?? null }),
    confirmations: t.int({ nullable: true, resolve: (a) => a.confirmations ?? null }),
  }),
})

export const ChainRef = builder.objectRef<LoadedChain>('Chain').implement({
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The name used in API calls, from plugins.config.ts' }),
    chainId: t.string({ description: 'CAIP-2 chain id', resolve: (c) => c.driver.chainId }),
    confirmations: t.int({ resolve: (c) => c.driver.confirmations }),
    finalityDepth: t.int({ resolve: (c) => c.driver.finalityDepth }),
    nativeAsset: t.field({ type: AssetRef, resolve: (c) => c.driver.nativeAsset }),
    assets: t.field({ type: [AssetRef], resolve: (c) => [...c.driver.assets] }),
    status: t.field({
      type: ChainStatusRef,
      description:
        'How far behind the gateway is on this chain: scanning (tip, lag, last scan, last error code) and payouts',
      authScopes: { authenticated: true },
      complexity: readCost,
      resolve: (c, _args, ctx) => loadChainStatus(ctx, c.name),
    }),
  }),
})

builder.queryField('chains', (t) =>
  t.field({
    type: [ChainRef],
    description: 'The chains this gateway is configured for.',
    resolve: (_root, _args, ctx) => [...ctx.app.chains.values()],
  }),
)
