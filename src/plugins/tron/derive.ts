import type { DerivedAddress } from '@tollgate/sdk'
import { childPublicKey, keccakAccountId } from '@tollgate/sdk/hd'
import { tronHexToBase58 } from './address.ts'

/**
 * Tron address of a secp256k1 public key (compressed or not): `0x41` + the last 20 bytes of keccak-256 of the
 * uncompressed key without its `04` byte, in base58check.
 */
export function publicKeyToTronAddress(publicKey: Uint8Array): string {
  return tronHexToBase58(`41${Buffer.from(keccakAccountId(publicKey)).toString('hex')}`)
}

/**
 * Derives `accountPath/0/index` (BIP44 coin type 195: `m/44'/195'/account'/0/index`) from the account xpub;
 * watch-only.
 */
export function deriveTronAddress(xpub: string, accountPath: string, index: number): DerivedAddress {
  return {
    address: publicKeyToTronAddress(childPublicKey(xpub, 0, index)),
    path: `${accountPath}/0/${index}`,
  }
}
