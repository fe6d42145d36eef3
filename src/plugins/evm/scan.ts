import {
  type AssetInfo,
  type BlockRef,
  DriverError,
  type ScanRequest,
  type ScanResult,
  type Transfer,
} from '@tollgate/sdk'
import { mapLimit } from '@tollgate/sdk/map-limit'
import { getAddress, type PublicClient } from 'viem'

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
  /** Parallel block (and receipt) fetches. */
  concurrency: number
  /** Most blocks one `eth_getLogs` call spans; longer ranges are asked in chunks. Default 1000. */
  logsChunk?: number
}

const toHex = (n: bigint) => `0x${n.toString(16)}`

/** JSON-RPC codes that say the node will never answer this method, whatever we retry. */
const unsupportedCodes = new Set([-32601, -32004, 4200])

/** Walks an error's cause chain for the JSON-RPC `code` and HTTP `status` viem attaches. */
function errorFacts(err: unknown): { code?: number; status?: number; text: string } {
  const facts: { code?: number; status?: number; text: string } = { text: '' }
  let e: unknown = err
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const o = e as { code?: unknown; status?: unknown; message?: unknown; details?: unknown; cause?: unknown }
    if (facts.code === undefined && typeof o.code === 'number' && o.code !== -1) facts.code = o.code
    if (facts.status === undefined && typeof o.status === 'number') facts.status = o.status
    facts.text += ` ${String(o.details ?? '')} ${String(o.message ?? '')}`
    e = o.cause
  }
  return facts
}

/**
 * Turns what a call threw into a `DriverError`: `ABORTED` when the caller's signal fired, `RPC_UNSUPPORTED`
 * (not retryable) when the node does not have the method, `RPC_ERROR` (retryable) for everything else —
 * network failures, timeouts, HTTP 429/5xx and the node-side errors (`header not found`, limits) that
 * another try or another URL can get past.
 */
function rpcError(method: string, err: unknown, signal?: AbortSignal): DriverError {
  if (err instanceof DriverError) return err
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  if (signal?.aborted)
    return new DriverError('ABORTED', `${method}: aborted`, { retryable: true, cause: signal.reason ?? err })
  const { code } = errorFacts(err)
  if (code !== undefined && unsupportedCodes.has(code))
    return new DriverError('RPC_UNSUPPORTED', `${method}: ${message}`, { retryable: false, cause: err })
  return new DriverError('RPC_ERROR', `${method}: ${message}`, { retryable: true, cause: err })
}

/** True for the errors nodes give when an `eth_getLogs` range or answer is too large for them. */
function isLogsLimit(err: DriverError): boolean {
  const { code, text } = errorFacts(err.cause)
  return (
    code === -32005 ||
    /(block range|too many|limit exceeded|response size|exceed|query returned more than|range is too large)/i.test(
      text,
    )
  )
}

/** Throws the `ABORTED` DriverError once `signal` has fired. */
function checkAborted(signal: AbortSignal | undefined, where: string) {
  if (signal?.aborted)
    throw new DriverError('ABORTED', `${where}: aborted`, { retryable: true, cause: signal.reason })
}

async function call<T>(
  client: PublicClient,
  method: string,
  params: unknown[],
  signal?: AbortSignal,
  retryCount?: number,
): Promise<T> {
  checkAborted(signal, method)
  try {
    // raw JSON-RPC: no per-transaction formatting on the hot path
    return (await client.request({ method, params } as never, { signal, retryCount })) as T
  } catch (err) {
    throw rpcError(method, err, signal)
  }
}

/** `Transfer` logs of `addresses` in `from..to`, in chunks of `chunk` blocks; a range a node refuses is halved. */
async function getTransferLogs(
  client: PublicClient,
  addresses: string[],
  from: bigint,
  to: bigint,
  chunk: bigint,
  signal?: AbortSignal,
): Promise<RpcLog[]> {
  const params = (a: bigint, b: bigint) => [
    { fromBlock: toHex(a), toBlock: toHex(b), address: addresses, topics: [transferTopic] },
  ]
  const ask = async (a: bigint, b: bigint): Promise<RpcLog[]> => {
    if (a === b) return call<RpcLog[]>(client, 'eth_getLogs', params(a, b), signal)
    try {
      // no transport retries here: viem would retry a "too many results" (-32005) refusal with backoff
      return await call<RpcLog[]>(client, 'eth_getLogs', params(a, b), signal, 0)
    } catch (err) {
      if (!(err instanceof DriverError) || err.code !== 'RPC_ERROR') throw err
      if (!isLogsLimit(err)) return call<RpcLog[]>(client, 'eth_getLogs', params(a, b), signal)
      const mid = a + (b - a) / 2n
      return [...(await ask(a, mid)), ...(await ask(mid + 1n, b))]
    }
  }
  const parts: Promise<RpcLog[]>[] = []
  for (let a = from; a <= to; a += chunk) parts.push(ask(a, a + chunk - 1n < to ? a + chunk - 1n : to))
  return (await Promise.all(parts)).flat()
}

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
  client: PublicClient,
  config: EvmScanConfig,
  req: ScanRequest,
): Promise<ScanResult> {
  const { signal } = req
  checkAborted(signal, 'scan')
  if (req.to < req.from) return { transfers: [], blocks: [] }
  const heights: bigint[] = []
  for (let h = req.from; h <= req.to; h++) heights.push(h)

  const blocksTask = mapLimit(heights, config.concurrency, async (h) => {
    const block = await call<RpcBlock | null>(client, 'eth_getBlockByNumber', [toHex(h), true], signal)
    if (!block) throw new DriverError('BLOCK_NOT_FOUND', `block ${h} not found`, { retryable: true })
    return block
  })
  const logsTask =
    config.tokens.size > 0 && req.watch.size > 0
      ? getTransferLogs(
          client,
          [...config.tokens.keys()],
          req.from,
          req.to,
          BigInt(Math.max(1, config.logsChunk ?? 1000)),
          signal,
        )
      : Promise.resolve([] as RpcLog[])
  // Promise.all observes both: a failure of one never leaves the other's rejection unhandled
  const [rawBlocks, logs] = await Promise.all([blocksTask, logsTask])

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
