import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { createHdSigner, type HdSigner } from '@tollgate/sdk/hd-signer'
import { invariantBroken } from '../errors.ts'
import { keyUnavailable } from './errors.ts'

/**
 * Holds the seed and signs digests by derivation path. It is the only code that sees private keys; it never
 * returns one.
 */
export type Signer = HdSigner

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
  return createHdSigner(mnemonicToSeedSync(phrase), {
    noKey: (kind, path) => keyUnavailable(`no ${kind} key at ${path}`),
    badDigest: () => invariantBroken('BAD_DIGEST', 'a digest is 32 bytes'),
  })
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
