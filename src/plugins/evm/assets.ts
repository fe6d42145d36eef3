import type { AssetInfo } from '@tollgate/sdk'
import { getAddress } from 'viem'
import type { EvmOptions } from './options.ts'

/** CAIP-19 ids: `eip155:<id>/slip44:60` for the native coin, `eip155:<id>/erc20:<lowercase address>` for tokens. */
export function evmAssets(options: EvmOptions): { native: AssetInfo; all: AssetInfo[] } {
  const chainId = options.chain.id
  const native: AssetInfo = {
    id: `eip155:${chainId}/slip44:60`,
    symbol: options.chain.nativeCurrency.symbol,
    name: options.chain.nativeCurrency.name,
    decimals: options.chain.nativeCurrency.decimals,
    native: true,
  }
  const tokens = options.tokens.map(
    (t): AssetInfo => ({
      id: `eip155:${chainId}/erc20:${t.address.toLowerCase()}`,
      symbol: t.symbol,
      name: t.name ?? t.symbol,
      decimals: t.decimals,
      native: false,
      contract: getAddress(t.address),
      confirmations: t.confirmations,
    }),
  )
  return { native, all: [native, ...tokens] }
}
