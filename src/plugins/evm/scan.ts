import type { PublicClient } from 'viem'
import {
  type AssetInfo,
  type BlockRef,
  DriverError,
  type ScanRequest,
  type ScanResult,
  type Transfer,
} from '../sdk/index.ts'

/** keccak256("Transfer(address,address,uint256)") */
export const transferTopic = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'

type RpcTx = { hash: string; from: string; to: string | null; value: string }
type RpcBlock = { number: string; hash: string; parentHash: string; timestamp: string; transactions: RpcTx[] }
export type RpcLog = {
  address: string
  topics: string[]
  data: string
  blockNumber: string
  blockHash: string
  transactionHash: string
  logIndex: string
  removed?: boolean
}
type RpcReceipt = { status?: string; blockHash: string }

export type EvmScanConfig = {
  native: AssetInfo
  /** Configured tokens by lowercase contract address; logs of any other contract never count. */
  tokens: ReadonlyMap<string, AssetInfo>
  /** Parallel block fetches. */
  concurrency: number
}

const toHex = (n: bigint) => `0x${n.toString(16)}`

function rpcError(method: string, err: unknown): DriverError {
  if (err instanceof DriverError) return err
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  return new DriverError('RPC_ERROR', `${method}: ${message}`, { retryable: true, cause: err })
}

async function call<T>(client: PublicClient, method: string, params: unknown[]): Promise<T> {
  try {
    // raw JSON-RPC: no per-transaction formatting on the hot path
    return (await client.request({ method, params } as never)) as T
  } catch (err) {
    throw rpcError(method, err)
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  })
  await Promise.all(workers)
  return out
}

function blockRef(b: RpcBlock): BlockRef {
  return {
    height: BigInt(b.number),
    hash: b.hash,
    parentHash: b.parentHash,
    time: Number(BigInt(b.timestamp)),
  }
}

/**
 * Transfers into watched addresses in `from..to`: native value of successful top-level transactions, and
 * `Transfer` logs of the configured tokens (decoded by hand: topics[2] is the recipient, data the amount).
 * Value moved by contracts (internal transfers) is not visible to this scan.
 */
export async function scanEvmRange(
  client: PublicClient,
  config: EvmScanConfig,
  req: ScanRequest,
): Promise<ScanResult> {
  if (req.to < req.from) return { transfers: [], blocks: [] }
  const heights: bigint[] = []
  for (let h = req.from; h <= req.to; h++) heights.push(h)
  const logsPromise =
    config.tokens.size > 0
      ? call<RpcLog[]>(client, 'eth_getLogs', [
          {
            fromBlock: toHex(req.from),
            toBlock: toHex(req.to),
            address: [...config.tokens.keys()],
            topics: [transferTopic],
          },
        ])
      : Promise.resolve([] as RpcLog[])
  const rawBlocks = await mapLimit(heights, config.concurrency, async (h) => {
    req.signal?.throwIfAborted()
    const block = await call<RpcBlock | null>(client, 'eth_getBlockByNumber', [toHex(h), true])
    if (!block) throw new DriverError('BLOCK_NOT_FOUND', `block ${h} not found`, { retryable: true })
    return block
  })
  const logs = await logsPromise
  const blocks = rawBlocks.map(blockRef)
  const byHash = new Map(blocks.map((b) => [b.hash, b]))
  const transfers: Transfer[] = []

  const candidates: Array<{ tx: RpcTx; block: BlockRef }> = []
  rawBlocks.forEach((raw, i) => {
    for (const tx of raw.transactions) {
      if (!tx.to || !req.watch.has(tx.to.toLowerCase())) continue
      if (BigInt(tx.value) === 0n) continue
      candidates.push({ tx, block: blocks[i] as BlockRef })
    }
  })
  // receipts only for matched native transactions: failed ones never count
  const receipts = await mapLimit(candidates, config.concurrency, ({ tx }) =>
    call<RpcReceipt | null>(client, 'eth_getTransactionReceipt', [tx.hash]),
  )
  candidates.forEach(({ tx, block }, i) => {
    const receipt = receipts[i]
    if (!receipt || receipt.status === '0x0') return
    if (receipt.blockHash !== block.hash)
      throw new DriverError('INCONSISTENT_RANGE', `receipt of ${tx.hash} is from another block`, {
        retryable: true,
      })
    transfers.push({
      txHash: tx.hash,
      index: -1,
      block,
      asset: config.native.id,
      to: (tx.to as string).toLowerCase(),
      from: tx.from.toLowerCase(),
      amount: BigInt(tx.value),
    })
  })

  for (const log of logs) {
    if (log.removed || log.topics.length !== 3 || log.topics[0] !== transferTopic) continue
    const to = `0x${(log.topics[2] as string).slice(26)}`.toLowerCase()
    if (!req.watch.has(to)) continue
    const asset = config.tokens.get(log.address.toLowerCase())
    if (!asset) continue
    const block = byHash.get(log.blockHash)
    if (!block)
      throw new DriverError(
        'INCONSISTENT_RANGE',
        `log of ${log.transactionHash} is from a block not in the range`,
        {
          retryable: true,
        },
      )
    const amount = log.data === '0x' ? 0n : BigInt(log.data.slice(0, 66))
    if (amount === 0n) continue
    transfers.push({
      txHash: log.transactionHash,
      index: Number(BigInt(log.logIndex)),
      block,
      asset: asset.id,
      to,
      from: `0x${(log.topics[1] as string).slice(26)}`.toLowerCase(),
      amount,
    })
  }
  return { transfers, blocks }
}
