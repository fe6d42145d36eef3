import { DriverError } from '@tollgate/sdk'
import { mapLimit } from '@tollgate/sdk/map-limit'
import { bloomFilterFor } from './bloom.ts'
import { learnedLimit, logsRefusal } from './range-limits.ts'
import type { EvmEndpoint, EvmRpc } from './rpc.ts'
import { call, checkAborted } from './rpc-errors.ts'

/** keccak256("Transfer(address,address,uint256)") */
export const transferTopic = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'

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

const toHex = (n: bigint) => `0x${n.toString(16)}`

/** What the logs path is asked: the token contracts' `Transfer` logs of `from..to`, whose blocks are `blocks`. */
export type TransferLogsQuery = {
  addresses: string[]
  from: bigint
  to: bigint
  /** The range's blocks as read (every height of `from..to`): their hashes and bloom filters. */
  blocks: readonly { number: string; hash: string; logsBloom: string }[]
  /** Most blocks one `eth_getLogs` call spans. Default 1000. */
  chunk?: number
  signal?: AbortSignal
}

/** Tries of one call at one URL before the next URL is asked (one URL: it is all there is, so more). */
const triesPerUrl = (urls: number) => (urls > 1 ? 2 : 3)
const backoffMs = (attempt: number) => 150 * 2 ** (attempt - 1)
/** Parallel by-hash checks of blocks whose bloom says "maybe" and whose range answer had nothing. */
const checkConcurrency = 8

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** The endpoints in the order to ask them, starting at `start` and wrapping around. */
function from(endpoints: readonly EvmEndpoint[], start: number): number[] {
  return endpoints.map((_, i) => (start + i) % endpoints.length)
}

/** A range's logs as one URL answered them. */
type Piece = { endpoint: number; from: bigint; to: bigint; logs: RpcLog[] }

/**
 * `Transfer` logs of `addresses` in `from..to`, checked against the blocks' bloom filters before they are
 * trusted:
 *
 * - ranges are asked in chunks of `chunk` blocks, or fewer where a URL has refused wider ones: a refusal (by
 *   HTTP status, JSON-RPC code or the provider's message, see range-limits.ts) teaches that URL's limit and the
 *   range is asked again in chunks it takes; other errors are retried with backoff, then the next URL is asked.
 * - a block whose bloom says a Transfer of one of the contracts may be there, but of which the answer holds no
 *   log, is asked again by `blockHash`, at another URL first when there are several. A by-hash answer comes
 *   from a node that has the block (one that does not errors rather than answering []), so what it says wins:
 *   its logs are added, or its [] makes the bloom's "maybe" a false positive.
 * - when no URL answers for such a block the range is not accepted: a retryable `LOGS_INCOMPLETE`, so the core
 *   asks for the range again later instead of moving on without a deposit a lagging or lying node left out.
 */
export async function getTransferLogs(rpc: EvmRpc, q: TransferLogsQuery): Promise<RpcLog[]> {
  const { addresses, signal } = q
  if (q.to < q.from) return []
  const chunk = Math.max(1, q.chunk ?? 1000)
  const filter = (a: bigint, b: bigint) => ({
    fromBlock: toHex(a),
    toBlock: toHex(b),
    address: addresses,
    topics: [transferTopic],
  })

  /** Asks `a..b` at `endpoint` alone, splitting it into what that URL takes; throws when the URL keeps failing. */
  const askAt = async (index: number, a: bigint, b: bigint): Promise<Piece[]> => {
    const endpoint = rpc.endpoints[index] as EvmEndpoint
    const span = Number(b - a + 1n)
    const limit = Math.min(chunk, endpoint.logsLimit ?? chunk)
    if (span > limit) return askSplit(index, a, b, limit)
    let lastError: unknown
    for (let attempt = 1; attempt <= triesPerUrl(rpc.endpoints.length); attempt++) {
      checkAborted(signal, 'eth_getLogs')
      try {
        const logs = await call<RpcLog[]>(endpoint.client, 'eth_getLogs', [filter(a, b)], signal, 0)
        if (!Array.isArray(logs))
          throw new DriverError('RPC_ERROR', 'eth_getLogs: the answer is not an array', { retryable: true })
        return [{ endpoint: index, from: a, to: b, logs }]
      } catch (err) {
        if (err instanceof DriverError && err.code === 'ABORTED') throw err
        const refusal = span > 1 ? logsRefusal(err) : undefined
        if (refusal) {
          endpoint.logsLimit = learnedLimit(endpoint.logsLimit, span, refusal)
          return askSplit(index, a, b, endpoint.logsLimit)
        }
        lastError = err
        if (err instanceof DriverError && err.code === 'RPC_UNSUPPORTED') break
        if (attempt < triesPerUrl(rpc.endpoints.length)) await sleep(backoffMs(attempt), signal)
      }
    }
    throw lastError
  }

  /** `a..b` in pieces of `limit` blocks, each started at `index` (and free to move on from there alone). */
  const askSplit = async (index: number, a: bigint, b: bigint, limit: number): Promise<Piece[]> => {
    const parts: Promise<Piece[]>[] = []
    for (let s = a; s <= b; s += BigInt(limit)) {
      const e = s + BigInt(limit) - 1n < b ? s + BigInt(limit) - 1n : b
      parts.push(ask(s, e, index))
    }
    return (await Promise.all(parts)).flat()
  }

  /** Asks `a..b` at each URL in turn from `start` until one answers; the last error when none does. */
  const ask = async (a: bigint, b: bigint, start = rpc.logsFrom.index): Promise<Piece[]> => {
    let lastError: unknown
    let unsupported = 0
    for (const index of from(rpc.endpoints, start)) {
      try {
        const pieces = await askAt(index, a, b)
        // the next ranges start where answers come from, not at a URL that keeps failing
        if (index !== start) rpc.logsFrom.index = index
        return pieces
      } catch (err) {
        if (err instanceof DriverError && err.code === 'ABORTED') throw err
        lastError = err
        if (err instanceof DriverError && err.code === 'RPC_UNSUPPORTED') unsupported++
      }
    }
    // a method one URL lacks may be there at another: only when none has it is it unsupported
    if (
      unsupported < rpc.endpoints.length &&
      lastError instanceof DriverError &&
      lastError.code === 'RPC_UNSUPPORTED'
    )
      throw new DriverError('RPC_ERROR', lastError.message, { retryable: true, cause: lastError })
    throw lastError
  }

  const pieces = await askSplit(rpc.logsFrom.index, q.from, q.to, chunk)
  const logs = pieces.flatMap((p) => p.logs)

  // ---- the blooms: a block that may hold a Transfer of the contracts, with no log in the answer
  const withLogs = new Set(logs.map((l) => l.blockHash.toLowerCase()))
  const mayHold = bloomFilterFor(addresses, transferTopic)
  const doubtful = q.blocks.filter((b) => !withLogs.has(b.hash.toLowerCase()) && mayHold(b.logsBloom))
  if (doubtful.length === 0) return logs

  /** The URL that answered for `height`. */
  const rangeAnswerer = (height: bigint) =>
    pieces.find((p) => p.from <= height && height <= p.to)?.endpoint ?? rpc.logsFrom.index

  const rechecked = await mapLimit(doubtful, checkConcurrency, async (block) => {
    const answerer = rangeAnswerer(BigInt(block.number))
    // another URL first when there are several: the one that left it out may be lagging or lying; a single
    // URL is asked twice, so one passing failure does not fail the range
    const order = rpc.endpoints.length > 1 ? from(rpc.endpoints, answerer + 1) : [0, 0]
    const errors: string[] = []
    for (const [attempt, index] of order.entries()) {
      if (attempt > 0 && rpc.endpoints.length === 1) await sleep(backoffMs(attempt), signal)
      checkAborted(signal, 'eth_getLogs')
      const endpoint = rpc.endpoints[index] as EvmEndpoint
      try {
        const found = await call<RpcLog[]>(
          endpoint.batched,
          'eth_getLogs',
          [{ blockHash: block.hash, address: addresses, topics: [transferTopic] }],
          signal,
          0,
        )
        if (!Array.isArray(found)) throw new Error('the answer is not an array')
        return found.filter((l) => l.blockHash?.toLowerCase() === block.hash.toLowerCase())
      } catch (err) {
        if (err instanceof DriverError && err.code === 'ABORTED') throw err
        errors.push(`${endpoint.url}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
      }
    }
    throw new DriverError(
      'LOGS_INCOMPLETE',
      `block ${BigInt(block.number)} (${block.hash}) may hold a Transfer of the tokens, the range's logs have none, ` +
        `and no URL answered for it by hash (${errors.join('; ')})`,
      { retryable: true },
    )
  })
  const all = [...logs, ...rechecked.flat()]
  all.sort((x, y) => {
    const byBlock = BigInt(x.blockNumber) - BigInt(y.blockNumber)
    return byBlock !== 0n ? (byBlock < 0n ? -1 : 1) : Number(BigInt(x.logIndex) - BigInt(y.logIndex))
  })
  return all
}
