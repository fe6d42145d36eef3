import { type BlockRef, DriverError } from '@tollgate/sdk'
import { createPublicClient, fallback, http, type PublicClient, webSocket } from 'viem'
import type { EvmOptions } from './options.ts'

/**
 * One client over every configured RPC URL. With several, a failed call moves straight on to the next URL
 * (no retries against a dead one first), and the fallback retries the whole list with backoff.
 */
export function createEvmClient(options: EvmOptions): PublicClient {
  const retryCount = options.rpcUrls.length > 1 ? 0 : 2
  const transports = options.rpcUrls.map((url) =>
    url.startsWith('ws')
      ? webSocket(url, { timeout: options.timeoutMs, retryCount })
      : http(url, { timeout: options.timeoutMs, retryCount }),
  )
  return createPublicClient({
    transport: fallback(transports, { rank: false, retryCount: 2 }),
  }) as PublicClient
}

/**
 * What the driver reads the chain through: the client over every URL (calls fail over between them), and what
 * the logs path learns per URL.
 */
export type EvmRpc = { client: PublicClient }

/**
 * The driver's RPC over the configured URLs.
 *
 * @example
 * const rpc = createEvmRpc(evmOptionsSchema.parse({ preset: 'ethereum', rpcUrls: ['https://…'] }))
 */
export function createEvmRpc(options: EvmOptions): EvmRpc {
  return { client: createEvmClient(options) }
}

export async function fetchBlockRef(client: PublicClient, height: bigint | 'latest'): Promise<BlockRef> {
  try {
    const block =
      height === 'latest'
        ? await client.getBlock({ blockTag: 'latest' })
        : await client.getBlock({ blockNumber: height })
    if (block.number === null || block.hash === null)
      throw new DriverError('PENDING_BLOCK', `getBlock(${height}): pending block returned`, {
        retryable: true,
      })
    return {
      height: block.number,
      hash: block.hash,
      parentHash: block.parentHash,
      time: Number(block.timestamp),
    }
  } catch (err) {
    if (err instanceof DriverError) throw err
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
    const notFound = /could not be found/i.test(String(message))
    throw new DriverError(notFound ? 'BLOCK_NOT_FOUND' : 'RPC_ERROR', `getBlock(${height}): ${message}`, {
      retryable: true,
      cause: err,
    })
  }
}
