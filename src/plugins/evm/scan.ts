import {
  type AssetInfo,
  type BlockRef,
  DriverError,
  type ScanRequest,
  type ScanResult,
  type Transfer,
} from '@tollgate/sdk'
import { mapLimit } from '@tollgate/sdk/map-limit'
import { getAddress } from 'viem'
import { getTransferLogs, type RpcLog, transferTopic } from './logs.ts'
import type { EvmRpc } from './rpc.ts'
import { call, checkAborted } from './rpc-errors.ts'

type RpcTx = { hash: string; from: string; to: string | null; value: string }
type RpcBlock = {
  number: string
  hash: string
  parentHash: string
  timestamp: string
  logsBloom: string
  transactions: RpcTx[]
}
type RpcReceipt = { status?: string; blockHash: string }

export type EvmScanConfig = {
  native: AssetInfo
  /** Configured tokens by lowercase contract address; logs of any other contract never count. */
  tokens: ReadonlyMap<string, AssetInfo>
  /** Parallel block (and receipt) fetches. */
  concurrency: number
  /** Most blocks one `eth_getLogs` call spans; longer ranges are asked in chunks. Default 1000. */
  logsChunk?: number
}

const toHex = (n: bigint) => `0x${n.toString(16)}`

function blockRef(b: RpcBlock): BlockRef {
  return {
    height: BigInt(b.number),
    hash: b.hash,
    parentHash: b.parentHash,
    time: Number(BigInt(b.timestamp)),
  }
}

const inconsistent = (message: string) => new DriverError('INCONSISTENT_RANGE', message, { retryable: true })

/** The addresses that paid, checksummed as `validateAddress` normalizes them, each once, in the order given. */
function sendersOf(...addresses: string[]): string[] {
  return [...new Set(addresses.map((a) => getAddress(a.toLowerCase())))]
}

/**
 * Transfers into watched addresses in `from..to` (inclusive), and every block's ref:
 *
 * - native: a top-level transaction with `value > 0` whose `to` is watched, counted only when its receipt says
 *   success (`index` -1). Value moved by contracts (internal transfers) is not visible to this scan. Receipts
 *   from before Byzantium (no `status`) count as success.
 * - tokens: `Transfer(address,address,uint256)` logs of the configured contracts only, from one `eth_getLogs`
 *   per chunk, decoded by hand (topics[2] is the recipient, data the amount; `index` is the log index). Logs
 *   marked `removed`, with a zero amount, or not of that exact shape (ERC-721 has 4 topics) are skipped.
 * - `senders`: native, the transaction's `from`; a token, the transaction's `from` (who sent it: a spender's
 *   `transferFrom`, a contract's caller) and the event's `from` (whose tokens moved), each once, checksummed.
 *   The transaction's sender comes from the blocks already read with full transactions: no extra call.
 *
 * Blocks are read by number and logs by range in parallel, so a reorg between the calls could mix two
 * branches: every receipt and log must belong to a block of the answer, else the scan throws a retryable
 * `INCONSISTENT_RANGE`. A missing block or receipt is a retryable error too, never a silently smaller answer.
 */
export async function scanEvmRange(
  rpc: EvmRpc,
  config: EvmScanConfig,
  req: ScanRequest,
): Promise<ScanResult> {
  const { signal } = req
  const { client } = rpc
  checkAborted(signal, 'scan')
  if (req.to < req.from) return { transfers: [], blocks: [] }
  const heights: bigint[] = []
  for (let h = req.from; h <= req.to; h++) heights.push(h)

  const blocksTask = mapLimit(heights, config.concurrency, async (h) => {
    const block = await call<RpcBlock | null>(client, 'eth_getBlockByNumber', [toHex(h), true], signal)
    if (!block) throw new DriverError('BLOCK_NOT_FOUND', `block ${h} not found`, { retryable: true })
    return block
  })
  const rawBlocks = await blocksTask
  const logs =
    config.tokens.size > 0 && req.watch.size > 0
      ? await getTransferLogs(rpc, {
          addresses: [...config.tokens.keys()],
          from: req.from,
          to: req.to,
          blocks: rawBlocks,
          chunk: config.logsChunk,
          signal,
        })
      : ([] as RpcLog[])

  const blocks = rawBlocks.map(blockRef)
  const byHash = new Map(blocks.map((b) => [b.hash, b]))
  const transfers: Transfer[] = []

  const candidates: Array<{ tx: RpcTx; to: string; block: BlockRef }> = []
  if (req.watch.size > 0)
    rawBlocks.forEach((raw, i) => {
      for (const tx of raw.transactions) {
        if (!tx.to) continue
        const to = tx.to.toLowerCase()
        if (!req.watch.has(to) || BigInt(tx.value) === 0n) continue
        candidates.push({ tx, to, block: blocks[i] as BlockRef })
      }
    })
  // receipts only for matched native transactions: failed ones never count
  const receipts = await mapLimit(candidates, config.concurrency, ({ tx }) =>
    call<RpcReceipt | null>(client, 'eth_getTransactionReceipt', [tx.hash], signal),
  )
  candidates.forEach(({ tx, to, block }, i) => {
    const receipt = receipts[i]
    if (!receipt)
      throw new DriverError('RECEIPT_NOT_FOUND', `receipt of ${tx.hash} (block ${block.height}) not found`, {
        retryable: true,
      })
    if (receipt.blockHash !== block.hash) throw inconsistent(`receipt of ${tx.hash} is from another block`)
    if (receipt.status === '0x0') return
    transfers.push({
      txHash: tx.hash,
      index: -1,
      block,
      asset: config.native.id,
      to,
      from: tx.from.toLowerCase(),
      senders: sendersOf(tx.from),
      amount: BigInt(tx.value),
    })
  })

  // who sent each transaction of the range, and in which block: a log's transaction is in the log's block,
  // which the range read with full transactions
  const txSenders = new Map<string, { from: string; blockHash: string }>()
  if (logs.length > 0)
    for (const raw of rawBlocks)
      for (const tx of raw.transactions)
        txSenders.set(tx.hash.toLowerCase(), { from: tx.from, blockHash: raw.hash })

  for (const log of logs) {
    if (log.removed || log.topics.length !== 3 || log.topics[0]?.toLowerCase() !== transferTopic) continue
    const to = `0x${(log.topics[2] as string).slice(26)}`.toLowerCase()
    if (!req.watch.has(to)) continue
    const asset = config.tokens.get(log.address.toLowerCase())
    if (!asset) continue
    const block = byHash.get(log.blockHash)
    if (!block) throw inconsistent(`log of ${log.transactionHash} is from a block not in the range`)
    const amount = log.data.length < 66 ? 0n : BigInt(log.data.slice(0, 66))
    if (amount === 0n) continue
    const sender = txSenders.get(log.transactionHash.toLowerCase())
    if (sender?.blockHash !== log.blockHash)
      throw inconsistent(`log of ${log.transactionHash} names a transaction its block does not hold`)
    const from = `0x${(log.topics[1] as string).slice(26)}`.toLowerCase()
    transfers.push({
      txHash: log.transactionHash,
      index: Number(BigInt(log.logIndex)),
      block,
      asset: asset.id,
      to,
      from,
      senders: sendersOf(sender.from, from),
      amount,
    })
  }
  checkAborted(signal, 'scan')
  return { transfers, blocks }
}
