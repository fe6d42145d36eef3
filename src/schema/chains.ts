import type { AssetInfo } from '@tollgate/sdk'
import type { ResolvedExplorer } from '@tollgate/sdk/explorer'
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

const ChainExplorerRef = builder.objectRef<ResolvedExplorer>('ChainExplorer').implement({
  description:
    "The operator's block explorer for a chain: URL templates (http or https only, checked at boot). Transfer.explorerUrl and Payment.addressExplorerUrl are these filled in",
  fields: (t) => ({
    tx: t.string({
      nullable: true,
      description: 'A transaction page, `{tx}` standing for the hash (percent-encoded)',
      resolve: (e) => e.tx,
    }),
    address: t.string({
      nullable: true,
      description: 'An address page, `{address}` standing for the address (percent-encoded)',
      resolve: (e) => e.address,
    }),
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
    explorer: t.field({
      type: ChainExplorerRef,
      nullable: true,
      description:
        'Where people can look up its transactions and addresses (null: the operator configured none)',
      resolve: (c) => c.settings.explorer ?? null,
    }),
    internalTransfers: t.string({
      nullable: true,
      description:
        'How native coin moved by contracts (internal transfers) into payment addresses is found: `traces:debug_traceBlockByNumber` or `traces:trace_block` (call traces), `balance` (balances compared block by block: no sender, a cap on addresses per range), `off` (top-level transactions only), or `auto`/`traces` while the node cannot be asked. Null for chains without internal transfers (Bitcoin, Tron)',
      authScopes: { authenticated: true },
      complexity: readCost,
      resolve: async (c) => (await c.driver.detectionModes?.())?.internalTransfers ?? null,
    }),
    ready: t.boolean({
      description:
        'Whether the chain takes new payments (createPayment answers CHAIN_UNAVAILABLE while false): its node is on the configured network, its scanning is not halted, and a scan succeeded within its unavailableAfterMs',
      authScopes: { authenticated: true },
      complexity: readCost,
      resolve: async (c, _args, ctx) => (await loadChainStatus(ctx, c.name)).ready,
    }),
    unavailableReason: t.string({
      nullable: true,
      description: 'Why the chain is not ready (null while it is)',
      authScopes: { authenticated: true },
      complexity: readCost,
      resolve: async (c, _args, ctx) => (await loadChainStatus(ctx, c.name)).unavailable?.message ?? null,
    }),
    lastBlockAt: t.field({
      type: 'DateTime',
      nullable: true,
      description:
        "The timestamp of the last block scanned, as the chain stamped it (null before the first block): how fresh the gateway's view of the chain is",
      authScopes: { authenticated: true },
      complexity: readCost,
      resolve: async (c, _args, ctx) => (await loadChainStatus(ctx, c.name)).lastBlockAt,
    }),
    lag: t.int({
      nullable: true,
      description: "Blocks between the node's tip and the last block scanned (null before the first scan)",
      authScopes: { authenticated: true },
      complexity: readCost,
      resolve: async (c, _args, ctx) => (await loadChainStatus(ctx, c.name)).lagBlocks,
    }),
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
