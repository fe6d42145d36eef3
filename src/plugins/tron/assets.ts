import type { AssetInfo } from '@tollgate/sdk'
import { tronBase58ToHex } from './address.ts'
import { type TronOptions, tronNetworks } from './options.ts'

/**
 * CAIP-19 ids: `tron:<ref>/slip44:195` for TRX, `tron:<ref>/trc20:<base58 contract>` for tokens; `contract` is
 * the base58 form.
 */
export function tronAssets(options: TronOptions): { chainId: string; native: AssetInfo; all: AssetInfo[] } {
  const chainId = `tron:${tronNetworks[options.network]}`
  const native: AssetInfo = {
    id: `${chainId}/slip44:195`,
    symbol: 'TRX',
    name: 'Tron',
    decimals: 6,
    native: true,
  }
  const tokens = options.tokens.map(
    (t): AssetInfo => ({
      id: `${chainId}/trc20:${t.address}`,
      symbol: t.symbol,
      name: t.name ?? t.symbol,
      decimals: t.decimals,
      native: false,
      contract: t.address,
      confirmations: t.confirmations,
    }),
  )
  return { chainId, native, all: [native, ...tokens] }
}

/** Configured tokens by the 20-byte lowercase hex a TVM log's `address` carries (no `41` prefix). */
export function tokensByLogAddress(assets: readonly AssetInfo[]): Map<string, AssetInfo> {
  const out = new Map<string, AssetInfo>()
  for (const a of assets) if (a.contract) out.set((tronBase58ToHex(a.contract) as string).slice(2), a)
  return out
}
