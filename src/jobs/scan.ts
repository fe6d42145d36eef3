import { thresholdsOf } from '../chain-status.ts'
import type { AppContext } from '../context.ts'
import { resolveChain } from '../core/chains.ts'
import { screeningOn } from '../core/compliance/checks.ts'
import { withCallDeadlines } from '../core/deadlines.ts'
import type { DepositChange } from '../core/deposits/lifecycle.ts'
import { errorCode, errorKind, GatewayError } from '../core/errors.ts'
import type { PaymentChange } from '../core/payments/refresh.ts'
import { acquireLease, releaseLeases } from '../core/scanning/cursors.ts'
import { type ScannerState, type SyncResult, syncChain } from '../core/scanning/sync.ts'
import { reportFailure } from './failures.ts'
import { createLogThrottle } from './log-throttle.ts'

/** Something that runs only while this process holds a chain's lease (a head subscription); returns its stop. */
export type WhileHolding = () => (() => void) | undefined

/**
 * How often a scanner renews its lease (holder) or tries to take it (standby): a third of the lease, at most every
 * 400 ms, so a crashed holder's chain is taken over within the lease plus 400 ms.
 *
 * @example
 * scanHeartbeatMs(1200) // 400
 */
export function scanHeartbeatMs(leaseMs: number): number {
  return Math.min(leaseMs / 3, 400)
}

/**
 * Runs a chain's scanner in this process, one run per chain at a time. A trigger that arrives during a run
 * (a new head, the scheduler) makes the run go again right after, so no head waits for the next tick.
 *
 * Failover: every chain the runner has seen gets a heartbeat (every SCANNER_LEASE_MS / 3, at most 400 ms)
 * that renews the lease while this process holds it, or tries to take it when it does not, so a standby
 * takes over within SCANNER_LEASE_MS plus one heartbeat of the holder dying. `stop()` hands the leases back
 * at once. Safety never rests on the timing: the cursor only moves under the holder's name (`advanceCursor`
 * is fenced), so a holder paused past its lease stores nothing once another took over.
 *
 * Before scanning, the node's network is checked against the configured one (at the first run, after a failed
 * one, every few minutes): a node on another network stops the chain's scanning until it is on the right one.
 *
 * Every driver call has the chain's `callTimeoutMs`. A failed run, a scanner more than `degradedAfter.lagBlocks`
 * behind (or a node that far behind the scanner), and a node tip that has not moved for `degradedAfter.staleTipMs`
 * are logged at warn with the lag, once a minute per chain and condition; recovery is logged once at info.
 *
 * @example
 * const scans = createScanRunner(ctx, newScannerState())
 * scans.whileHolding('ethereum', () => driver.watchHeads?.(() => scans.trigger('ethereum')))
 * process.on('SIGTERM', () => scans.stop())
 */
export function createScanRunner(
  ctx: AppContext,
  scanner: ScannerState,
  onChanges: () => void = () => {},
  onDeposits: () => void = () => {},
) {
  const screen = screeningOn(ctx.compliance)
  const running = new Map<string, Promise<SyncResult>>()
  const again = new Set<string>()
  const timers = new Map<string, Timer>()
  const failures = new Map<string, number>()
  const heartbeats = new Map<string, Timer>()
  /** Heartbeats under way, per chain: `stop()` waits for them, so none takes a lease back after the release. */
  const beating = new Map<string, Promise<void>>()
  /** Chains whose lease this process held at its last look. */
  const held = new Set<string>()
  const holdingTasks = new Map<string, Array<{ start: WhileHolding; stop?: () => void }>>()
  const leaseMs = ctx.env.SCANNER_LEASE_MS
  const holder = { db: ctx.db, owner: scanner.owner, leaseMs }
  // renews well before the lease runs out; a standby also looks at least every 400 ms, so a lease handed back
  // on a graceful stop is taken within that whatever the lease length, and one left by a crash within the lease
  // plus 400 ms (1.6 s at the default)
  const heartbeatMs = scanHeartbeatMs(leaseMs)
  const throttle = createLogThrottle()
  /** Per chain: the last finished run's heights, and when the node's tip last moved up (this process's view). */
  const seen = new Map<string, { height: bigint; tip: bigint; tipMovedAt: number }>()
  /** Chains whose last finished run was behind (a warning was due). */
  const lagging = new Set<string>()

  let stopped = false
  let stopping: Promise<void> | undefined

  /** After the running scans and heartbeats finished: no scan of this process can renew a lease any more. */
  async function handBack() {
    await Promise.allSettled([...running.values(), ...beating.values()])
    try {
      const released = await releaseLeases(ctx.db, scanner.owner)
      if (released.length > 0)
        ctx.log.info({ chains: released, owner: scanner.owner }, 'scan leases released')
    } catch (err) {
      // the lease then runs out on its own, after SCANNER_LEASE_MS
      ctx.log.warn({ err, owner: scanner.owner }, 'scan leases not released')
    }
  }

  /** Records whether this process holds the chain, starting or stopping what runs only while it does. */
  function setHeld(chainName: string, holds: boolean) {
    if (stopped || holds === held.has(chainName)) return
    if (holds) held.add(chainName)
    else held.delete(chainName)
    ctx.log.info({ chain: chainName, owner: scanner.owner }, holds ? 'scan lease taken' : 'scan lease lost')
    for (const task of holdingTasks.get(chainName) ?? []) {
      if (holds) task.stop = task.start()
      else stopTask(task)
    }
  }

  function stopTask(task: { stop?: () => void }) {
    const stop = task.stop
    task.stop = undefined
    stop?.()
  }

  /** Renews the lease (holder) or tries to take it (standby); a standby that takes it scans at once. */
  async function beat(chainName: string) {
    if (stopped) return
    const chain = withCallDeadlines(resolveChain(ctx.chains, chainName))
    const cursor = await acquireLease(holder, chain, new Date())
    if (stopped) return
    const gained = cursor !== undefined && !held.has(chainName)
    setHeld(chainName, cursor !== undefined)
    if (gained) trigger(chainName).catch(() => {})
  }

  function startHeartbeat(chainName: string) {
    if (stopped || heartbeats.has(chainName) || !ctx.chains.has(chainName)) return
    const timer = setInterval(() => {
      // a slow database delays the next beat rather than piling them up
      if (beating.has(chainName)) return
      const pending = beat(chainName)
        .catch((err) => ctx.log.warn({ chain: chainName, err }, 'scan lease heartbeat failed'))
        .finally(() => beating.delete(chainName))
      beating.set(chainName, pending)
    }, heartbeatMs)
    heartbeats.set(chainName, timer)
  }

  function retryLater(chainName: string, delayMs: number) {
    if (stopped || timers.has(chainName)) return
    const timer = setTimeout(() => {
      timers.delete(chainName)
      trigger(chainName).catch(() => {})
    }, delayMs)
    timers.set(chainName, timer)
  }

  /** After a failed run (node down, timeouts): try again with exponential backoff and jitter, up to 30 s. */
  function backOff(chainName: string, err: unknown) {
    const n = (failures.get(chainName) ?? 0) + 1
    failures.set(chainName, n)
    // what retrying cannot fix (configuration, a bug) is tried again only at the slowest pace
    const ceiling = errorKind(err) === 'retryable' ? Math.min(30_000, 250 * 2 ** (n - 1)) : 30_000
    const delay = ceiling * (0.5 + Math.random() / 2)
    // a node down for an hour logs once a minute (per error code), with how far behind the scanner was
    const pass = throttle.take(`${chainName}:failed:${errorCode(err) ?? 'UNKNOWN'}`)
    if (pass) {
      const last = seen.get(chainName)
      reportFailure(
        ctx.log,
        err,
        {
          chain: chainName,
          attempt: n,
          retryInMs: Math.round(delay),
          suppressed: pass.suppressed,
          ...(last ? lagFields(last) : {}),
        },
        'scan failed; retrying',
      )
    }
    retryLater(chainName, delay)
  }

  function lagFields(s: { height: bigint; tip: bigint; tipMovedAt: number }) {
    return {
      scannedHeight: s.height.toString(),
      tip: s.tip.toString(),
      lagBlocks: Number(s.tip > s.height ? s.tip - s.height : 0n),
      tipUnchangedMs: Date.now() - s.tipMovedAt,
    }
  }

  /** After a run that went through: warns while the scanner or the node falls behind, notes the recovery. */
  function noteProgress(chainName: string, result: SyncResult) {
    if (result.tip < 0n) return
    const before = seen.get(chainName)
    const now = Date.now()
    const tipMovedAt = !before || result.tip > before.tip ? now : before.tipMovedAt
    const state = { height: result.height, tip: result.tip, tipMovedAt }
    seen.set(chainName, state)
    const limits = thresholdsOf(resolveChain(ctx.chains, chainName))
    const gap = result.tip - result.height
    const behind: string[] = []
    if (limits.lagBlocks > 0 && gap > BigInt(limits.lagBlocks)) behind.push('SCAN_LAG')
    if (limits.lagBlocks > 0 && -gap > BigInt(limits.lagBlocks)) behind.push('NODE_BEHIND')
    if (limits.staleTipMs > 0 && now - tipMovedAt > limits.staleTipMs) behind.push('STALE_TIP')
    const wasBehind = lagging.has(chainName)
    if (behind.length === 0) {
      lagging.delete(chainName)
      // a lag hovering around the threshold notes its recoveries once a minute too
      if (wasBehind && throttle.take(`${chainName}:caught-up`))
        ctx.log.info({ chain: chainName, ...lagFields(state) }, 'scan caught up')
      return
    }
    lagging.add(chainName)
    for (const reason of behind) {
      const pass = throttle.take(`${chainName}:behind:${reason}`)
      if (pass)
        ctx.log.warn(
          { chain: chainName, reason, suppressed: pass.suppressed, ...lagFields(state) },
          reason === 'STALE_TIP' ? "scan: the node's tip has not moved" : 'scan falling behind',
        )
    }
  }

  async function loop(chainName: string): Promise<SyncResult> {
    const chain = withCallDeadlines(resolveChain(ctx.chains, chainName))
    let result: SyncResult
    do {
      again.delete(chainName)
      // each stored range's changes go out as it commits, not when the run ends
      const onCommitted = (changes: PaymentChange[]) => {
        ctx.bus.publish(changes)
        onChanges()
      }
      const depositsCommitted = (changes: DepositChange[]) => {
        ctx.bus.publishDeposits(changes)
        onChanges()
      }
      result = await syncChain(
        { db: ctx.db, log: ctx.log, scanner, leaseMs, screen, onCommitted, onDeposits: depositsCommitted },
        chain,
        { deadline: Date.now() + 20_000 },
      )
      // new deposits wait for their screening: the screening pump looks at once
      if (result.transfers > 0) onDeposits()
      // the node is on another network (logged as an error when found): nothing scanned, asked again next tick
      if (result.wrongNetwork) break
      // another scanner (or a dead one whose lease has not run out) holds the chain: the heartbeat looks again
      setHeld(chainName, !result.busy)
      if (result.halted || result.busy) break
      noteProgress(chainName, result)
      if (result.height < result.tip) again.add(chainName)
    } while (again.has(chainName) && !stopped)
    return result
  }

  /** Starts a run, or asks the current one to go again; resolves with the run's result. */
  function trigger(chainName: string): Promise<SyncResult> {
    const current = running.get(chainName)
    if (current) {
      again.add(chainName)
      return current
    }
    // a stopping process takes no lease again after handing it back
    if (stopped) return Promise.resolve(idle(chainName))
    startHeartbeat(chainName)
    const run = loop(chainName)
      .then((result) => {
        failures.delete(chainName)
        return result
      })
      .catch((err) => {
        if (err instanceof GatewayError && err.code === 'LEASE_LOST') setHeld(chainName, false)
        backOff(chainName, err)
        throw err
      })
      .finally(() => running.delete(chainName))
    running.set(chainName, run)
    return run
  }

  return {
    trigger,
    /** Whether this process held the chain's lease at its last look. */
    holds: (chainName: string) => held.has(chainName),
    /**
     * Runs `start` whenever this process takes the chain's lease and the stop it returns when it loses it, so
     * only the holder watches heads. Returns a function that stops it and forgets it.
     */
    whileHolding(chainName: string, start: WhileHolding): () => void {
      const task: { start: WhileHolding; stop?: () => void } = { start }
      holdingTasks.set(chainName, [...(holdingTasks.get(chainName) ?? []), task])
      if (held.has(chainName) && !stopped) task.stop = start()
      startHeartbeat(chainName)
      return () => {
        holdingTasks.set(
          chainName,
          (holdingTasks.get(chainName) ?? []).filter((t) => t !== task),
        )
        stopTask(task)
      }
    },
    /**
     * Stops scanning here: no new runs, no heartbeats, head watches stopped; once the running scans finished,
     * hands back every lease this process holds, so a standby takes over at its next heartbeat, not after
     * SCANNER_LEASE_MS.
     */
    stop(): Promise<void> {
      if (stopping) return stopping
      stopped = true
      for (const timer of timers.values()) clearTimeout(timer)
      timers.clear()
      for (const timer of heartbeats.values()) clearInterval(timer)
      heartbeats.clear()
      for (const tasks of holdingTasks.values()) for (const task of tasks) stopTask(task)
      held.clear()
      stopping = handBack()
      return stopping
    },
  }
}

/** The result of a trigger that ran nothing (the runner stopped). */
function idle(chain: string): SyncResult {
  return { chain, height: -1n, tip: -1n, blocks: 0, transfers: 0, changes: [], deposits: [], busy: true }
}
export type ScanRunner = ReturnType<typeof createScanRunner>
