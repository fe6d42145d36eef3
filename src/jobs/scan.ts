import type { AppContext } from '../context.ts'
import { resolveChain } from '../core/chains.ts'
import { errorKind } from '../core/errors.ts'
import { type ScannerState, type SyncResult, syncChain } from '../core/scanning/sync.ts'
import { reportFailure } from './failures.ts'

/**
 * Runs a chain's scanner in this process, one run per chain at a time. A trigger that arrives during a run
 * (a new head, the scheduler) makes the run go again right after, so no head waits for the next tick.
 */
export function createScanRunner(ctx: AppContext, scanner: ScannerState, onChanges: () => void = () => {}) {
  const running = new Map<string, Promise<SyncResult>>()
  const again = new Set<string>()
  const timers = new Map<string, Timer>()
  const failures = new Map<string, number>()

  let stopped = false

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
    reportFailure(
      ctx.log,
      err,
      { chain: chainName, attempt: n, retryInMs: Math.round(delay) },
      'scan failed; retrying',
    )
    retryLater(chainName, delay)
  }

  async function loop(chainName: string): Promise<SyncResult> {
    const chain = resolveChain(ctx.chains, chainName)
    let result: SyncResult
    do {
      again.delete(chainName)
      result = await syncChain(
        { db: ctx.db, log: ctx.log, scanner, leaseMs: ctx.env.SCANNER_LEASE_MS },
        chain,
        {
          deadline: Date.now() + 20_000,
        },
      )
      if (result.changes.length > 0) {
        ctx.bus.publish(result.changes)
        onChanges()
      }
      if (result.halted) break
      if (result.busy) {
        // another scanner (or a dead one whose lease has not run out) holds the chain: look again later
        retryLater(chainName, ctx.env.SCANNER_LEASE_MS / 2)
        break
      }
      if (result.height < result.tip) again.add(chainName)
    } while (again.has(chainName))
    return result
  }

  /** Starts a run, or asks the current one to go again; resolves with the run's result. */
  function trigger(chainName: string): Promise<SyncResult> {
    const current = running.get(chainName)
    if (current) {
      again.add(chainName)
      return current
    }
    const run = loop(chainName)
      .then((result) => {
        failures.delete(chainName)
        return result
      })
      .catch((err) => {
        backOff(chainName, err)
        throw err
      })
      .finally(() => running.delete(chainName))
    running.set(chainName, run)
    return run
  }

  return {
    trigger,
    stop() {
      stopped = true
      for (const timer of timers.values()) clearTimeout(timer)
      timers.clear()
    },
  }
}
export type ScanRunner = ReturnType<typeof createScanRunner>
