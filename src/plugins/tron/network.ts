import { DriverError, type NetworkCheck } from '@tollgate/sdk'
import type { TronClient } from './http.ts'

/**
 * The genesis block id (block 0) of each public Tron network, as `/wallet/getblockbynum {num: 0}` answers it.
 * The CAIP-2 reference (`tron:0x2b6653dc`) is its last four bytes.
 */
export const tronGenesisIds = {
  mainnet: '00000000000000001ebf88508a03865c71d452e25f4d51194196a1d22b6653dc',
  shasta: '0000000000000000de1aa88295e1fcf982742f773e0419c5a9c134c994a9059e',
  nile: '0000000000000000d698d4192c56cb6be724a558448e2684802de4d6cd8690dc',
} as const

export type TronNetworkName = keyof typeof tronGenesisIds

function describeGenesis(id: string): string {
  const known = Object.entries(tronGenesisIds).find(([, g]) => g === id)?.[0]
  return `tron ${known ?? 'unknown network'} (genesis ${id})`
}

/**
 * Compares the node's block 0 id with the configured network's genesis id.
 *
 * @example
 * await checkTronNetwork(client, 'nile') // { ok: false, expected: 'tron nile (genesis …cd8690dc)', actual: 'tron mainnet (…)' }
 */
export async function checkTronNetwork(
  client: TronClient,
  network: TronNetworkName,
  signal?: AbortSignal,
): Promise<NetworkCheck> {
  const block = await client.call<{ blockID?: string }>('/wallet/getblockbynum', { num: 0 }, signal)
  if (typeof block?.blockID !== 'string')
    throw new DriverError('BAD_BLOCK_DATA', 'the node answered no block 0', { retryable: true })
  const genesis = block.blockID.toLowerCase()
  const expected = tronGenesisIds[network]
  if (genesis === expected) return { ok: true }
  return { ok: false, expected: describeGenesis(expected), actual: describeGenesis(genesis) }
}
