import { type AssetInfo, DriverError } from '@tollgate/sdk'

/**
 * Base units as a decimal string, exactly (bigint arithmetic only), without trailing zeros.
 *
 * @example
 * formatUnits(150_000n, 8) // '0.0015'
 * formatUnits(2_100_000_000_000_000n, 8) // '21000000'
 */
export function formatUnits(amount: bigint, decimals: number): string {
  const negative = amount < 0n
  const abs = negative ? -amount : amount
  const base = 10n ** BigInt(decimals)
  const whole = abs / base
  const fraction = (abs % base).toString().padStart(decimals, '0').replace(/0+$/, '')
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}

/**
 * BIP21 payment URI: `bitcoin:<address>?amount=<BTC>`, the amount in whole BTC as an exact decimal. A zero
 * amount leaves the amount out (the payer chooses).
 *
 * @example
 * bitcoinPaymentUri({ address: 'bc1q…', asset: btc, amount: 150_000n }) // 'bitcoin:bc1q…?amount=0.0015'
 */
export function bitcoinPaymentUri(a: { address: string; asset: AssetInfo; amount: bigint }): string {
  if (a.amount < 0n)
    throw new DriverError('INVALID_AMOUNT', 'a payment amount cannot be negative', { retryable: false })
  if (a.amount === 0n) return `bitcoin:${a.address}`
  return `bitcoin:${a.address}?amount=${formatUnits(a.amount, a.asset.decimals)}`
}
