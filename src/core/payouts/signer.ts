import { secp256k1 } from '@noble/curves/secp256k1.js'
import { HDKey } from '@scure/bip32'
import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { invariantBroken } from '../errors.ts'
import { keyUnavailable } from './errors.ts'

/**
 * Holds the seed and signs digests by derivation path. It is the only code that sees private keys; it never
 * returns one.
 */
export type Signer = {
  /** The extended public key of a hardened account path, for watch-only derivation elsewhere. */
  xpub(accountPath: string): string
  /** A recoverable secp256k1 signature of a 32-byte digest: 64 bytes r||s plus the recovery bit. */
  signDigest(path: string, digest: Uint8Array): { signature: Uint8Array; recovery: number }
  /** The compressed public key at a path. */
  publicKey(path: string): Uint8Array
}

/** True when `phrase` is a valid English BIP39 mnemonic. */
export function isValidMnemonic(phrase: string): boolean {
  return validateMnemonic(normalizeMnemonic(phrase), wordlist)
}

/**
 * A fresh 24-word BIP39 mnemonic.
 *
 * @example
 * newMnemonic().split(' ').length // 24
 */
export function newMnemonic(): string {
  return generateMnemonic(wordlist, 256)
}

function normalizeMnemonic(phrase: string): string {
  return phrase.trim().split(/\s+/).join(' ').normalize('NFKD')
}

/**
 * Makes a signer from a BIP39 mnemonic.
 *
 * @example
 * const signer = createSigner(process.env.TOLLGATE_SEED!)
 * signer.xpub("m/44'/60'/0'")
 */
export function createSigner(mnemonic: string): Signer {
  const phrase = normalizeMnemonic(mnemonic)
  if (!validateMnemonic(phrase, wordlist)) throw keyUnavailable('the seed is not a valid BIP39 mnemonic')
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
      if (!key) throw keyUnavailable(`no public key at ${path}`)
      return key
    },
    signDigest: (path, digest) => {
      if (digest.length !== 32) throw invariantBroken('BAD_DIGEST', 'a digest is 32 bytes')
      const key = node(path).privateKey
      if (!key) throw keyUnavailable(`no private key at ${path}`)
      const sig = secp256k1.sign(digest, key, { prehash: false, format: 'recovered' })
      // noble's recovered format is recovery byte first, then r||s
      return { signature: sig.subarray(1), recovery: sig[0] as number }
    },
  }
}

/**
 * Where account xpubs come from: configured xpubs (watch-only, the API process) or a signer.
 *
 * @example
 * const xpubFor = xpubSource({ xpubs: { "m/44'/60'/0'": 'xpub6…' } })
 */
export function xpubSource(params: {
  xpubs?: Readonly<Record<string, string>>
  signer?: Signer
}): (accountPath: string) => string {
  return (accountPath) => {
    const configured = params.xpubs?.[accountPath]
    if (configured) return configured
    if (params.signer) return params.signer.xpub(accountPath)
    throw keyUnavailable(`no xpub configured for account ${accountPath} (set TOLLGATE_XPUBS or a seed)`)
  }
}
