/**
 * Test helpers for plugin authors: a signer over a well-known test mnemonic, so a plugin's tests (the
 * conformance suite's `signer`, a stand-in node's funding keys) need no key library of their own.
 *
 * Never use it for real funds: the default mnemonic is public, and the keys live in memory unprotected.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { HDKey } from '@scure/bip32'
import { mnemonicToSeedSync, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { DriverError } from './errors.ts'
import type { DigestSigner } from './types.ts'

/** The mnemonic of Hardhat's and anvil's test accounts (BIP39 test vector): public, for tests only. */
export const TEST_MNEMONIC = 'test test test test test test test test test test test junk'

/**
 * What the gateway's signer offers a driver (`DigestSigner`) plus the account xpubs it derives deposit
 * addresses from: the shape the conformance suite's `signer` takes.
 */
export type TestSigner = DigestSigner & {
  /** The extended public key of a hardened account path (e.g. the driver's `accountPath`). */
  xpub(accountPath: string): string
}

/**
 * An HD signer (BIP39 mnemonic → BIP32 keys → secp256k1) that signs exactly as the gateway's signer does: a
 * recoverable signature of a 32-byte digest, 64 bytes r‖s plus the recovery bit, by derivation path.
 *
 * @example
 * import { createTestSigner } from '@tollgate/sdk/testing'
 * const signer = createTestSigner()
 * signer.xpub("m/44'/60'/0'") // 'xpub6…'
 * signer.signDigest("m/44'/60'/0'/0/0", digest) // { signature: Uint8Array(64), recovery: 0 | 1 }
 */
export function createTestSigner(mnemonic: string = TEST_MNEMONIC): TestSigner {
  const phrase = mnemonic.trim().split(/\s+/).join(' ').normalize('NFKD')
  if (!validateMnemonic(phrase, wordlist))
    throw new DriverError('BAD_MNEMONIC', 'createTestSigner: not a valid English BIP39 mnemonic', {
      retryable: false,
    })
  const root = HDKey.fromMasterSeed(mnemonicToSeedSync(phrase))
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
      if (!key) throw new DriverError('NO_KEY', `no public key at ${path}`, { retryable: false })
      return key
    },
    signDigest: (path, digest) => {
      if (digest.length !== 32)
        throw new DriverError('BAD_DIGEST', `a digest is 32 bytes, got ${digest.length}`, {
          retryable: false,
        })
      const key = node(path).privateKey
      if (!key) throw new DriverError('NO_KEY', `no private key at ${path}`, { retryable: false })
      const sig = secp256k1.sign(digest, key, { prehash: false, format: 'recovered' })
      // noble's recovered format is the recovery byte first, then r‖s
      return { signature: sig.subarray(1), recovery: sig[0] as number }
    },
  }
}
