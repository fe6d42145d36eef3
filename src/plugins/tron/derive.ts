import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { HDKey } from '@scure/bip32'
import type { DerivedAddress } from '../sdk/index.ts'
import { tronHexToBase58 } from './address.ts'

const receiveBranches = new Map<string, HDKey>()

/** The external (receive) branch `/0` of an account xpub, parsed once per xpub. */
function receiveBranch(xpub: string): HDKey {
  let branch = receiveBranches.get(xpub)
  if (!branch) {
    branch = HDKey.fromExtendedKey(xpub).deriveChild(0)
    receiveBranches.set(xpub, branch)
  }
  return branch
}

/**
 * Tron address of a secp256k1 public key (compressed or not): `0x41` + the last 20 bytes of keccak-256 of the
 * uncompressed key without its `04` byte, in base58check.
 */
export function publicKeyToTronAddress(publicKey: Uint8Array): string {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false)
  const hash = keccak_256(uncompressed.subarray(1))
  return tronHexToBase58(`41${Buffer.from(hash.subarray(12)).toString('hex')}`)
}

/**
 * Derives `accountPath/0/index` (BIP44 coin type 195: `m/44'/195'/account'/0/index`) from the account xpub;
 * watch-only.
 */
export function deriveTronAddress(xpub: string, accountPath: string, index: number): DerivedAddress {
  const child = receiveBranch(xpub).deriveChild(index)
  if (!child.publicKey) throw new Error('xpub derivation produced no public key')
  return { address: publicKeyToTronAddress(child.publicKey), path: `${accountPath}/0/${index}` }
}
