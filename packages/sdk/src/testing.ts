/**
 * Test helpers for plugin authors: a signer over a well-known test mnemonic, so a plugin's tests (the
 * conformance suite's `signer`, a stand-in node's funding keys) need no key library of their own.
 *
 * Never use it for real funds: the default mnemonic is public, and the keys live in memory unprotected.
 */
import { mnemonicToSeedSync, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { DriverError, isDriverError } from './errors.ts'
import { createHdSigner } from './hd-signer.ts'
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
  return createHdSigner(mnemonicToSeedSync(phrase), {
    noKey: (kind, path) => new DriverError('NO_KEY', `no ${kind} key at ${path}`, { retryable: false }),
    badDigest: (length) =>
      new DriverError('BAD_DIGEST', `a digest is 32 bytes, got ${length}`, { retryable: false }),
  })
}

/**
 * The `DriverError` a promise rejects with, for a plugin's tests: it throws when the promise resolves or rejects
 * with anything else, so a test of an error path cannot pass by accident.
 *
 * @example
 * const err = await driverRejection(driver.getBlockRef(10n ** 9n))
 * expect(err).toMatchObject({ code: 'BLOCK_NOT_FOUND', retryable: true })
 */
export async function driverRejection(promise: Promise<unknown>): Promise<DriverError> {
  try {
    await promise
  } catch (err) {
    if (isDriverError(err)) return err
    throw err
  }
  throw new Error('expected a DriverError, but the promise resolved')
}
