import type { AssetInfo } from '@tollgate/sdk'

/** `amount` base units as a decimal string of whole units (`1500000`, 6 → `1.5`). */
export function formatUnits(amount: bigint, decimals: number): string {
  const base = 10n ** BigInt(decimals)
  const whole = amount / base
  const frac = (amount % base).toString().padStart(decimals, '0').replace(/0+$/, '')
  return frac ? `${whole}.${frac}` : `${whole}`
}

/**
 * Tron has no payment-URI standard; this is the BIP21-like form several wallets read:
 * `tron:<base58 address>?amount=<whole units>` for TRX, and
 * `tron:<base58 address>?contract=<base58 TRC-20 contract>&amount=<whole units>` for a token. Amounts are
 * decimal whole units (as in BIP21), never base units.
 *
 * @example
 * tronPaymentUri({ address: 'TUEZ…', asset: usdt, amount: 12_500_000n }) // tron:TUEZ…?contract=TR7N…&amount=12.5
 */
export function tronPaymentUri(a: { address: string; asset: AssetInfo; amount: bigint }): string {
  const amount = formatUnits(a.amount, a.asset.decimals)
  if (a.asset.native) return `tron:${a.address}?amount=${amount}`
  return `tron:${a.address}?contract=${a.asset.contract}&amount=${amount}`
}
