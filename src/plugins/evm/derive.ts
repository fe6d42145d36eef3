import { childPublicKey, keccakAccountId } from '@tollgate/sdk/hd'
import { getAddress } from 'viem'

/** Ethereum address of a secp256k1 public key (compressed or not), EIP-55 checksummed. */
export function publicKeyToEvmAddress(publicKey: Uint8Array): `0x${string}` {
  return getAddress(`0x${Buffer.from(keccakAccountId(publicKey)).toString('hex')}`)
}

/** Derives `accountPath/0/index` from an account xpub: watch-only, no private key involved. */
export function deriveEvmAddress(xpub: string, accountPath: string, index: number) {
  return { address: publicKeyToEvmAddress(childPublicKey(xpub, 0, index)), path: `${accountPath}/0/${index}` }
}
