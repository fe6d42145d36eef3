import { describe, expect, test } from 'bun:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { bytesToHex, keccak256, recoverAddress, recoverPublicKey, toBytes, toHex } from 'viem'
import { deriveEvmAddress, publicKeyToEvmAddress } from '../../plugins/evm/derive.ts'
import { createSigner, isValidMnemonic, newMnemonic, xpubSource } from './signer.ts'

const abandonMnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const anvilMnemonic = 'test test test test test test test test test test test junk'
const account0 = "m/44'/60'/0'"

const anvilAccounts = [
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
]

const addressAt = (mnemonic: string, path: string) =>
  publicKeyToEvmAddress(createSigner(mnemonic).publicKey(path))

describe('createSigner', () => {
  test("default: the xpub of m/44'/60'/0' derives, watch-only, the signer's own addresses", () => {
    const signer = createSigner(abandonMnemonic)
    const xpub = signer.xpub(account0)
    expect(xpub).toMatch(/^xpub[1-9A-HJ-NP-Za-km-z]{107}$/)
    for (let i = 0; i < 10; i++) {
      const watchOnly = deriveEvmAddress(xpub, account0, i)
      expect(watchOnly.path).toBe(`${account0}/0/${i}`)
      expect(watchOnly.address).toBe(publicKeyToEvmAddress(signer.publicKey(`${account0}/0/${i}`)))
    }
  })

  test("behavior: m/44'/60'/0'/0/0 of the abandon…about mnemonic is the published address", () => {
    expect(addressAt(abandonMnemonic, `${account0}/0/0`)).toBe('0x9858EfFD232B4033E47d90003D41EC34EcaEda94')
    expect(deriveEvmAddress(createSigner(abandonMnemonic).xpub(account0), account0, 0).address).toBe(
      '0x9858EfFD232B4033E47d90003D41EC34EcaEda94',
    )
  })

  test("behavior: indexes 0..2 of anvil's test…junk mnemonic are anvil's first three accounts", () => {
    const signer = createSigner(anvilMnemonic)
    const xpub = signer.xpub(account0)
    for (const [i, expected] of anvilAccounts.entries()) {
      expect(publicKeyToEvmAddress(signer.publicKey(`${account0}/0/${i}`))).toBe(expected as `0x${string}`)
      expect(deriveEvmAddress(xpub, account0, i).address).toBe(expected as `0x${string}`)
    }
  })

  test('behavior: other accounts have other xpubs and addresses', () => {
    const signer = createSigner(anvilMnemonic)
    const other = "m/44'/60'/3'"
    expect(signer.xpub(other)).not.toBe(signer.xpub(account0))
    const address = deriveEvmAddress(signer.xpub(other), other, 0).address
    expect(address).toBe(publicKeyToEvmAddress(signer.publicKey(`${other}/0/0`)))
    expect(anvilAccounts).not.toContain(address)
  })

  test('behavior: publicKey is the compressed 33-byte key', () => {
    const key = createSigner(anvilMnemonic).publicKey(`${account0}/0/0`)
    expect(key).toHaveLength(33)
    expect([2, 3]).toContain(key[0]!)
  })

  test('args: extra whitespace around and between the words is ignored', () => {
    const messy = `  ${anvilMnemonic.split(' ').join('   ')}\n`
    expect(isValidMnemonic(messy)).toBe(true)
    expect(addressAt(messy, `${account0}/0/0`)).toBe(anvilAccounts[0] as `0x${string}`)
  })
})

describe('signDigest', () => {
  test('default: the signature recovers (viem) to the address at the signing path', async () => {
    const signer = createSigner(anvilMnemonic)
    for (const i of [0, 1, 2]) {
      const path = `${account0}/0/${i}`
      const hash = keccak256(toBytes(`tollgate withdrawal #${i}`))
      const { signature, recovery } = signer.signDigest(path, toBytes(hash))
      expect(signature).toHaveLength(64)
      expect([0, 1]).toContain(recovery)
      const sig = {
        r: bytesToHex(signature.subarray(0, 32)),
        s: bytesToHex(signature.subarray(32)),
        yParity: recovery,
      }
      expect(await recoverAddress({ hash, signature: sig })).toBe(anvilAccounts[i] as `0x${string}`)
      const recoveredKey = await recoverPublicKey({ hash, signature: sig })
      expect(publicKeyToEvmAddress(toBytes(recoveredKey))).toBe(anvilAccounts[i] as `0x${string}`)
    }
  })

  test('behavior: @noble/curves recovers the same public key, and the signature is low-s and verifies', () => {
    const signer = createSigner(abandonMnemonic)
    const path = `${account0}/0/7`
    const digest = toBytes(keccak256(toBytes('payload')))
    const { signature, recovery } = signer.signDigest(path, digest)
    const sig = secp256k1.Signature.fromBytes(signature, 'compact').addRecoveryBit(recovery)
    expect(sig.hasHighS()).toBe(false)
    expect(toHex(sig.recoverPublicKey(digest).toBytes(true))).toBe(toHex(signer.publicKey(path)))
    expect(secp256k1.verify(signature, digest, signer.publicKey(path), { prehash: false })).toBe(true)
  })

  test('behavior: signing is deterministic (RFC 6979) and depends on the path and the digest', () => {
    const signer = createSigner(anvilMnemonic)
    const digest = new Uint8Array(32).fill(7)
    const a = signer.signDigest(`${account0}/0/0`, digest)
    const b = signer.signDigest(`${account0}/0/0`, digest)
    expect(toHex(a.signature)).toBe(toHex(b.signature))
    expect(toHex(signer.signDigest(`${account0}/0/1`, digest).signature)).not.toBe(toHex(a.signature))
    expect(toHex(signer.signDigest(`${account0}/0/0`, new Uint8Array(32).fill(8)).signature)).not.toBe(
      toHex(a.signature),
    )
  })

  test('error: a digest that is not 32 bytes is refused', () => {
    const signer = createSigner(anvilMnemonic)
    expect(() => signer.signDigest(`${account0}/0/0`, new Uint8Array(31))).toThrow(/32 bytes/)
    expect(() => signer.signDigest(`${account0}/0/0`, new Uint8Array(33))).toThrow(/32 bytes/)
  })
})

describe('mnemonics', () => {
  const invalid: Array<[label: string, phrase: string]> = [
    [
      'bad checksum',
      'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon',
    ],
    [
      'unknown word',
      'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon tollgate',
    ],
    ['11 words', 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'],
    ['empty', ''],
    ['hex seed', '0x000102030405060708090a0b0c0d0e0f'],
  ]
  for (const [label, phrase] of invalid) {
    test(`error: an invalid mnemonic (${label}) is refused without echoing it`, () => {
      expect(isValidMnemonic(phrase)).toBe(false)
      let message = ''
      try {
        createSigner(phrase)
      } catch (err) {
        message = (err as Error).message
      }
      expect(message).toMatch(/not a valid BIP39 mnemonic/)
      if (phrase) expect(message).not.toContain(phrase)
    })
  }

  test('default: newMnemonic gives a valid 24-word English phrase, fresh each time', () => {
    const a = newMnemonic()
    const words = a.split(' ')
    expect(words).toHaveLength(24)
    for (const w of words) expect(wordlist).toContain(w)
    expect(isValidMnemonic(a)).toBe(true)
    expect(() => createSigner(a)).not.toThrow()
    expect(newMnemonic()).not.toBe(a)
  })
})

describe('xpubSource', () => {
  const signer = createSigner(anvilMnemonic)
  const configured = createSigner(abandonMnemonic).xpub(account0)

  test('default: a configured xpub is preferred over the signer', () => {
    const xpubFor = xpubSource({ xpubs: { [account0]: configured }, signer })
    expect(xpubFor(account0)).toBe(configured)
  })

  test('behavior: an account without a configured xpub falls back to the signer', () => {
    const xpubFor = xpubSource({ xpubs: { [account0]: configured }, signer })
    expect(xpubFor("m/44'/60'/1'")).toBe(signer.xpub("m/44'/60'/1'"))
    expect(xpubSource({ signer })(account0)).toBe(signer.xpub(account0))
  })

  test('behavior: watch-only (xpubs, no signer) works for configured accounts', () => {
    expect(xpubSource({ xpubs: { [account0]: configured } })(account0)).toBe(configured)
  })

  test('error: neither an xpub nor a signer names the account and how to fix it', () => {
    expect(() => xpubSource({})(account0)).toThrow(
      /no xpub configured for account m\/44'\/60'\/0'.*TOLLGATE_XPUBS/,
    )
    expect(() => xpubSource({ xpubs: { [account0]: configured } })("m/44'/60'/2'")).toThrow(
      /account m\/44'\/60'\/2'/,
    )
  })
})
