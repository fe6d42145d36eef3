import type { DegradedAfter } from '@tollgate/sdk/define'
import { assessAvailability, type UnavailableReason } from './core/payments/availability.ts'
import { type PayoutStatus, readPayoutStatus } from './core/payouts/pass-status.ts'
import { readWrongNetworks } from './core/scanning/network.ts'
import { readScanStatus, type ScanStatus } from './core/scanning/status.ts'
import type { Db } from './db/client.ts'
import type { FailedStage } from './db/schema/index.ts'
import { type ChainRegistry, chainSettingDefaults, type LoadedChain } from './plugins/registry.ts'

// One read model of how far behind each chain is, for every surface that shows it (metrics, readiness,
// `Chain.status`, `tollgate chain status`, warnings): the scanner's record, the last payout pass and the payout
// backlog, judged against the chain's `degradedAfter` thresholds. Codes and numbers only, never messages.

/**
 * Why a chain counts as degraded:
 * - `WRONG_NETWORK`: the chain's node is on another network than the configured one; scanning stopped (an
 *   operator error: the chain is not ready and takes no payments until the node is on the right network);
 * - `HALTED`: the scanner stopped on a reorg deeper than finality (needs `tollgate chain resume`);
 * - `SCAN_LAG`: the scanner is more than `lagBlocks` behind the node's tip;
 * - `NODE_BEHIND`: the node's tip is more than `lagBlocks` below what was already scanned (a stale node);
 * - `SCAN_STALLED`: no scan run succeeded for `scanAgeMs` (failing, or no scanner running);
 * - `STALE_TIP`: scans succeed but the node's tip has not moved for `staleTipMs`;
 * - `PAYOUTS_STALLED`: no payout pass finished for `payoutPassAgeMs` (after one ran);
 * - `PAYOUTS_FAILING`: passes have failed for `payoutPassAgeMs` without one that went through clean;
 * - `PAYOUTS_BACKLOG`: the oldest queued withdrawal has waited `queuedAgeMs`;
 * - `NODE_UNREACHABLE`: the node did not answer a readiness probe (set by `/readyz`, not from the records).
 */
export type DegradedReason =
  | 'WRONG_NETWORK'
  | 'HALTED'
  | 'NODE_UNREACHABLE'
  | 'SCAN_LAG'
  | 'NODE_BEHIND'
  | 'SCAN_STALLED'
  | 'STALE_TIP'
  | 'PAYOUTS_STALLED'
  | 'PAYOUTS_FAILING'
  | 'PAYOUTS_BACKLOG'

/** What a chain's scanning recorded, as every reader shows it. */
type RecordedScan = Pick<
  ScanStatus,
  | 'chain'
  | 'tip'
  | 'lastScanAt'
  | 'lastScanAgeSeconds'
  | 'tipAgeSeconds'
  | 'lastErrorCode'
  | 'lastErrorKind'
  | 'lastErrorStage'
  | 'lastErrorAt'
  | 'failedRuns'
  | 'haltedReason'
  | 'lastBlockAt'
  | 'rpcCallsPerBlock'
  | 'rpcBytesPerBlock'
>

/**
 * A chain's status: what scanning recorded (`tip`: the node's tip as the scanner last saw it; `tipAgeSeconds`:
 * since it last moved up; `failedRuns`: in a row; `haltedReason`: for operators only, it may name heights and
 * hashes, never a URL), the lag either way, the payouts and the reasons it is degraded.
 */
export type ChainStatus = RecordedScan & {
  /** The cursor: the last block stored (null before the first scan; -1 means "from genesis"). */
  scannedHeight: bigint | null
  /** Blocks between the tip and the cursor (0 when the scanner is at or above the node's tip). */
  lagBlocks: number | null
  /** Blocks the node's tip is below the cursor: a node behind what was already scanned. */
  nodeBehindBlocks: number
  halted: boolean
  /** The configured and the node's network while the node is on another one (null otherwise). */
  network: { expected: string; actual: string } | null
  /**
   * Whether the chain takes new payments: false on a node of another network, a halted scanner, or no successful
   * scan for longer than `unavailableAfterMs` (see `assessAvailability`); `unavailable` says which, with a message.
   */
  ready: boolean
  unavailable: { reason: UnavailableReason; message: string } | null
  degraded: DegradedReason[]
  payouts: Omit<PayoutStatus, 'chain'>
}

/** The thresholds of a chain (hand-built chains in tests get the defaults). */
export function thresholdsOf(chain: Pick<LoadedChain, 'settings'>): Required<DegradedAfter> {
  return chain.settings.degradedAfter ?? chainSettingDefaults.degradedAfter
}

const over = (seconds: number | null, limitMs: number) =>
  limitMs > 0 && seconds !== null && seconds * 1000 > limitMs

/**
 * The lag math: blocks behind either way and the reasons the chain is degraded, from the recorded scan and
 * payout state and the thresholds (each 0 = off). Pure.
 *
 * @example
 * assessChain(scan, payouts, { lagBlocks: 20, scanAgeMs: 60_000, staleTipMs: 600_000, payoutPassAgeMs: 300_000, queuedAgeMs: 900_000 })
 * // { lagBlocks: 0, nodeBehindBlocks: 0, degraded: [] }
 */
export function assessChain(
  scan: Omit<ScanStatus, 'chain'> | undefined,
  payouts: Omit<PayoutStatus, 'chain'>,
  limits: Required<DegradedAfter>,
): { lagBlocks: number | null; nodeBehindBlocks: number; degraded: DegradedReason[] } {
  const degraded: DegradedReason[] = []
  let lagBlocks: number | null = null
  let nodeBehindBlocks = 0
  if (scan) {
    if (scan.tip !== null) {
      const gap = scan.tip - scan.scannedHeight
      lagBlocks = gap > 0n ? Number(gap) : 0
      nodeBehindBlocks = gap < 0n ? Number(-gap) : 0
    }
    // since the last run that went through, or since the failures began when none ever did
    const stalled = over(scan.lastScanAgeSeconds ?? scan.failingForSeconds, limits.scanAgeMs)
    if (scan.haltedReason !== null) degraded.push('HALTED')
    if (limits.lagBlocks > 0 && (lagBlocks ?? 0) > limits.lagBlocks) degraded.push('SCAN_LAG')
    if (limits.lagBlocks > 0 && nodeBehindBlocks > limits.lagBlocks) degraded.push('NODE_BEHIND')
    // a halted scanner is not expected to scan; a stalled one tells nothing new about the node's tip
    if (stalled && scan.haltedReason === null) degraded.push('SCAN_STALLED')
    else if (!stalled && over(scan.tipAgeSeconds, limits.staleTipMs)) degraded.push('STALE_TIP')
  }
  const pass = payouts.lastPass
  if (pass) {
    if (over(pass.ageSeconds, limits.payoutPassAgeMs)) degraded.push('PAYOUTS_STALLED')
    else if (over(pass.failingForSeconds, limits.payoutPassAgeMs)) degraded.push('PAYOUTS_FAILING')
  }
  if (over(payouts.queued.oldestAgeSeconds, limits.queuedAgeMs)) degraded.push('PAYOUTS_BACKLOG')
  return { lagBlocks, nodeBehindBlocks, degraded }
}

/**
 * How every configured chain is doing, in configuration order: four statements whatever the number of chains.
 *
 * @example
 * for (const s of await readChainStatus(ctx)) console.log(s.chain, s.lagBlocks, s.degraded)
 */
export async function readChainStatus(ctx: { db: Db; chains: ChainRegistry }): Promise<ChainStatus[]> {
  const names = [...ctx.chains.keys()]
  const [scans, payouts, wrong] = await Promise.all([
    readScanStatus(ctx.db),
    readPayoutStatus(ctx.db, names),
    readWrongNetworks(ctx.db),
  ])
  return names.map((name, i) => {
    const scan = scans.find((s) => s.chain === name)
    const { chain: _chain, ...payout } = payouts[i] as PayoutStatus
    const loaded = ctx.chains.get(name) as LoadedChain
    const assessed = assessChain(scan, payout, thresholdsOf(loaded))
    const network = wrong.get(name) ?? null
    if (network) assessed.degraded.unshift('WRONG_NETWORK')
    const availability = assessAvailability(
      name,
      { network, halted: (scan?.haltedReason ?? null) !== null, quietMs: scan?.quietMs ?? null },
      loaded.settings.unavailableAfterMs ?? chainSettingDefaults.unavailableAfterMs,
    )
    return {
      chain: name,
      scannedHeight: scan?.scannedHeight ?? null,
      tip: scan?.tip ?? null,
      lagBlocks: assessed.lagBlocks,
      nodeBehindBlocks: assessed.nodeBehindBlocks,
      lastScanAt: scan?.lastScanAt ?? null,
      lastScanAgeSeconds: scan?.lastScanAgeSeconds ?? null,
      tipAgeSeconds: scan?.tipAgeSeconds ?? null,
      lastErrorCode: scan?.lastErrorCode ?? null,
      lastErrorKind: scan?.lastErrorKind ?? null,
      lastErrorStage: scan?.lastErrorStage ?? null,
      lastErrorAt: scan?.lastErrorAt ?? null,
      failedRuns: scan?.failedRuns ?? 0,
      halted: (scan?.haltedReason ?? null) !== null,
      haltedReason: scan?.haltedReason ?? null,
      lastBlockAt: scan?.lastBlockAt ?? null,
      rpcCallsPerBlock: scan?.rpcCallsPerBlock ?? null,
      rpcBytesPerBlock: scan?.rpcBytesPerBlock ?? null,
      network,
      ready: availability.ready,
      unavailable: availability.ready ? null : { reason: availability.reason, message: availability.message },
      degraded: assessed.degraded,
      payouts: payout,
    }
  })
}

const ago = (seconds: number | null) => (seconds === null ? 'never' : `${seconds}s ago`)

/**
 * The scanning half of a status as one line for operators: `3 blocks behind, last scan 2s ago, tip moved 1s ago`
 * (plus the last error's code and the failures in a row while it fails).
 *
 * @example
 * describeScan(status) // '0 blocks behind, last scan 1s ago, tip moved 3s ago'
 */
export function describeScan(s: ChainStatus): string {
  if (s.scannedHeight === null) return 'not scanned yet'
  const parts = [
    s.nodeBehindBlocks > 0
      ? `node ${s.nodeBehindBlocks} blocks behind the scanner`
      : `${s.lagBlocks ?? '?'} blocks behind`,
    `last scan ${ago(s.lastScanAgeSeconds)}`,
    `tip moved ${ago(s.tipAgeSeconds)}`,
  ]
  if (s.rpcCallsPerBlock !== null && s.rpcBytesPerBlock !== null)
    parts.push(
      `${s.rpcCallsPerBlock.toFixed(1)} calls and ${Math.round(s.rpcBytesPerBlock / 1024)} KiB per block`,
    )
  if (s.failedRuns > 0)
    parts.push(
      `${s.failedRuns} failed run${s.failedRuns === 1 ? '' : 's'} in a row, last error ${s.lastErrorCode}`,
    )
  return parts.join(', ')
}

const stagesText = (stages: readonly FailedStage[]) => stages.map((f) => `${f.stage} ${f.code}`).join(', ')

/**
 * The payout half as one line: `2 queued (oldest 40s), 1 in flight (oldest 12s), 1 open tx, last pass 1s ago
 * (820 ms)` (plus what failed in it).
 *
 * @example
 * describePayouts(status.payouts) // '0 queued, 0 in flight, 0 open tx, last pass 2s ago (31 ms)'
 */
export function describePayouts(p: ChainStatus['payouts']): string {
  const group = (b: { count: number; oldestAgeSeconds: number | null }, what: string) =>
    b.count > 0 ? `${b.count} ${what} (oldest ${b.oldestAgeSeconds}s)` : `0 ${what}`
  const parts = [
    group(p.queued, 'queued'),
    group(p.inFlight, 'in flight'),
    group(p.openTransactions, 'open tx'),
  ]
  const pass = p.lastPass
  if (!pass) parts.push('no payout pass yet')
  else {
    parts.push(`last pass ${ago(pass.ageSeconds)} (${pass.durationMs} ms)`)
    if (pass.failedStages.length > 0) parts.push(`failed: ${stagesText(pass.failedStages)}`)
    if (pass.failedSteps > 0) parts.push(`${pass.failedSteps} steps failed (last ${pass.lastErrorCode})`)
  }
  return parts.join(', ')
}
