import { describe, expect, test } from 'bun:test'
import { HDKey } from '@scure/bip32'
import { mnemonicToSeedSync } from '@scure/bip39'
import { isDriverError } from '@tollgate/sdk'
import { createSigner } from '../../core/payouts/signer.ts'
import { bitcoinAddressKey, validateBitcoinAddress } from './address.ts'
import {
  bip84AccountPath,
  deriveChangeAddress,
  deriveReceiveAddress,
  p2wpkhAddress,
  parseAccountKey,
} from './derive.ts'
import { bitcoinNetworks, extendedKeyVersion } from './networks.ts'

const { mainnet, testnet, regtest } = bitcoinNetworks
const mnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
/** BIP84 test vectors: account 0 of the mnemonic above. */
const zpub =
  'zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs'
const mainPath = "m/84'/0'/0'"
const testPath = "m/84'/1'/0'"

/** The account key of `path` serialized with `version` bytes (xpub, tpub, vpub, ypub…). */
function accountKey(path: string, version: number, priv = false): string {
  const root = HDKey.fromMasterSeed(mnemonicToSeedSync(mnemonic), { public: version, private: 0x04358394 })
  const node = root.derive(path)
  return priv ? node.privateExtendedKey : node.publicExtendedKey
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  expect.unreachable('expected a throw')
}

describe('BIP84 derivation (official test vectors)', () => {
  test('default: zpub gives the first and second receive addresses and the first change address', () => {
    expect(deriveReceiveAddress(zpub, mainPath, mainnet, 0)).toEqual({
      address: 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu',
      path: "m/84'/0'/0'/0/0",
    })
    expect(deriveReceiveAddress(zpub, mainPath, mainnet, 1)).toEqual({
      address: 'bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g',
      path: "m/84'/0'/0'/0/1",
    })
    expect(deriveChangeAddress(zpub, mainPath, mainnet, 0)).toEqual({
      address: 'bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el',
      path: "m/84'/0'/0'/1/0",
    })
    // the BIP's change public key hashes to that address
    const changeKey = Buffer.from('03025324888e429ab8e3dbaf1f7802648b9cd01e9b418485c5fa4c1b9b5700e1a6', 'hex')
    expect(p2wpkhAddress(changeKey, mainnet)).toBe('bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el')
    // a look-alike with the same first characters is not even a valid bech32 string
    expect(validateBitcoinAddress('bc1q8c6fshw2keyzs9kqwm3xd7ma4xdz9rr4uzyqd3', mainnet)).toEqual({
      ok: false,
      reason: 'bad bech32 checksum',
    })
  })

  test("args: the gateway signer's xpub of m/84'/0'/0' (xpub version bytes) derives the same addresses", () => {
    const xpub = createSigner(mnemonic).xpub(bip84AccountPath(mainnet))
    expect(xpub.startsWith('xpub')).toBe(true)
    expect(xpub).toBe(accountKey(mainPath, extendedKeyVersion.xpub))
    for (const i of [0, 1, 7])
      expect(deriveReceiveAddress(xpub, mainPath, mainnet, i)).toEqual(
        deriveReceiveAddress(zpub, mainPath, mainnet, i),
      )
    expect(deriveChangeAddress(xpub, mainPath, mainnet, 0).address).toBe(
      'bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el',
    )
  })

  test("behavior: test networks use m/84'/1'/0': tpub, vpub and the signer's xpub agree; testnet tb1, regtest bcrt1", () => {
    expect(bip84AccountPath(testnet)).toBe(testPath)
    expect(bip84AccountPath(regtest, 5)).toBe("m/84'/1'/5'")
    const tpub = accountKey(testPath, extendedKeyVersion.tpub)
    const vpub = accountKey(testPath, extendedKeyVersion.vpub)
    const xpub = createSigner(mnemonic).xpub(testPath)
    expect(tpub.startsWith('tpub')).toBe(true)
    expect(vpub.startsWith('vpub')).toBe(true)
    const first = deriveReceiveAddress(tpub, testPath, testnet, 0)
    // the BIP84 testnet vector of this mnemonic
    expect(first).toEqual({ address: 'tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl', path: "m/84'/1'/0'/0/0" })
    expect(deriveReceiveAddress(vpub, testPath, testnet, 0)).toEqual(first)
    expect(deriveReceiveAddress(xpub, testPath, testnet, 0)).toEqual(first)
    const onRegtest = deriveReceiveAddress(xpub, testPath, regtest, 0)
    expect(onRegtest.address.startsWith('bcrt1q')).toBe(true)
    // same witness program, other hrp
    expect(bitcoinAddressKey(onRegtest.address, regtest)).toBe(bitcoinAddressKey(first.address, testnet))
    expect(deriveReceiveAddress(tpub, testPath, regtest, 0)).toEqual(onRegtest)
  })

  test('error: refused keys: tpub/vpub on mainnet, zpub on testnet, BIP49 ypub, private keys, wrong depth, garbage', () => {
    const cases: Array<[string, string, typeof mainnet, RegExp]> = [
      [
        'tpub on mainnet',
        accountKey(testPath, extendedKeyVersion.tpub),
        mainnet,
        /tpub key is not accepted on mainnet/,
      ],
      ['vpub on mainnet', accountKey(testPath, extendedKeyVersion.vpub), mainnet, /vpub key is not accepted/],
      ['zpub on testnet', zpub, testnet, /zpub key is not accepted on testnet/],
      ['ypub', accountKey(mainPath, extendedKeyVersion.ypub), mainnet, /ypub key is not accepted/],
      ['xprv', accountKey(mainPath, extendedKeyVersion.xpub, true), mainnet, /not an extended public key/],
      ['master xpub (depth 0)', accountKey('m', extendedKeyVersion.xpub), mainnet, /depth 3.*got depth 0/],
      [
        'change-level xpub (depth 4)',
        accountKey(`${mainPath}/0`, extendedKeyVersion.xpub),
        mainnet,
        /depth 4/,
      ],
      ['garbage', 'xpub-not-a-key', mainnet, /not an extended public key/],
      ['bad checksum', `${zpub.slice(0, -1)}t`, mainnet, /not an extended public key/],
    ]
    for (const [label, key, net, message] of cases) {
      const err = thrown(() => parseAccountKey(key, net))
      expect(isDriverError(err), label).toBe(true)
      expect(err, label).toMatchObject({ code: 'BAD_XPUB', retryable: false })
      expect((err as Error).message, label).toMatch(message)
    }
  })

  test('error: an index outside 0..2^31-1 is BAD_INDEX', () => {
    for (const index of [-1, 0x80000000, 1.5])
      expect(thrown(() => deriveReceiveAddress(zpub, mainPath, mainnet, index))).toMatchObject({
        code: 'BAD_INDEX',
      })
    expect(deriveReceiveAddress(zpub, mainPath, mainnet, 0x7fffffff).path).toBe("m/84'/0'/0'/0/2147483647")
  })

  test('error: a public key that is not 33 bytes (uncompressed, truncated) is a non-retryable INVALID_PUBLIC_KEY', () => {
    const key = HDKey.fromExtendedKey(accountKey(mainPath, extendedKeyVersion.xpub)).deriveChild(0).publicKey!
    expect(p2wpkhAddress(key, mainnet)).toMatch(/^bc1q/)
    for (const bad of [new Uint8Array(65).fill(4), key.subarray(0, 32)]) {
      const err = thrown(() => p2wpkhAddress(bad, mainnet))
      expect(isDriverError(err), `${bad.length} bytes`).toBe(true)
      expect(err).toMatchObject({ code: 'INVALID_PUBLIC_KEY', retryable: false })
    }
  })
})
