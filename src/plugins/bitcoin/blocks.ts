import { type BlockRef, DriverError } from '@tollgate/sdk'
import { Block } from 'bitcoinjs-lib'
import { type BitcoinRpc, rpcErrorCode } from './rpc.ts'

/** JSON-RPC codes for "no block at that height / with that hash": -8 (height out of range), -5 (Core), -1 (bcoin). */
function isBlockMissing(err: unknown): boolean {
  const code = rpcErrorCode(err)
  if (code === -8 || code === -5) return true
  return code === -1 && /not found/i.test(err instanceof Error ? err.message : '')
}

/**
 * Runs a block lookup; a node saying the block does not exist (past the tip, or replaced by a reorg between two
 * calls) becomes a retryable `BLOCK_NOT_FOUND`.
 */
export async function lookupBlock<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    if (isBlockMissing(err))
      throw new DriverError('BLOCK_NOT_FOUND', `${what} not found: ${(err as Error).message}`, {
        retryable: true,
        cause: err,
      })
    throw err
  }
}

/** The hash of the main-chain block at `height`. */
export function blockHashAt(rpc: BitcoinRpc, height: bigint, signal?: AbortSignal): Promise<string> {
  return lookupBlock(`block ${height}`, () => rpc.call<string>('getblockhash', [Number(height)], signal))
}

/**
 * The ref of the main-chain block at `height`: `getblockhash`, then the 80-byte header (`getblockheader <hash>
 * false`, on Core and bcoin alike), whose hash must be the one asked for.
 */
export async function fetchBlockRef(
  rpc: BitcoinRpc,
  height: bigint,
  signal?: AbortSignal,
): Promise<BlockRef> {
  const hash = await blockHashAt(rpc, height, signal)
  const header = await lookupBlock(`block ${hash}`, () =>
    rpc.call<string>('getblockheader', [hash, false], signal),
  )
  let parsed: Block
  try {
    parsed = Block.fromHex(header)
  } catch (err) {
    throw new DriverError('BAD_BLOCK_DATA', `header of ${hash} does not parse`, {
      retryable: true,
      cause: err,
    })
  }
  if (parsed.getId() !== hash)
    throw new DriverError('BAD_BLOCK_DATA', `header answered for ${hash} hashes to ${parsed.getId()}`, {
      retryable: true,
    })
  return {
    height,
    hash,
    parentHash: Buffer.from(parsed.prevHash as Uint8Array)
      .reverse()
      .toString('hex'),
    time: parsed.timestamp,
  }
}

/** The ref of the node's best block. */
export async function fetchTip(rpc: BitcoinRpc, signal?: AbortSignal): Promise<BlockRef> {
  const height = await rpc.call<number>('getblockcount', [], signal)
  return fetchBlockRef(rpc, BigInt(height), signal)
}

/**
 * Polls `getblockcount` every `intervalMs` and calls `onHead` with each new height (errors are skipped: the
 * scheduler tick covers a node that is down). Returns the unsubscribe function.
 */
export function pollHeads(rpc: BitcoinRpc, intervalMs: number, onHead: (height: bigint) => void): () => void {
  let last: number | undefined
  let busy = false
  let stopped = false
  const timer = setInterval(async () => {
    if (busy || stopped) return
    busy = true
    try {
      const height = await rpc.call<number>('getblockcount')
      if (!stopped && height !== last) {
        last = height
        onHead(BigInt(height))
      }
    } catch {
      // the next tick asks again
    } finally {
      busy = false
    }
  }, intervalMs)
  return () => {
    stopped = true
    clearInterval(timer)
  }
}
