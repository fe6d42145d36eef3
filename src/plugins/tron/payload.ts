import { DriverError, type UnsignedTx } from '@tollgate/sdk'
import { tronBase58ToHex, tronHexToBase58 } from './address.ts'
import type { TronContractType } from './proto.ts'
import type { TronRawTransaction } from './transaction.ts'

/**
 * What the core stores for a built Tron transaction (JSON-safe: amounts as decimal strings). `raw_data_hex` is
 * what gets signed and sent; the other fields describe it for people and for a replacement's checks.
 */
export type TronPayload = {
  type: TronContractType
  /** sha256 of `raw_data_hex`, hex: the hash the chain knows the transaction by. */
  txID: string
  raw_data_hex: string
  /** The sender (base58); its key signs. */
  owner: string
  /** Recipient of TRX or tokens, or receiver of a delegation (base58). */
  to: string
  /** sun for TRX and delegations, base units for a token. */
  amount: string
  /** The TRC-20 contract (base58) of a token transfer. */
  contract?: string
  /** The delegated resource of a (un)delegation. */
  resource?: 'ENERGY' | 'BANDWIDTH'
  /** sun; `0` except for contract calls. */
  fee_limit: string
  /** Unix ms after which the network refuses the transaction. */
  expiration: string
  ref_block: string
}

/** The UnsignedTx of a built transaction. */
export function unsignedTx(
  tx: TronRawTransaction,
  fields: Omit<TronPayload, 'txID' | 'raw_data_hex' | 'expiration'>,
  costs: { maxFee: bigint; amount?: bigint },
): UnsignedTx {
  const payload: TronPayload = {
    ...fields,
    txID: tx.txID,
    raw_data_hex: tx.rawHex,
    expiration: String(tx.expiration),
  }
  return {
    payload,
    maxFee: costs.maxFee,
    ...(costs.amount !== undefined ? { amounts: [costs.amount] } : {}),
  }
}

/**
 * An address as the driver uses it inside transactions: `41…` lowercase hex; base58 and hex are accepted.
 * Throws a non-retryable `INVALID_ADDRESS` otherwise.
 */
export function hex41(address: string): string {
  if (/^(0x)?41[0-9a-fA-F]{40}$/.test(address)) return address.replace(/^0x/, '').toLowerCase()
  const hex = tronBase58ToHex(address)
  if (!hex) throw new DriverError('INVALID_ADDRESS', `not a Tron address: ${address}`, { retryable: false })
  return hex
}

/** The base58 form of an address given in either form. */
export const base58 = (address: string): string => tronHexToBase58(hex41(address))
