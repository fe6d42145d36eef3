import { DriverError, type DriverLogger } from '@tollgate/sdk'
import type { BalanceCache } from './balance-mode.ts'
import type { EvmRpc } from './rpc.ts'
import { call } from './rpc-errors.ts'
import { fetchBlockTraces, type TraceMethod } from './traces.ts'

/** The `internalTransfers` option: how ETH moved by contracts into watched addresses is found. */
export type InternalTransfersSetting = 'auto' | 'traces' | 'balance' | 'off'

/** What runs once decided: a trace method, balance comparison, or nothing. */
export type InternalMode = TraceMethod | 'balance' | 'off'

/** Trace methods in the order they are tried: geth's callTracer first (most nodes and providers have it). */
const traceMethods: readonly TraceMethod[] = ['debug_traceBlockByNumber', 'trace_block']

/**
 * The driver's internal-transfer detection: the operator's setting, what the probe of the node decided (kept for
 * the driver's life), and balance mode's memory (the last balances read; where the next capped window starts).
 */
export type InternalTransfers = {
  setting: InternalTransfersSetting
  decided?: InternalMode
  balances: BalanceCache
  /** Most watched addresses balance mode checks per range. */
  balanceCap: number
  /** Where in the sorted watch set the next range's window starts, when it holds more than `balanceCap`. */
  rotation: number
  /** When asking the node outside a scan last failed (ms): it is not asked again for a minute. */
  probeFailedAt?: number
  log?: DriverLogger
}

/**
 * Detection state for a driver.
 *
 * @example
 * const internal = createInternalTransfers('auto', { balanceCap: 1000, log: ctx.log })
 */
export function createInternalTransfers(
  setting: InternalTransfersSetting,
  options: { balanceCap?: number; log?: DriverLogger } = {},
): InternalTransfers {
  return {
    setting,
    decided: setting === 'off' ? 'off' : setting === 'balance' ? 'balance' : undefined,
    balances: new Map(),
    balanceCap: options.balanceCap ?? 1000,
    rotation: 0,
    log: options.log,
  }
}

/**
 * What the mode reads as for operators: `traces:debug_traceBlockByNumber`, `traces:trace_block`, `balance`,
 * `off`, or the setting itself (`auto`, `traces`) until the first scan has asked the node.
 */
export function describeInternalMode(internal: InternalTransfers): string {
  const { decided } = internal
  if (!decided) return internal.setting
  return decided === 'balance' || decided === 'off' ? decided : `traces:${decided}`
}

/**
 * The mode for this scan: decided once, by tracing block `height` with each trace method in turn. A node that
 * answers `RPC_UNSUPPORTED` to both gets balance mode under `auto` (or, without `eth_getBalance` either, `off`),
 * and fails the scan under `traces` (the operator asked for traces). Any other error fails the scan and nothing
 * is decided.
 */
export async function decideInternalMode(
  rpc: EvmRpc,
  internal: InternalTransfers,
  height: bigint | 'latest',
  signal?: AbortSignal,
): Promise<InternalMode> {
  if (internal.decided) return internal.decided
  for (const method of traceMethods) {
    try {
      await fetchBlockTraces(rpc, method, height, signal)
      internal.decided = method
      internal.log?.info(
        { internalTransfers: describeInternalMode(internal) },
        'internal transfers mode decided',
      )
      return method
    } catch (err) {
      if (!(err instanceof DriverError) || err.code !== 'RPC_UNSUPPORTED') throw err
    }
  }
  if (internal.setting === 'traces')
    throw new DriverError(
      'RPC_UNSUPPORTED',
      'internalTransfers is traces, but the node has neither debug_traceBlockByNumber nor trace_block',
      { retryable: false },
    )
  // balance mode reads balances at past blocks: a node without eth_getBalance leaves top-level transfers only
  try {
    await call<string>(
      rpc.client,
      'eth_getBalance',
      [zeroAddress, height === 'latest' ? height : toHex(height)],
      signal,
    )
  } catch (err) {
    if (!(err instanceof DriverError) || err.code !== 'RPC_UNSUPPORTED') throw err
    internal.decided = 'off'
    internal.log?.warn(
      { internalTransfers: 'off' },
      'the node has neither call traces nor eth_getBalance: internal transfers are not looked for',
    )
    return 'off'
  }
  internal.decided = 'balance'
  internal.log?.warn(
    { internalTransfers: 'balance' },
    'the node has no call traces: internal transfers are found by comparing balances',
  )
  return 'balance'
}

const zeroAddress = '0x0000000000000000000000000000000000000000'
const toHex = (n: bigint) => `0x${n.toString(16)}`

/**
 * The mode as operators read it, deciding it first (by tracing the latest block) when no scan has yet. Never
 * rejects: a node that cannot be asked leaves the setting showing, and is not asked again for a minute.
 *
 * @example
 * await describeInternalModeNow(rpc, internal) // 'traces:debug_traceBlockByNumber'
 */
export async function describeInternalModeNow(
  rpc: EvmRpc,
  internal: InternalTransfers,
  signal?: AbortSignal,
): Promise<string> {
  const now = Date.now()
  if (!internal.decided && (internal.probeFailedAt === undefined || now - internal.probeFailedAt >= 60_000))
    await decideInternalMode(rpc, internal, 'latest', signal).catch(() => {
      internal.probeFailedAt = now
    })
  return describeInternalMode(internal)
}

/**
 * After a trace call failed: a node that no longer has the method (another URL answered) is asked again by the
 * next scan, under `auto` and `traces` alike.
 */
export function forgetTraceMethod(internal: InternalTransfers, err: unknown): void {
  const tracing = internal.decided !== 'balance' && internal.decided !== 'off'
  if (tracing && err instanceof DriverError && err.code === 'RPC_UNSUPPORTED') internal.decided = undefined
}

/**
 * The watched addresses balance mode checks in this range: all of them up to `balanceCap`; beyond it a window of
 * `balanceCap` that moves on each range (so every address is checked in turn), with a warning naming how many
 * were left out: an arrival in a range that left its address out is not found.
 */
export function balanceWindow(internal: InternalTransfers, watch: ReadonlySet<string>): string[] {
  const all = [...watch].sort()
  if (all.length <= internal.balanceCap) return all
  const start = internal.rotation % all.length
  internal.rotation = (start + internal.balanceCap) % all.length
  const window = [...all.slice(start), ...all.slice(0, start)].slice(0, internal.balanceCap)
  internal.log?.warn(
    { watched: all.length, checked: window.length, cap: internal.balanceCap },
    'balance mode checks only part of the watched addresses in this range; use a node with call traces',
  )
  return window
}
