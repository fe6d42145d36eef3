import { secp256k1 } from '@noble/curves/secp256k1.js'
import { HDKey } from '@scure/bip32'

/** Signs digests by derivation path from one seed, and derives account xpubs and public keys. */
export type HdSigner = {
  /** The extended public key of a hardened account path. */
  xpub(accountPath: string): string
  /** The compressed public key at a path. */
  publicKey(path: string): Uint8Array
  /** A recoverable secp256k1 signature of a 32-byte digest: 64 bytes r‖s plus the recovery bit. */
  signDigest(path: string, digest: Uint8Array): { signature: Uint8Array; recovery: number }
}

/** The errors a caller raises in its own terms: no key at a path, a digest of the wrong length. */
export type HdSignerErrors = {
  noKey(kind: 'public' | 'private', path: string): Error
  badDigest(length: number): Error
}

/**
 * BIP32 keys from a BIP39 seed, each path derived once, signing as the gateway's signer does (the same code
 * serves the gateway and `createTestSigner`). Private keys never leave it.
 *
 * @example
 * const signer = createHdSigner(mnemonicToSeedSync(phrase), errors)
 * signer.signDigest("m/44'/60'/0'/0/0", digest) // { signature: Uint8Array(64), recovery: 0 | 1 }
 */
export function createHdSigner(seed: Uint8Array, errors: HdSignerErrors): HdSigner {
  const root = HDKey.fromMasterSeed(seed)
  const nodes = new Map<string, HDKey>()
  const node = (path: string) => {
    let n = nodes.get(path)
    if (!n) {
      n = root.derive(path)
      nodes.set(path, n)
    }
    return n
  }
  return {
    xpub: (accountPath) => node(accountPath).publicExtendedKey,
    publicKey: (path) => {
      const key = node(path).publicKey
      if (!key) throw errors.noKey('public', path)
      return key
    },
    signDigest: (path, digest) => {
      if (digest.length !== 32) throw errors.badDigest(digest.length)
      const key = node(path).privateKey
      if (!key) throw errors.noKey('private', path)
      const sig = secp256k1.sign(digest, key, { prehash: false, format: 'recovered' })
      // noble's recovered format is the recovery byte first, then r‖s
      return { signature: sig.subarray(1), recovery: sig[0] as number }
    },
  }
}
