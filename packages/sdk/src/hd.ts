import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { HDKey } from '@scure/bip32'
import { DriverError } from './errors.ts'

const branches = new Map<string, HDKey>()

/**
 * The public key at `branch/index` below an account xpub (branch 0 receives, 1 is change), parsing each
 * account's branch once: watch-only derivation for drivers whose xpubs are standard BIP32 ones.
 *
 * @example
 * childPublicKey(xpub, 0, 7) // 33-byte compressed key of …/0/7
 */
export function childPublicKey(xpub: string, branch: 0 | 1, index: number): Uint8Array {
  const key = `${branch}:${xpub}`
  let node = branches.get(key)
  if (!node) {
    node = HDKey.fromExtendedKey(xpub).deriveChild(branch)
    branches.set(key, node)
  }
  const child = node.deriveChild(index)
  if (!child.publicKey)
    throw new DriverError('DERIVATION_FAILED', 'xpub derivation produced no public key', { retryable: false })
  return child.publicKey
}

/**
 * The 20-byte account id EVM chains and Tron share: the last 20 bytes of keccak-256 of the uncompressed public
 * key (without its 0x04 prefix).
 *
 * @example
 * keccakAccountId(publicKey) // Uint8Array(20)
 */
export function keccakAccountId(publicKey: Uint8Array): Uint8Array {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false)
  return keccak_256(uncompressed.subarray(1)).subarray(12)
}
