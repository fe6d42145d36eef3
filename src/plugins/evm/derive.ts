import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { HDKey } from '@scure/bip32'
import { getAddress } from 'viem'

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

/** Ethereum address of a secp256k1 public key (compressed or not), EIP-55 checksummed. */
export function publicKeyToEvmAddress(publicKey: Uint8Array): `0x${string}` {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false)
  const hash = keccak_256(uncompressed.subarray(1))
  return getAddress(`0x${Buffer.from(hash.subarray(12)).toString('hex')}`)
}

/** Derives `accountPath/0/index` from an account xpub: watch-only, no private key involved. */
export function deriveEvmAddress(xpub: string, accountPath: string, index: number) {
  const child = receiveBranch(xpub).deriveChild(index)
  if (!child.publicKey) throw new Error('xpub derivation produced no public key')
  return { address: publicKeyToEvmAddress(child.publicKey), path: `${accountPath}/0/${index}` }
}
