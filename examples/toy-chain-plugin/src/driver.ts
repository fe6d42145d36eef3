import {
  type AssetInfo,
  type BlockRef,
  type ChainDriver,
  type DriverContext,
  DriverError,
  formatUnits,
  type Transfer,
} from '@tollgate/sdk'
import { accountPath, deriveToyAddress, validateToyAddress } from './address.ts'
import type { ToyOptions } from './options.ts'
import { type ToyBlockJson, toyRpc } from './rpc.ts'

const refOf = (b: ToyBlockJson): BlockRef => ({
  height: BigInt(b.height),
  hash: b.hash,
  parentHash: b.parentHash,
  time: b.time,
})

/**
 * A watch-only driver for the toy chain: derives and validates addresses, makes payment URIs, checks its node's
 * network, and scans blocks for transfers into watched addresses (with the address that paid each, `senders`). It has no `payouts`, so the gateway only receives on this chain.
 *
 * @example
 * const driver = createToyDriver(toyOptions.parse({ rpcUrl: node.url }), { chain: 'toy', log })
 */
export function createToyDriver(options: ToyOptions, ctx: DriverContext): ChainDriver {
  const chainId = `toy:${options.network}`
  const rpc = toyRpc(options.rpcUrl, options.timeoutMs)
  const nativeAsset: AssetInfo = {
    id: `${chainId}/slip44:1`,
    symbol: 'TOY',
    name: 'Toy',
    decimals: 8,
    native: true,
  }
  const tokens: AssetInfo[] = options.tokens.map((t) => ({
    id: `${chainId}/token:${t.contract}`,
    symbol: t.symbol,
    name: t.name ?? t.symbol,
    decimals: t.decimals,
    native: false,
    contract: t.contract,
  }))
  /** The node's asset key (`native` or a contract) → the asset; transfers of other assets are not ours. */
  const assetByKey = new Map<string, AssetInfo>([
    ['native', nativeAsset],
    ...tokens.map((t): [string, AssetInfo] => [t.contract as string, t]),
  ])
  ctx.log.debug({ chainId, tokens: tokens.length }, 'toy driver created')

  return {
    chainId,
    nativeAsset,
    assets: [nativeAsset, ...tokens],
    confirmations: options.confirmations,
    finalityDepth: options.finalityDepth,
    maxOutputs: 1,
    accountPath,
    deriveAddress: deriveToyAddress,
    validateAddress: validateToyAddress,
    addressKey: (address) => address.toLowerCase(),
    paymentUri: ({ address, asset, amount }) => {
      const query = new URLSearchParams({ amount: formatUnits(amount, asset.decimals) })
      if (asset.contract) query.set('token', asset.contract)
      return `toy:${address}?${query}`
    },
    // the node must be on the configured network; the gateway asks before scanning and stops the chain if not
    checkNetwork: async (signal) => {
      const { network } = await rpc<{ network: string }>('toy_network', [], signal)
      return network === options.network
        ? { ok: true }
        : { ok: false, expected: chainId, actual: `toy:${network}` }
    },
    getTip: async (signal) => refOf(await rpc<ToyBlockJson>('toy_tip', [], signal)),
    getBlockRef: async (height, signal) =>
      refOf(await rpc<ToyBlockJson>('toy_block', [String(height)], signal)),
    scan: async ({ from, to, watch, signal }) => {
      if (from > to) return { transfers: [], blocks: [] }
      const blocks = await rpc<ToyBlockJson[]>('toy_blocks', [String(from), String(to)], signal)
      if (blocks.length !== Number(to - from + 1n))
        throw new DriverError('SHORT_ANSWER', `toy_blocks ${from}..${to} gave ${blocks.length} blocks`, {
          retryable: true,
        })
      const transfers: Transfer[] = []
      for (const block of blocks) {
        const ref = refOf(block)
        for (const t of block.transfers ?? []) {
          const asset = assetByKey.get(t.asset)
          const key = t.to.toLowerCase()
          if (!asset || !watch.has(key)) continue
          // who paid, as validateAddress spells it: what the gateway's KYT screening checks
          const payer = validateToyAddress(t.from)
          transfers.push({
            txHash: t.txHash,
            index: t.index,
            block: ref,
            asset: asset.id,
            to: key,
            from: t.from,
            senders: payer.ok ? [payer.normalized] : [],
            amount: BigInt(t.amount),
          })
        }
      }
      return { transfers, blocks: blocks.map(refOf) }
    },
  }
}
