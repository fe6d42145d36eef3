import { type BlockRef, DriverError } from '@tollgate/sdk'
import { createPublicClient, fallback, type PublicClient } from 'viem'
import type { EvmOptions } from './options.ts'
import { call } from './rpc-errors.ts'
import { type BatchState, meteredTransport, type RpcCost } from './transport.ts'

export type { RpcCost } from './transport.ts'

/**
 * One configured RPC URL as the logs path uses it: its own clients (so a range refused here is asked here again
 * in chunks this URL takes), and what it has shown about `eth_getLogs`.
 */
export type EvmEndpoint = {
  url: string
  /** One call per HTTP request, no transport retries: `eth_getLogs` over a range (each answer judged alone). */
  client: PublicClient
  /** Calls of the same tick batched (within what the URL takes): the by-hash checks of a range's blocks. */
  batched: PublicClient
  /**
   * Most blocks one `eth_getLogs` may span at this URL, learned from its refusals. It only ever shrinks (never
   * probed upward: a refusal costs a call and a retry, a few more chunks cost calls only), floor 1; a restart
   * learns it again.
   */
  logsLimit?: number
}

/**
 * What the driver reads the chain through, over every URL (calls fail over between them): `client` sends each
 * call on its own, for the large answers a range reads in parallel (blocks, traces), which batching would hold back
 * to the slowest of them; `batched` sends the small calls issued together (receipts, transactions, balances) in
 * batches of `rpcBatchSize`. Plus one endpoint per URL for the logs path, its current URL, and the running cost.
 */
export type EvmRpc = {
  client: PublicClient
  batched: PublicClient
  endpoints: readonly EvmEndpoint[]
  /** The endpoint the logs path asks first: the last one that answered (it moves on when one keeps failing). */
  logsFrom: { index: number }
  cost: RpcCost
}

/**
 * The driver's RPC over the configured URLs. With several, a failed call moves straight on to the next URL (no
 * retries against a dead one first), and the fallback retries the whole list with backoff. Every call and every
 * response byte is counted (`rpcCost`).
 *
 * @example
 * const rpc = createEvmRpc(evmOptionsSchema.parse({ preset: 'ethereum', rpcUrls: ['https://…'] }))
 */
export function createEvmRpc(options: EvmOptions): EvmRpc {
  const cost: RpcCost = { calls: 0, bytes: 0 }
  const retryCount = options.rpcUrls.length > 1 ? 0 : 2
  const batchSize = options.rpcBatchSize
  const timeoutMs = options.timeoutMs
  const states = new Map<string, BatchState>(options.rpcUrls.map((url) => [url, { maxBatch: batchSize }]))
  const stateOf = (url: string) => states.get(url) as BatchState
  const overAll = (size: number) =>
    createPublicClient({
      transport: fallback(
        options.rpcUrls.map((url) =>
          meteredTransport(url, { timeoutMs, retryCount, batchSize: size }, cost, stateOf(url)),
        ),
        { rank: false, retryCount: 2 },
      ),
    }) as PublicClient
  const client = overAll(1)
  const batched = overAll(batchSize)
  const endpoints = options.rpcUrls.map((url) => ({
    url,
    client: createPublicClient({
      transport: meteredTransport(url, { timeoutMs, retryCount: 0, batchSize: 1 }, cost, stateOf(url)),
    }) as PublicClient,
    batched: createPublicClient({
      transport: meteredTransport(url, { timeoutMs, retryCount: 0, batchSize }, cost, stateOf(url)),
    }) as PublicClient,
  }))
  return { client, batched, endpoints, logsFrom: { index: 0 }, cost }
}

/**
 * What the RPC has cost so far: JSON-RPC calls made (each call inside a batch counts, and so does every retry)
 * and response bytes received (the body as read, after any content encoding is undone). Read it before and
 * after a piece of work for that work's cost.
 *
 * @example
 * const before = rpcCost(rpc)
 * await scanEvmRange(rpc, config, req)
 * const calls = rpcCost(rpc).calls - before.calls
 */
export function rpcCost(rpc: EvmRpc): { calls: number; bytes: number } {
  return { calls: rpc.cost.calls, bytes: rpc.cost.bytes }
}

/**
 * The tip the driver scans to: the node's latest block, or the block `tipLag` below it (for providers whose
 * logs index lags their newest blocks). Never below block 0.
 */
export async function fetchTip(client: PublicClient, tipLag: number): Promise<BlockRef> {
  if (tipLag <= 0) return fetchBlockRef(client, 'latest')
  const latest = BigInt(await call<string>(client, 'eth_blockNumber', []))
  const height = latest > BigInt(tipLag) ? latest - BigInt(tipLag) : 0n
  return fetchBlockRef(client, height)
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
