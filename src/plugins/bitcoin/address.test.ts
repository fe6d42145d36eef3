import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  bitcoinAddressKey,
  decodeBitcoinAddress,
  type ScriptType,
  scriptToAddress,
  validateBitcoinAddress,
} from './address.ts'
import { type BitcoinNetworkName, bitcoinNetworks } from './networks.ts'

const { mainnet, testnet, regtest } = bitcoinNetworks
const bytes = (hex: string) => Buffer.from(hex, 'hex')

describe('validateBitcoinAddress: BIP173/BIP350 valid vectors', () => {
  // address, network, scriptPubKey (from the BIPs' test vectors), type
  const valid: Array<[string, BitcoinNetworkName, string, ScriptType]> = [
    [
      'BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4',
      'mainnet',
      '0014751e76e8199196d454941c45d1b3a323f1433bd6',
      'p2wpkh',
    ],
    [
      'tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7',
      'testnet',
      '00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262',
      'p2wsh',
    ],
    [
      'tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy',
      'testnet',
      '0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433',
      'p2wsh',
    ],
    [
      'tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c',
      'testnet',
      '5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433',
      'p2tr',
    ],
    [
      'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0',
      'mainnet',
      '512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798',
      'p2tr',
    ],
  ]
  for (const [address, network, script, type] of valid) {
    test(`default: ${address.slice(0, 14)}… is a ${network} ${type}, keyed by its scriptPubKey`, () => {
      const net = bitcoinNetworks[network]
      expect(validateBitcoinAddress(address, net)).toEqual({ ok: true, normalized: address.toLowerCase() })
      const decoded = decodeBitcoinAddress(address, net)
      expect(decoded.ok && decoded.value.type).toBe(type)
      expect(bitcoinAddressKey(address, net)).toBe(script)
      // and back: the script encodes to the normalized address
      expect(scriptToAddress(bytes(script), net)).toBe(address.toLowerCase())
    })
  }
})

describe('validateBitcoinAddress: BIP173/BIP350 invalid vectors and policy refusals', () => {
  const invalid: Array<[label: string, address: string, network: BitcoinNetworkName, reason: RegExp]> = [
    ['unknown hrp', 'tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut', 'testnet', /./],
    [
      'v1 with bech32',
      'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd',
      'mainnet',
      /bech32m/,
    ],
    [
      'v2 with bech32',
      'tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf',
      'testnet',
      /bech32m/,
    ],
    [
      'v16 with bech32',
      'BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL',
      'mainnet',
      /bech32m/,
    ],
    ['v0 with bech32m', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh', 'mainnet', /bech32m/],
    [
      'v0 with bech32m (32 bytes)',
      'tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47',
      'testnet',
      /bech32m/,
    ],
    ['invalid character', 'bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4', 'mainnet', /./],
    ['version 17', 'BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R', 'mainnet', /./],
    ['1-byte program', 'bc1pw5dgrnzv', 'mainnet', /./],
    [
      '41-byte program',
      'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav',
      'mainnet',
      /./,
    ],
    [
      'v0 16-byte program',
      'BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P',
      'mainnet',
      /v0 program must be 20 or 32 bytes/,
    ],
    ['mixed case', 'tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq', 'testnet', /mixed-case/],
    [
      'excess zero padding',
      'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf',
      'mainnet',
      /./,
    ],
    ['non-zero padding', 'tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j', 'testnet', /./],
    ['empty data', 'bc1gmk9yu', 'mainnet', /./],
    // valid per BIP350 but not a payable type here: v1 must be 32 bytes, future versions are refused
    [
      'v1 40-byte program',
      'bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y',
      'mainnet',
      /v1 \(taproot\) program must be 32 bytes/,
    ],
    ['future version v16', 'BC1SW50QGDZ25J', 'mainnet', /unsupported witness version 16/],
    ['future version v2', 'bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs', 'mainnet', /unsupported witness version 2/],
    ['bad bech32 checksum', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5', 'mainnet', /checksum/],
    ['empty', '', 'mainnet', /empty/],
    ['whitespace', ' bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', 'mainnet', /whitespace/],
    ['EVM address', '0x5FbDB2315678afecb367f032d93F642f64180aa3', 'mainnet', /./],
  ]
  for (const [label, address, network, reason] of invalid) {
    test(`error: ${label} is refused`, () => {
      const result = validateBitcoinAddress(address, bitcoinNetworks[network])
      expect(result.ok).toBe(false)
      expect(!result.ok && result.reason).toMatch(reason)
      expect(() => bitcoinAddressKey(address, bitcoinNetworks[network])).toThrow()
    })
  }
})

describe('validateBitcoinAddress: networks and base58', () => {
  // mainnet base58 addresses with their scripts, as Bitcoin Core listed them for block 200000
  const block = JSON.parse(
    readFileSync(
      join(
        import.meta.dir,
        '../../../test/fixtures/chain-data/bitcoin/rpc_json/btc_mainnet_200000_getblock_verbosity2.result.json',
      ),
      'utf8',
    ),
  ) as { tx: Array<{ vout: Array<{ scriptPubKey: { hex: string; addresses?: string[] } }> }> }
  const p2pkh = block.tx.flatMap((t) => t.vout).filter((o) => o.scriptPubKey.addresses)

  test('default: every P2PKH address of block 200000 validates on mainnet and keys to its script', () => {
    expect(p2pkh.length).toBe(820)
    for (const o of p2pkh) {
      const address = o.scriptPubKey.addresses![0]!
      expect(validateBitcoinAddress(address, mainnet)).toEqual({ ok: true, normalized: address })
      expect(bitcoinAddressKey(address, mainnet)).toBe(o.scriptPubKey.hex)
    }
  })

  test('behavior: P2SH mainnet and P2PKH/P2SH test-network addresses round-trip through their scripts', () => {
    const hash = 'b472a266d0bd89c13706a4132ccfb16f7c3b9fcb'
    const p2sh = `a914${hash}87`
    const p2pkhScript = `76a914${hash}88ac`
    expect(scriptToAddress(bytes(p2sh), mainnet)).toBe('3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy')
    expect(bitcoinAddressKey('3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy', mainnet)).toBe(p2sh)
    for (const net of [testnet, regtest]) {
      const a = scriptToAddress(bytes(p2pkhScript), net)!
      const s = scriptToAddress(bytes(p2sh), net)!
      expect(a).toMatch(/^[mn]/)
      expect(s).toMatch(/^2/)
      expect(bitcoinAddressKey(a, net)).toBe(p2pkhScript)
      expect(bitcoinAddressKey(s, net)).toBe(p2sh)
      // base58 is case-sensitive: kept exactly
      expect(validateBitcoinAddress(a, net)).toEqual({ ok: true, normalized: a })
      // testnet and regtest share the base58 version bytes
      expect(validateBitcoinAddress(a, net === testnet ? regtest : testnet).ok).toBe(true)
    }
  })

  test('error: another network’s prefix is refused and named', () => {
    const main = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'
    const tb = 'tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7'
    const rt = scriptToAddress(bytes('0014751e76e8199196d454941c45d1b3a323f1433bd6'), regtest)!
    expect(rt).toMatch(/^bcrt1q/)
    expect(validateBitcoinAddress(rt, regtest).ok).toBe(true)
    const reason = (a: string, n: typeof mainnet) => {
      const r = validateBitcoinAddress(a, n)
      return r.ok ? 'accepted' : r.reason
    }
    expect(reason(main, testnet)).toMatch(/not a testnet address \(a mainnet address\)/)
    expect(reason(main, regtest)).toMatch(/a mainnet address/)
    expect(reason(tb, mainnet)).toMatch(/a testnet\/testnet4\/signet address/)
    expect(reason(tb, regtest)).toMatch(/a testnet\/testnet4\/signet address/)
    expect(reason(rt, mainnet)).toMatch(/a regtest address/)
    expect(reason(rt, testnet)).toMatch(/a regtest address/)
    expect(reason('1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2', testnet)).toMatch(/a mainnet address/)
    expect(reason(scriptToAddress(bytes(`76a914${'11'.repeat(20)}88ac`), testnet)!, mainnet)).toMatch(
      /not a mainnet address/,
    )
  })

  test('error: a base58 typo fails the checksum; wrong payload lengths and version bytes are refused', () => {
    const good = '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2'
    expect(validateBitcoinAddress(good, mainnet)).toEqual({ ok: true, normalized: good })
    const typo = validateBitcoinAddress('1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3', mainnet)
    expect(!typo.ok && typo.reason).toMatch(/checksum/)
    const lower = validateBitcoinAddress(good.toLowerCase(), mainnet)
    expect(lower.ok).toBe(false)
    // a WIF private key is base58check too, but not an address
    const wif = validateBitcoinAddress('5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ', mainnet)
    expect(!wif.ok && wif.reason).toMatch(/21 bytes/)
  })

  test('behavior: scriptToAddress has no address for P2PK, bare multisig, OP_RETURN or future versions', () => {
    const p2pk = `21${'02'.padEnd(66, '1')}ac`
    expect(scriptToAddress(bytes(p2pk), mainnet)).toBeUndefined()
    expect(scriptToAddress(bytes('6a0401020304'), mainnet)).toBeUndefined()
    expect(scriptToAddress(bytes(`5214${'11'.repeat(20)}`), mainnet)).toBeUndefined()
    expect(scriptToAddress(bytes(`5120${'11'.repeat(31)}`), mainnet)).toBeUndefined()
    expect(scriptToAddress(bytes(''), mainnet)).toBeUndefined()
  })
})
