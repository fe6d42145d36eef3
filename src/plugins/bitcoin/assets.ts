import type { AssetInfo } from '@tollgate/sdk'
import { type BitcoinNetwork, bip122ChainId } from './networks.ts'

/**
 * The native asset of a Bitcoin network: CAIP-19 `<chainId>/slip44:0`, symbol BTC, 8 decimals.
 *
 * @example
 * bitcoinAsset(bitcoinNetworks.mainnet).id // 'bip122:000000000019d6689c085ae165831e93/slip44:0'
 */
export function bitcoinAsset(network: BitcoinNetwork): AssetInfo {
  return {
    id: `${bip122ChainId(network)}/slip44:0`,
    symbol: 'BTC',
    name: 'Bitcoin',
    decimals: 8,
    native: true,
  }
}
