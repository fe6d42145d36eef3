import { describe, expect, test } from 'bun:test'
import { DriverError, driverCapabilities } from '@tollgate/sdk'
import { toyChain, toyPayouts } from '../../test/helpers/unit.ts'
import { callDeadlineExceeded, isDeadlineError, withCallDeadlines, withDeadline } from './deadlines.ts'
import { errorKind, GatewayError } from './errors.ts'

/** A call that never answers on its own, and the signal it was handed. */
function hanging() {
  const seen: { signal?: AbortSignal } = {}
  const call = (signal?: AbortSignal) => {
    seen.signal = signal
    return new Promise<never>(() => {})
  }
  return { call, seen }
}

const overdue = () => callDeadlineExceeded('toy', 'getTip', 50)

describe('withDeadline', () => {
  test('default: a call that answers in time gives its answer, and its own failure unchanged', async () => {
    expect(await withDeadline(1000, overdue, async () => 7)).toBe(7)
    const refused = new DriverError('RPC_ERROR', 'refused', { retryable: true })
    expect(await withDeadline(1000, overdue, () => Promise.reject(refused)).catch((e) => e)).toBe(refused)
  })

  test('behavior: past the deadline it fails with a retryable RPC_DEADLINE and aborts the call', async () => {
    const { call, seen } = hanging()
    const err = await withDeadline(50, overdue, call).catch((e) => e)
    expect(err).toBeInstanceOf(GatewayError)
    expect(isDeadlineError(err)).toBe(true)
    expect(errorKind(err)).toBe('retryable')
    expect(err.message).toBe('chain "toy": getTip did not answer within 50 ms')
    expect(seen.signal?.aborted).toBe(true)
    expect(seen.signal?.reason).toBe(err)
  })

  test('behavior: a late failure after the deadline is dropped, not left unhandled', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const late = () => new Promise<never>((_, reject) => setTimeout(() => reject(new Error('late')), 80))
      expect(isDeadlineError(await withDeadline(20, overdue, late).catch((e) => e))).toBe(true)
      await Bun.sleep(120)
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  test("behavior: 0 means no deadline; the caller's own signal still reaches the call", async () => {
    const caller = new AbortController()
    let handed: AbortSignal | undefined
    const value = await withDeadline(
      0,
      overdue,
      async (signal) => {
        handed = signal
        return 'slow but answered'
      },
      caller.signal,
    )
    expect(value).toBe('slow but answered')
    caller.abort()
    expect(handed?.aborted).toBe(true)
  })
})

describe('withCallDeadlines', () => {
  test('default: a driver call that hangs fails its step after callTimeoutMs, naming chain and call only', async () => {
    const toy = toyChain({ name: 'slow', settings: { callTimeoutMs: 40 } })
    const { call, seen } = hanging()
    toy.chain.driver.getTip = call
    const bounded = withCallDeadlines(toy.chain)
    const err = await bounded.driver.getTip().catch((e) => e)
    expect(isDeadlineError(err)).toBe(true)
    expect(err.message).toBe('chain "slow": getTip did not answer within 40 ms')
    // the driver was handed the deadline's signal
    expect(seen.signal?.aborted).toBe(true)
  })

  test('behavior: payout calls are bounded too (a hanging broadcast); signing is not, and answers pass through', async () => {
    const payouts = toyPayouts()
    const toy = toyChain({ name: 'pay', payouts: payouts.driver, settings: { callTimeoutMs: 40 } })
    const { call } = hanging()
    payouts.driver.broadcast = (_tx, signal) => call(signal)
    const bounded = withCallDeadlines(toy.chain).driver.payouts!
    const err = await bounded.broadcast({ raw: 'r', hash: 'h' }).catch((e) => e)
    expect(isDeadlineError(err)).toBe(true)
    expect(err.message).toContain('payouts.broadcast')
    expect(bounded.sign).toBe(payouts.driver.sign)
    expect(await bounded.balance('a', toy.native)).toBe(0n)
    expect(await bounded.confirmedNonce!('a')).toBe(0n)
  })

  test('behavior: what the driver can do is unchanged, and the same chain gives the same wrapped chain', () => {
    const withPayouts = toyChain({ name: 'caps', payouts: toyPayouts().driver })
    const bare = toyChain({ name: 'bare' })
    for (const chain of [withPayouts.chain, bare.chain])
      expect(driverCapabilities(withCallDeadlines(chain).driver)).toEqual(driverCapabilities(chain.driver))
    expect(withCallDeadlines(bare.chain).driver.payouts).toBeUndefined()
    expect(withCallDeadlines(bare.chain)).toBe(withCallDeadlines(bare.chain))
    // the rest of the chain (name, settings) is the chain's own
    expect(withCallDeadlines(bare.chain).settings).toBe(bare.chain.settings)
  })

  test('behavior: the scan request gets the deadline signal, joined with its own', async () => {
    const toy = toyChain({ name: 'scan', settings: { callTimeoutMs: 40 } })
    let handed: AbortSignal | undefined
    toy.chain.driver.scan = (request) => {
      handed = request.signal
      return new Promise(() => {})
    }
    const own = new AbortController()
    const err = await withCallDeadlines(toy.chain)
      .driver.scan({ from: 0n, to: 0n, watch: new Set(), signal: own.signal })
      .catch((e) => e)
    expect(isDeadlineError(err)).toBe(true)
    expect(handed?.aborted).toBe(true)
    expect(own.signal.aborted).toBe(false)
  })
})
