import type { ChainDriver, PayoutDriver, ScanRequest } from '@tollgate/sdk'
import { chainSettingDefaults, type LoadedChain } from '../plugins/registry.ts'
import { GatewayError } from './errors.ts'

/**
 * A driver call that did not answer within the chain's `callTimeoutMs`: the step it belongs to fails as
 * retryable and the pass goes on. Its message names the chain and the call, never a node's URL.
 *
 * @example
 * throw callDeadlineExceeded('ethereum', 'payouts.broadcast', 10_000)
 */
export const callDeadlineExceeded = (chain: string, call: string, ms: number) =>
  new GatewayError('retryable', 'RPC_DEADLINE', `chain "${chain}": ${call} did not answer within ${ms} ms`)

/** Whether `err` is a call that ran past its deadline. */
export function isDeadlineError(err: unknown): err is GatewayError {
  return err instanceof GatewayError && err.code === 'RPC_DEADLINE'
}

/**
 * Runs `call` with a deadline: past `ms` it rejects with `onTimeout()` and aborts the signal it handed the call
 * (drivers that honour it stop working; the others finish in the background, their answer dropped). `ms` 0 means
 * no deadline. A caller's own `signal` aborts the call too.
 *
 * The answer of a call that ran late is lost, not undone: a step that changes the chain (a broadcast) must be
 * safe to repeat, which the outbound pipeline is (it persists the bytes first and sends the same ones again).
 *
 * @example
 * const tip = await withDeadline(5000, () => callDeadlineExceeded('eth', 'getTip', 5000), (s) => driver.getTip(s))
 */
export function withDeadline<T>(
  ms: number,
  onTimeout: () => Error,
  call: (signal: AbortSignal) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const controller = new AbortController()
  const combined = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal
  if (ms <= 0) return call(combined)
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = onTimeout()
      controller.abort(err)
      reject(err)
    }, ms)
    // a late answer or failure settles nothing (the promise already rejected), so it is never unhandled
    call(combined).then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

/**
 * Wraps one driver method, looked up on `target` at each call (a driver that swaps a method keeps it bounded):
 * `signalAt` is the index of its `signal` argument (the deadline's signal goes there, joined with any the caller
 * passed), or -1 when it takes none.
 */
function wrap<T extends object, K extends keyof T & string>(
  chain: string,
  label: string,
  ms: number,
  target: T,
  method: K,
  signalAt: number,
): T[K] {
  const wrapped = (...args: unknown[]) => {
    const given = signalAt >= 0 ? (args[signalAt] as AbortSignal | undefined) : undefined
    return withDeadline(
      ms,
      () => callDeadlineExceeded(chain, label, ms),
      (signal) => {
        const call = [...args]
        if (signalAt >= 0) {
          while (call.length < signalAt) call.push(undefined)
          call[signalAt] = signal
        }
        const fn = target[method] as unknown as (...a: unknown[]) => Promise<unknown>
        return fn.apply(target, call)
      },
      given,
    )
  }
  return wrapped as T[K]
}

/** The payout methods that talk to the chain, with the index of their signal argument (-1: none). */
const payoutCalls: Partial<Record<keyof PayoutDriver, number>> = {
  build: 1,
  broadcast: 1,
  status: 1,
  confirmedNonce: 1,
  balance: 2,
  unspent: 1,
  checkDestination: 1,
  sweepNeed: -1,
  buildFunding: -1,
  buildDefunding: -1,
}

const wrapped = new WeakMap<LoadedChain, LoadedChain>()

/** A shallow copy that keeps the prototype, so a driver made as a class instance keeps its methods. */
function copyOf<T extends object>(source: T): T {
  return Object.assign(Object.create(Object.getPrototypeOf(source)) as T, source)
}

/**
 * The chain with every driver call that reaches a node (tip, block refs, scans, and the payout calls: build,
 * broadcast, status, nonces, balances…) bounded by the chain's `callTimeoutMs`, so one slow call fails its step
 * instead of stalling the pass. Signing stays as it is (it is local). What the driver can do is unchanged: an
 * optional method it lacks stays absent. The same wrapped chain comes back for the same chain.
 *
 * @example
 * const chain = withCallDeadlines(resolveChain(ctx.chains, 'ethereum'))
 * await advanceOutbound(ctx, chain) // a broadcast that hangs fails after callTimeoutMs; the others go on
 */
export function withCallDeadlines(chain: LoadedChain): LoadedChain {
  const known = wrapped.get(chain)
  if (known) return known
  const ms = chain.settings.callTimeoutMs ?? chainSettingDefaults.callTimeoutMs
  const d = chain.driver
  const driver: ChainDriver = Object.assign(copyOf(d), {
    getTip: wrap(chain.name, 'getTip', ms, d, 'getTip', 0),
    getBlockRef: wrap(chain.name, 'getBlockRef', ms, d, 'getBlockRef', 1),
    // the scan request carries its own signal
    scan: (request: ScanRequest) =>
      withDeadline(
        ms,
        () => callDeadlineExceeded(chain.name, 'scan', ms),
        (signal) => d.scan({ ...request, signal }),
        request.signal,
      ),
  } satisfies Partial<ChainDriver>)
  if (d.payouts) {
    const p = d.payouts
    const payouts: PayoutDriver = copyOf(p)
    for (const [name, signalAt] of Object.entries(payoutCalls) as Array<[keyof PayoutDriver, number]>)
      if (typeof p[name] === 'function')
        Object.assign(payouts, { [name]: wrap(chain.name, `payouts.${name}`, ms, p, name, signalAt) })
    driver.payouts = payouts
  }
  const bounded: LoadedChain = { ...chain, driver }
  wrapped.set(chain, bounded)
  return bounded
}
