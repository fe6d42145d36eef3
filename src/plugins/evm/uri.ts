import type { AssetInfo } from '@tollgate/sdk'

/**
 * EIP-681 payment request: `ethereum:<to>@<chainId>?value=<wei>` for the native coin, and
 * `ethereum:<token>@<chainId>/transfer?address=<to>&uint256=<units>` for an ERC-20.
 */
export function evmPaymentUri(
  chainId: number,
  a: { address: string; asset: AssetInfo; amount: bigint },
): string {
  if (a.asset.native) return `ethereum:${a.address}@${chainId}?value=${a.amount}`
  return `ethereum:${a.asset.contract}@${chainId}/transfer?address=${a.address}&uint256=${a.amount}`
}
