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
import { type BalanceBlock, findBalanceTransfers, type TxOutcome } from './balance-mode.ts'
import {
  balanceWindow,
  decideInternalMode,
  forgetTraceMethod,
  type InternalMode,
  type InternalTransfers,
} from './internal.ts'
import { getTransferLogs, type RpcLog, transferTopic } from './logs.ts'
import { type BlockReceiptsSupport, feeOf, fetchReceipts, type RpcReceipt } from './receipts.ts'
import type { EvmRpc } from './rpc.ts'
import { call, checkAborted } from './rpc-errors.ts'
import { type CallTraceResult, fetchBlockTraces, internalTransfersOf, type ParityTrace } from './traces.ts'

type RpcTx = { hash: string; from: string; to: string | null; value: string }
type RpcBlock = {
  number: string
  hash: string
  parentHash: string
  timestamp: string
  logsBloom: string
  /** Full transactions, or only their hashes in token-only mode. */
  transactions: RpcTx[] | string[]
  withdrawals?: { address: string; amount: string }[]
}
type RpcTxSender = { hash: string; from: string; blockHash: string | null }

export type EvmScanConfig = {
  native: AssetInfo
  /** Configured tokens by lowercase contract address; logs of any other contract never count. */
  tokens: ReadonlyMap<string, AssetInfo>
  /** Parallel block (and trace) fetches. */
  concurrency: number
  /** Most blocks one `eth_getLogs` call spans; longer ranges are asked in chunks. Default 1000. */
  logsChunk?: number
  /** `false`: token-only, no full blocks are read and no ETH is looked for. Default `true`. */
  nativeDeposits?: boolean
  /** Internal-transfer detection and its memory; absent, only top-level ETH transfers count. */
  internal?: InternalTransfers
  /** Whether the node has `eth_getBlockReceipts`, learnt on first use. */
  blockReceipts?: BlockReceiptsSupport
  /** Running totals of the RPC's calls and bytes, for `ScanResult.cost`. */
  rpcCost?: () => { calls: number; bytes: number }
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
 * - native (unless `nativeDeposits` is false): a top-level transaction with `value > 0` whose `to` is watched,
 *   counted only when it succeeded (`index` -1). Receipts from before Byzantium (no `status`) count as success.
 * - internal native transfers (ETH moved by contracts), per `internal`: from call traces (`traces.ts`, `index`
 *   -2 - k, the transaction's hash) or from balances (`balance-mode.ts`, the block's hash as `txHash`).
 * - tokens: `Transfer(address,address,uint256)` logs of the configured contracts only, from one `eth_getLogs`
 *   per chunk, decoded by hand (topics[2] is the recipient, data the amount; `index` is the log index). Logs
 *   marked `removed`, with a zero amount, or not of that exact shape (ERC-721 has 4 topics) are skipped.
 * - `senders`: native, the transaction's `from` (and the calling contract of an internal transfer); a token,
 *   the transaction's `from` (who sent it: a spender's `transferFrom`, a contract's caller) and the event's
 *   `from` (whose tokens moved), each once, checksummed.
 *
 * What it asks: every block once (with full transactions only when ETH is looked for), the logs of the range,
 * and only for what matched: whether a matched transaction succeeded (from its trace when tracing, else its
 * receipt — all asked at once, or a block's receipts in one call when many of its transactions match), and in
 * token-only mode the sender of a matched log's transaction.
 *
 * Blocks are read by number and logs by range in parallel, so a reorg between the calls could mix two
 * branches: every receipt, trace and log must belong to a block of the answer, else the scan throws a retryable
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
  const costBefore = config.rpcCost?.()
  const heights: bigint[] = []
  for (let h = req.from; h <= req.to; h++) heights.push(h)
  const native = config.nativeDeposits !== false
  const watching = req.watch.size > 0
  const { internal } = config
  const mode: InternalMode =
    native && watching && internal ? await decideInternalMode(rpc, internal, req.from, signal) : 'off'
  const tracing = mode === 'debug_traceBlockByNumber' || mode === 'trace_block'

  // each block and its traces asked side by side, one call per request (large answers are never batched)
  const fetched = await mapLimit(heights, config.concurrency, async (h) => {
    const [block, traces] = await Promise.all([
      call<RpcBlock | null>(client, 'eth_getBlockByNumber', [toHex(h), native], signal),
      tracing
        ? fetchBlockTraces(rpc, mode, h, signal).catch((err) => {
            if (internal) forgetTraceMethod(internal, err)
            throw err
          })
        : undefined,
    ])
    if (!block) throw new DriverError('BLOCK_NOT_FOUND', `block ${h} not found`, { retryable: true })
    return { block, traces }
  })
  const rawBlocks = fetched.map((f) => f.block)
  const logs =
    config.tokens.size > 0 && watching
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
  const transfers: Transfer[] = []
  if (native && watching) {
    const fullBlocks = rawBlocks.map((raw, i) => ({
      ref: blocks[i] as BlockRef,
      transactions: raw.transactions as RpcTx[],
      withdrawals: raw.withdrawals,
    }))
    transfers.push(...(await nativeTransfers(rpc, config, req, mode, fullBlocks, fetched)))
  }
  transfers.push(...(await tokenTransfers(rpc, config, req, rawBlocks, blocks, logs, native)))
  checkAborted(signal, 'scan')
  const costAfter = config.rpcCost?.()
  return costBefore && costAfter
    ? {
        transfers,
        blocks,
        cost: { calls: costAfter.calls - costBefore.calls, bytes: costAfter.bytes - costBefore.bytes },
      }
    : { transfers, blocks }
}

/** Top-level ETH into watched addresses, and internal transfers by the decided mode. */
async function nativeTransfers(
  rpc: EvmRpc,
  config: EvmScanConfig,
  req: ScanRequest,
  mode: InternalMode,
  fullBlocks: BalanceBlock[],
  fetched: readonly { traces?: CallTraceResult[] | ParityTrace[] }[],
): Promise<Transfer[]> {
  const { signal, watch } = req
  const transfers: Transfer[] = []
  const candidates: Array<{ tx: RpcTx; to: string; block: BlockRef }> = []
  fullBlocks.forEach(({ ref, transactions }) => {
    for (const tx of transactions as RpcTx[]) {
      if (!tx.to) continue
      const to = tx.to.toLowerCase()
      if (!watch.has(to) || BigInt(tx.value) === 0n) continue
      candidates.push({ tx, to, block: ref })
    }
  })

  // traces say which transactions failed; without them, receipts of the matched transactions do
  let failed: (hash: string) => boolean
  if (mode === 'debug_traceBlockByNumber' || mode === 'trace_block') {
    const failedHashes = new Set<string>()
    fullBlocks.forEach((block, i) => {
      const traces = fetched[i]?.traces as CallTraceResult[] | ParityTrace[]
      const found = internalTransfersOf(mode, traces, block, watch, config.native)
      transfers.push(...found.transfers)
      for (const h of found.failed) failedHashes.add(h)
    })
    failed = (hash) => failedHashes.has(hash.toLowerCase())
  } else {
    const checked = mode === 'balance' && config.internal ? balanceWindow(config.internal, watch) : []
    const outcomes = await readOutcomes(rpc, config, fullBlocks, candidates, new Set(checked), signal)
    failed = (hash) => !(outcomes.get(hash.toLowerCase()) as TxOutcome).success
    if (checked.length > 0 && config.internal)
      transfers.push(
        ...(await findBalanceTransfers(rpc, {
          blocks: fullBlocks,
          addresses: checked,
          outcomes,
          native: config.native,
          cache: config.internal.balances,
          signal,
        })),
      )
  }

  const top: Transfer[] = []
  for (const { tx, to, block } of candidates) {
    if (failed(tx.hash)) continue
    top.push({
      txHash: tx.hash,
      index: -1,
      block,
      asset: config.native.id,
      to,
      from: tx.from.toLowerCase(),
      senders: sendersOf(tx.from),
      amount: BigInt(tx.value),
    })
  }
  return [...top, ...transfers]
}

/**
 * Receipts of the matched transactions, and in balance mode of every transaction the checked addresses sent
 * (their fees) or were paid by: success and fee by lowercase hash.
 */
async function readOutcomes(
  rpc: EvmRpc,
  config: EvmScanConfig,
  fullBlocks: BalanceBlock[],
  candidates: readonly { tx: RpcTx; block: BlockRef }[],
  checked: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<Map<string, TxOutcome>> {
  const wanted = new Map<string, Set<string>>()
  const want = (block: BlockRef, hash: string) => {
    const set = wanted.get(block.hash) ?? new Set<string>()
    set.add(hash)
    wanted.set(block.hash, set)
  }
  for (const { tx, block } of candidates) want(block, tx.hash)
  if (checked.size > 0)
    for (const { ref, transactions } of fullBlocks)
      for (const tx of transactions as RpcTx[])
        if (checked.has(tx.from.toLowerCase()) || (tx.to && checked.has(tx.to.toLowerCase())))
          want(ref, tx.hash)
  const receipts = await fetchReceipts(
    rpc,
    fullBlocks
      .filter((b) => wanted.has(b.ref.hash))
      .map((b) => ({ height: b.ref.height, hash: b.ref.hash, txs: [...(wanted.get(b.ref.hash) ?? [])] })),
    config.blockReceipts ?? {},
    signal,
  )
  const outcomes = new Map<string, TxOutcome>()
  for (const [hash, r] of receipts)
    outcomes.set(hash, { success: r.status !== '0x0', fee: feeOf(r as RpcReceipt) })
  return outcomes
}

/** Token `Transfer` logs into watched addresses, each with its transaction's sender. */
async function tokenTransfers(
  rpc: EvmRpc,
  config: EvmScanConfig,
  req: ScanRequest,
  rawBlocks: readonly RpcBlock[],
  blocks: readonly BlockRef[],
  logs: readonly RpcLog[],
  native: boolean,
): Promise<Transfer[]> {
  const byHash = new Map(blocks.map((b) => [b.hash, b]))
  const matched: Array<{ log: RpcLog; to: string; asset: AssetInfo; block: BlockRef; amount: bigint }> = []
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
    matched.push({ log, to, asset, block, amount })
  }
  if (matched.length === 0) return []

  // who sent each matched log's transaction: from the full blocks already read, else asked for these only
  const txSenders = new Map<string, { from: string; blockHash: string | null }>()
  if (native) {
    for (const raw of rawBlocks)
      for (const tx of raw.transactions as RpcTx[])
        txSenders.set(tx.hash.toLowerCase(), { from: tx.from, blockHash: raw.hash })
  } else {
    const hashes = [...new Set(matched.map((m) => m.log.transactionHash.toLowerCase()))]
    const txs = await Promise.all(
      hashes.map((h) => call<RpcTxSender | null>(rpc.batched, 'eth_getTransactionByHash', [h], req.signal)),
    )
    txs.forEach((tx, i) => {
      if (tx) txSenders.set(hashes[i] as string, { from: tx.from, blockHash: tx.blockHash })
    })
  }

  return matched.map(({ log, to, asset, block, amount }) => {
    const sender = txSenders.get(log.transactionHash.toLowerCase())
    if (!sender || sender.blockHash !== log.blockHash)
      throw inconsistent(`log of ${log.transactionHash} names a transaction its block does not hold`)
    const from = `0x${(log.topics[1] as string).slice(26)}`.toLowerCase()
    return {
      txHash: log.transactionHash,
      index: Number(BigInt(log.logIndex)),
      block,
      asset: asset.id,
      to,
      from,
      senders: sendersOf(sender.from, from),
      amount,
    }
  })
}
