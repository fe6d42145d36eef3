import { type AssetInfo, type BlockRef, DriverError, type Transfer } from '@tollgate/sdk'
import { getAddress } from 'viem'
import type { EvmRpc } from './rpc.ts'
import { call } from './rpc-errors.ts'

/** The two call-trace methods nodes offer: geth's (and anvil's) `callTracer`, and parity's (erigon, anvil). */
export type TraceMethod = 'debug_traceBlockByNumber' | 'trace_block'

/** One frame of geth's `callTracer`: the call, its value (hex wei), its failure and its sub-calls. */
export type CallFrame = {
  type: string
  from: string
  to?: string
  value?: string
  error?: string
  calls?: CallFrame[]
}
/** One transaction of a `debug_traceBlockByNumber` answer (`txHash` is absent on older geth). */
export type CallTraceResult = { txHash?: string; result: CallFrame }

/** One entry of a parity `trace_block` answer: a flat, depth-first list over every transaction of the block. */
export type ParityTrace = {
  type: 'call' | 'create' | 'suicide' | 'reward' | string
  action: {
    callType?: string
    from?: string
    to?: string
    value?: string
    address?: string
    refundAddress?: string
    balance?: string
  }
  result?: { address?: string } | null
  error?: string
  traceAddress: number[]
  transactionHash?: string
  transactionPosition?: number
  blockHash?: string
}

/** What the decoders need of the block: its ref and its transactions' hashes and senders, in block order. */
export type TracedBlock = { ref: BlockRef; transactions: readonly { hash: string; from: string }[] }

/** A value move a trace shows, before it is matched against the watch set. */
type ValueMove = { to: string; from: string; value: bigint }

const toHex = (n: bigint) => `0x${n.toString(16)}`
const inconsistent = (message: string) => new DriverError('INCONSISTENT_RANGE', message, { retryable: true })

/** The frame kinds that move value to their `to`: DELEGATECALL and CALLCODE keep it where it is, STATICCALL has none. */
const movingFrames = new Set(['CALL', 'CREATE', 'CREATE2', 'SELFDESTRUCT'])

/**
 * The block's call traces by `method`. A node without the method answers a non-retryable `RPC_UNSUPPORTED`.
 *
 * @example
 * const traces = await fetchBlockTraces(rpc, 'trace_block', 123n, signal)
 */
export function fetchBlockTraces(
  rpc: EvmRpc,
  method: TraceMethod,
  height: bigint | 'latest',
  signal?: AbortSignal,
): Promise<CallTraceResult[] | ParityTrace[]> {
  const block = height === 'latest' ? height : toHex(height)
  const params = method === 'trace_block' ? [block] : [block, { tracer: 'callTracer' }]
  return call<CallTraceResult[] | ParityTrace[]>(rpc.client, method, params, signal)
}

/**
 * Internal native transfers into watched addresses that one block's traces show, whichever method gave them.
 *
 * Counted: CALL, CREATE/CREATE2 and SELFDESTRUCT frames with a value above zero to a watched address, below the
 * top-level frame (the transaction's own value is the scan's `index` -1), in a transaction that succeeded, when
 * neither the frame nor any frame above it failed (a failed frame's value moves are undone).
 *
 * Identity: `(txHash, -2 - k)` where `k` counts the transaction's value-moving frames (those kinds, value above
 * zero, failed or not, the top-level frame excluded) before this one in depth-first order. Counting only
 * value-moving frames keeps `k` the same whichever tracer answered (they differ in the zero-value frames they
 * show, such as precompile calls), so a re-scan or a reorg names the transfer the same way. `senders`: the
 * transaction's sender and the contract that made the call.
 */
export function internalTransfersOf(
  method: TraceMethod,
  traces: CallTraceResult[] | ParityTrace[],
  block: TracedBlock,
  watch: ReadonlySet<string>,
  native: AssetInfo,
): { transfers: Transfer[]; failed: Set<string> } {
  const traced =
    method === 'trace_block'
      ? parityMoves(traces as ParityTrace[], block)
      : callTracerMoves(traces as CallTraceResult[], block)
  const transfers: Transfer[] = []
  const failed = new Set<string>()
  traced.forEach((txTrace, i) => {
    const tx = block.transactions[i] as { hash: string; from: string }
    if (txTrace.failed) failed.add(tx.hash.toLowerCase())
    txTrace.moves.forEach((move, k) => {
      if (!move) return
      const to = move.to.toLowerCase()
      if (!watch.has(to)) return
      transfers.push({
        txHash: tx.hash,
        index: -2 - k,
        block: block.ref,
        asset: native.id,
        to,
        from: move.from.toLowerCase(),
        senders: [...new Set([getAddress(tx.from.toLowerCase()), getAddress(move.from.toLowerCase())])],
        amount: move.value,
      })
    })
  })
  return { transfers, failed }
}

/**
 * One transaction's trace: whether it failed, and its value-moving frames in depth-first order (the move, or
 * `null` for one that does not count: it or a frame above it failed, or the transaction did).
 */
type TxTrace = { failed: boolean; moves: (ValueMove | null)[] }

function callTracerMoves(results: CallTraceResult[], block: TracedBlock): TxTrace[] {
  if (!Array.isArray(results) || results.length !== block.transactions.length)
    throw inconsistent(
      `traces of block ${block.ref.height} cover ${Array.isArray(results) ? results.length : 'no'} transactions, the block holds ${block.transactions.length}`,
    )
  return results.map((r, i) => {
    const tx = block.transactions[i] as { hash: string }
    if (r.txHash && r.txHash.toLowerCase() !== tx.hash.toLowerCase())
      throw inconsistent(`trace ${i} of block ${block.ref.height} is of another transaction`)
    const moves: TxTrace['moves'] = []
    const walk = (frame: CallFrame, failed: boolean) => {
      for (const child of frame.calls ?? []) {
        const childFailed = failed || Boolean(child.error)
        const value = child.value ? BigInt(child.value) : 0n
        if (movingFrames.has(child.type.toUpperCase()) && value > 0n)
          moves.push(childFailed || !child.to ? null : { to: child.to, from: child.from, value })
        walk(child, childFailed)
      }
    }
    const failed = Boolean(r.result.error)
    walk(r.result, failed)
    return { failed, moves }
  })
}

function parityMoves(traces: ParityTrace[], block: TracedBlock): TxTrace[] {
  if (!Array.isArray(traces)) throw inconsistent(`traces of block ${block.ref.height} are not a list`)
  const byTx: TxTrace[] = block.transactions.map(() => ({ failed: false, moves: [] }))
  const seen = new Set<number>()
  // a trace fails with its own `error` or any ancestor's: remember each failed frame's address per transaction
  const failedPaths = new Map<number, string[]>()
  for (const t of traces) {
    if (t.transactionPosition === undefined || t.transactionPosition === null) continue // block rewards
    const position = t.transactionPosition
    const tx = block.transactions[position]
    if (!tx || (t.transactionHash && t.transactionHash.toLowerCase() !== tx.hash.toLowerCase()))
      throw inconsistent(`a trace of block ${block.ref.height} names a transaction the block does not hold`)
    if (t.blockHash && t.blockHash !== block.ref.hash)
      throw inconsistent(`traces of block ${block.ref.height} are from another block`)
    const path = t.traceAddress.join('.')
    const failed = failedPaths.get(position) ?? []
    const ancestorFailed = failed.some((p) => p === '' || path === p || path.startsWith(`${p}.`))
    if (t.error) failed.push(path)
    failedPaths.set(position, failed)
    const txTrace = byTx[position] as TxTrace
    if (t.traceAddress.length === 0) {
      // the transaction's own frame: its value is the scan's index -1
      seen.add(position)
      txTrace.failed = Boolean(t.error)
      continue
    }
    const move = parityMove(t)
    if (!move || move.value === 0n) continue
    txTrace.moves.push(
      ancestorFailed || t.error || !move.to ? null : { to: move.to, from: move.from, value: move.value },
    )
  }
  if (seen.size !== block.transactions.length)
    throw inconsistent(
      `traces of block ${block.ref.height} cover ${seen.size} transactions, the block holds ${block.transactions.length}`,
    )
  return byTx
}

/** The value a parity trace moves and where to (`to` is absent for a create that made no contract). */
function parityMove(t: ParityTrace): { to?: string; from: string; value: bigint } | undefined {
  const { action } = t
  const value = (hex: string | undefined) => BigInt(hex ?? '0x0')
  // delegatecall and callcode keep the value where it is; staticcall has none
  if (t.type === 'call')
    return (action.callType ?? 'call') === 'call' && action.from
      ? { to: action.to, from: action.from, value: value(action.value) }
      : undefined
  if (t.type === 'create' && action.from)
    return { to: t.result?.address, from: action.from, value: value(action.value) }
  if (t.type === 'suicide' && action.address)
    return { to: action.refundAddress, from: action.address, value: value(action.balance) }
  return undefined
}
