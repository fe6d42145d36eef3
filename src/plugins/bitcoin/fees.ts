import { DriverError } from '@tollgate/sdk'
import { scaledDecimal } from './decimal.ts'
import { type BitcoinRpc, rpcErrorCode } from './rpc.ts'

/**
 * Fee rates are bigints in satoshis per 1000 virtual bytes (sat/kvB): Bitcoin Core's own unit, exact for the
 * fractional sat/vB rates nodes estimate (1.234 sat/vB = 1234n).
 */
export type FeeRate = bigint

/**
 * A sat/vB rate from configuration (a JSON number such as `2` or `1.5`) in sat/kvB, read from its decimal form
 * and rounded up past 3 decimals.
 *
 * @example
 * feeRateFromSatPerVb(1.5) // 1500n
 */
export function feeRateFromSatPerVb(satPerVb: number): FeeRate {
  if (!(satPerVb > 0))
    throw new DriverError('INVALID_FEE_RATE', `a fee rate must be positive, got ${satPerVb}`, {
      retryable: false,
    })
  return scaledDecimal(satPerVb, 3, 'ceil')
}

/**
 * A node's BTC/kvB rate (`estimatesmartfee`'s `feerate` on Core, `fee` on bcoin, a JSON number like 0.00001234)
 * in sat/kvB, read from its decimal form (see `scaledDecimal`), rounded up past 8 decimals.
 *
 * @example
 * feeRateFromBtcPerKvB(0.00001234) // 1234n
 */
export function feeRateFromBtcPerKvB(btcPerKvB: number): FeeRate {
  return scaledDecimal(btcPerKvB, 8, 'ceil')
}

/** `numerator / denominator` rounded up, for non-negative bigints. */
export function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator
}

/**
 * The fee of `vsize` virtual bytes at `rate`, in satoshis, rounded up (never below the rate).
 *
 * @example
 * feeFor(2000n, 141) // 282n
 * feeFor(1234n, 141) // 174n (173.994 rounded up)
 */
export function feeFor(rate: FeeRate, vsize: number): bigint {
  return ceilDiv(rate * BigInt(vsize), 1000n)
}

/**
 * What `estimatesmartfee <blocks>` says in sat/kvB, or `undefined` when the node has no estimate: Core answers
 * `{ errors }` without `feerate` until it has seen enough blocks, bcoin `{ fee: -1 }`, and a node that has fee
 * estimation switched off refuses the call. Transport failures are thrown (retryable).
 */
export async function estimateFeeRate(
  rpc: BitcoinRpc,
  blocks: number,
  signal?: AbortSignal,
): Promise<FeeRate | undefined> {
  let answer: { feerate?: number; fee?: number }
  try {
    answer = await rpc.call('estimatesmartfee', [blocks], signal)
  } catch (err) {
    // the node answered that it cannot estimate (method missing, estimation disabled): no estimate
    if (rpcErrorCode(err) !== undefined) return undefined
    throw err
  }
  const rate = answer?.feerate ?? answer?.fee
  if (typeof rate !== 'number' || !(rate > 0)) return undefined
  return feeRateFromBtcPerKvB(rate)
}

/** How the payout builder picks its fee rate (all sat/kvB). */
export type FeePolicy = {
  /** Used when the node has no estimate. */
  fallback: FeeRate
  /** Above this, building refuses (`FEE_TOO_HIGH`, retryable: the network may calm down). */
  max: FeeRate
  /** Never below this: the relay floor, also BIP125's incremental relay fee for replacements. */
  minRelay: FeeRate
}

/**
 * The rate to build with: the node's estimate (or the fallback), raised to the relay floor, times
 * `bumpPercent` / 100 (a replacement's bump), rounded up. Above `policy.max` it throws `FEE_TOO_HIGH`.
 *
 * @example
 * chooseFeeRate(undefined, { fallback: 2000n, max: 100_000n, minRelay: 1000n }) // 2000n
 * chooseFeeRate(4000n, { fallback: 2000n, max: 100_000n, minRelay: 1000n }, 125) // 5000n
 */
export function chooseFeeRate(estimate: FeeRate | undefined, policy: FeePolicy, bumpPercent = 100): FeeRate {
  if (!Number.isInteger(bumpPercent) || bumpPercent < 100)
    throw new DriverError('BAD_REQUEST', `feeBumpPercent must be an integer ≥ 100, got ${bumpPercent}`, {
      retryable: false,
    })
  let rate = estimate ?? policy.fallback
  if (rate < policy.minRelay) rate = policy.minRelay
  rate = ceilDiv(rate * BigInt(bumpPercent), 100n)
  if (rate > policy.max)
    throw new DriverError(
      'FEE_TOO_HIGH',
      `fee rate ${formatRate(rate)} sat/vB is above the configured maximum ${formatRate(policy.max)} sat/vB`,
      { retryable: true },
    )
  return rate
}

/**
 * A sat/kvB rate as a sat/vB decimal string, for messages.
 *
 * @example
 * formatRate(1500n) // '1.5'
 */
export function formatRate(rate: FeeRate): string {
  const whole = rate / 1000n
  const fraction = (rate % 1000n).toString().padStart(3, '0').replace(/0+$/, '')
  return fraction ? `${whole}.${fraction}` : `${whole}`
}
