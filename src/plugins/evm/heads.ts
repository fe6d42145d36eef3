import { createPublicClient, http, webSocket } from 'viem'
import type { EvmOptions } from './options.ts'

/**
 * Calls `onHead` for each new block number: through `eth_subscribe` when a WebSocket URL is configured,
 * otherwise by polling every `headPollMs`. Returns the unsubscribe function.
 */
export function watchEvmHeads(options: EvmOptions, onHead: (height: bigint) => void): () => void {
  const wsUrl = options.rpcUrls.find((u) => u.startsWith('ws'))
  if (wsUrl) {
    const ws = createPublicClient({ transport: webSocket(wsUrl, { timeout: options.timeoutMs }) })
    return ws.watchBlockNumber({ onBlockNumber: onHead, onError: () => {} })
  }
  const polling = createPublicClient({ transport: http(options.rpcUrls[0], { timeout: options.timeoutMs }) })
  return polling.watchBlockNumber({
    onBlockNumber: onHead,
    onError: () => {},
    poll: true,
    pollingInterval: options.headPollMs,
  })
}
