import { DriverError } from '@tollgate/sdk'
import type { TronClient } from './http.ts'
import { ceilDiv } from './numbers.ts'
import type { TronOptions } from './options.ts'
import type { TronChainParameters } from './resources.ts'

/** What the payout functions share: the node client, the options and the timestamp clock. */
export type TronPayoutContext = {
  client: TronClient
  options: TronOptions
  /** Strictly increasing ms for `raw_data.timestamp`. */
  clock: () => number
}

/** The energy margin as a per-mille integer, so fee math stays in bigints (1.2 → 1200n). */
export const marginPermille = (options: Pick<TronOptions, 'energyMargin'>): bigint =>
  BigInt(Math.round(options.energyMargin * 1000))

/** `ceil(energy × margin)`. */
export const withMargin = (options: Pick<TronOptions, 'energyMargin'>, energy: bigint): bigint =>
  ceilDiv(energy * marginPermille(options), 1000n)

/** sun per energy unit: the configured `energyPrice`, else the network's `getEnergyFee`. */
export const energyPriceOf = (
  options: Pick<TronOptions, 'energyPrice'>,
  params: TronChainParameters,
): bigint => options.energyPrice ?? params.energyFee

/**
 * The `fee_limit` of a contract call using `energy`: `ceil(energy × price × margin)`. Above `maxFeeLimit` it
 * throws `FEE_TOO_HIGH`, retryable (the network's energy price may fall).
 *
 * @example
 * feeLimitFor(options, params, 29_650n) // 7_471_800n at 210 sun/energy and margin 1.2
 */
export function feeLimitFor(
  options: Pick<TronOptions, 'energyMargin' | 'energyPrice' | 'maxFeeLimit'>,
  params: TronChainParameters,
  energy: bigint,
): bigint {
  const feeLimit = ceilDiv(energy * energyPriceOf(options, params) * marginPermille(options), 1000n)
  if (feeLimit > options.maxFeeLimit)
    throw new DriverError(
      'FEE_TOO_HIGH',
      `fee_limit ${feeLimit} sun (${energy} energy) is above the configured maxFeeLimit ${options.maxFeeLimit}`,
      { retryable: true },
    )
  return feeLimit
}
