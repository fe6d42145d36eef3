import { DriverError, type NetworkCheck } from '@tollgate/sdk'
import type { PublicClient } from 'viem'

/**
 * Compares the node's `eth_chainId` with the configured chain id. Networks are named by their CAIP-2 id
 * (`eip155:1`), so the operator sees both numbers.
 *
 * @example
 * await checkEvmNetwork(client, 1) // { ok: false, expected: 'eip155:1', actual: 'eip155:31337' } on anvil
 */
export async function checkEvmNetwork(client: PublicClient, chainId: number): Promise<NetworkCheck> {
  let actual: number
  try {
    actual = await client.getChainId()
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
    throw new DriverError('RPC_ERROR', `eth_chainId: ${message}`, { retryable: true, cause: err })
  }
  if (actual === chainId) return { ok: true }
  return { ok: false, expected: `eip155:${chainId}`, actual: `eip155:${actual}` }
}
