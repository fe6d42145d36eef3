import type { NetworkCheck } from '@tollgate/sdk'
import { blockHashAt } from './blocks.ts'
import { type BitcoinNetwork, bitcoinNetworks } from './networks.ts'
import type { BitcoinRpc } from './rpc.ts'

/** A network for messages: its name when the genesis hash is a known one, and the hash itself. */
function describeGenesis(hash: string): string {
  const known = Object.values(bitcoinNetworks).find((n) => n.genesisHash === hash)
  return `bitcoin ${known?.name ?? 'unknown network'} (genesis ${hash})`
}

/**
 * Compares the node's genesis block hash (`getblockhash 0`) with the configured network's: the one answer that
 * tells mainnet, testnet and regtest (and any other chain) apart.
 *
 * @example
 * await checkBitcoinNetwork(rpc, bitcoinNetworks.mainnet)
 * // { ok: false, expected: 'bitcoin mainnet (genesis 000000000019d6…)', actual: 'bitcoin regtest (genesis 0f9188…)' }
 */
export async function checkBitcoinNetwork(
  rpc: BitcoinRpc,
  network: BitcoinNetwork,
  signal?: AbortSignal,
): Promise<NetworkCheck> {
  const genesis = (await blockHashAt(rpc, 0n, signal)).toLowerCase()
  if (genesis === network.genesisHash) return { ok: true }
  return { ok: false, expected: describeGenesis(network.genesisHash), actual: describeGenesis(genesis) }
}
