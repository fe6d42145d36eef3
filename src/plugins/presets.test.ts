import { describe, expect, test } from 'bun:test'
import { closestName } from '@tollgate/sdk/names'
import { getAddress } from 'viem'
import { bip122ChainId, bitcoinNetworks } from './bitcoin/networks.ts'
import { bitcoinPresets, findBitcoinPreset } from './bitcoin/presets.ts'
import { evmPresets, findEvmPreset } from './evm/presets.ts'
import { tronBase58ToHex } from './tron/address.ts'
import { tronPresets } from './tron/presets.ts'

// The presets are money-critical data: a wrong contract or decimals credits the wrong amount or nothing at all.

describe('EVM presets', () => {
  test('default: every contract is in its EIP-55 checksummed form, so a mistyped character fails here', () => {
    for (const [name, preset] of Object.entries(evmPresets))
      for (const token of Object.values(preset.tokens) as Array<{ address: string }>)
        expect({ name, address: token.address }).toEqual({ name, address: getAddress(token.address) })
  })

  test('default: the published chain ids, and BSC stablecoins with 18 decimals, elsewhere 6', () => {
    const ids = Object.fromEntries(Object.entries(evmPresets).map(([n, p]) => [n, p.chain.id]))
    expect(ids).toEqual({
      ethereum: 1,
      bsc: 56,
      polygon: 137,
      arbitrum: 42161,
      base: 8453,
      optimism: 10,
      sepolia: 11155111,
      'bsc-testnet': 97,
      'polygon-amoy': 80002,
      'arbitrum-sepolia': 421614,
      'base-sepolia': 84532,
      'optimism-sepolia': 11155420,
    })
    expect(evmPresets.bsc.tokens.USDT.decimals).toBe(18)
    expect(evmPresets.bsc.tokens.USDC.decimals).toBe(18)
    for (const name of ['ethereum', 'polygon', 'arbitrum', 'optimism'] as const)
      expect([evmPresets[name].tokens.USDT.decimals, evmPresets[name].tokens.USDC.decimals]).toEqual([6, 6])
  })

  test('default: the mainnet contracts an operator most often pays into, byte for byte', () => {
    expect(evmPresets.ethereum.tokens.USDT.address).toBe('0xdAC17F958D2ee523a2206206994597C13D831ec7')
    expect(evmPresets.ethereum.tokens.USDC.address).toBe('0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48')
    expect(evmPresets.bsc.tokens.USDT.address).toBe('0x55d398326f99059fF775485246999027B3197955')
  })

  test('behavior: every preset keeps finalityDepth ≥ confirmations, on every driver', () => {
    for (const p of [
      ...Object.values(evmPresets),
      ...Object.values(tronPresets),
      ...Object.values(bitcoinPresets),
    ])
      expect(p.finalityDepth).toBeGreaterThanOrEqual(p.confirmations)
  })
})

describe('Tron and Bitcoin presets', () => {
  test('default: Tron USDT is TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t (6 decimals), a valid base58check address', () => {
    expect(tronPresets.tron.tokens.USDT).toMatchObject({
      address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
      decimals: 6,
    })
    expect(tronBase58ToHex(tronPresets.tron.tokens.USDT.address)).toBeDefined()
    expect([tronPresets.tron.confirmations, bitcoinPresets.bitcoin.confirmations]).toEqual([19, 6])
  })
})

describe('Bitcoin test networks', () => {
  test('default: testnet3, testnet4 and signet are distinct chains (genesis, CAIP-2 id) that write testnet addresses', () => {
    const nets = (['testnet', 'testnet4', 'signet'] as const).map((n) => bitcoinNetworks[n])
    expect(new Set(nets.map((n) => bip122ChainId(n))).size).toBe(3)
    expect(bip122ChainId(bitcoinNetworks.signet)).toBe('bip122:00000008819873e925422c1ff0f99f7c')
    expect(bip122ChainId(bitcoinNetworks.testnet4)).toBe('bip122:00000000da84f2bafbbc53dee25a72ae')
    for (const n of nets)
      expect([n.bech32, n.pubKeyHash, n.scriptHash, n.coinType]).toEqual(['tb', 0x6f, 0xc4, 1])
    expect(bitcoinPresets['bitcoin-signet'].network).toBe('signet')
    expect(bitcoinPresets['bitcoin-testnet4'].network).toBe('testnet4')
  })
})

describe('preset lookups', () => {
  test('error: a typo names the close preset; an unrelated name only lists the known ones', () => {
    expect(findEvmPreset('polygn')).toMatchObject({
      ok: false,
      message: expect.stringContaining('did you mean "polygon"'),
    })
    expect(findBitcoinPreset('tron')).toEqual({
      ok: false,
      message:
        'unknown bitcoin preset "tron"; known: bitcoin, bitcoin-testnet, bitcoin-testnet4, bitcoin-signet',
    })
    expect(findEvmPreset('solana')).toMatchObject({
      ok: false,
      message: expect.not.stringContaining('did you mean'),
    })
    expect(findEvmPreset('__proto__').ok).toBe(false)
  })

  test('args: closestName takes prefixes and small edits, not unrelated names', () => {
    expect(closestName('confirmation', ['confirmations', 'account'])).toBe('confirmations')
    expect(closestName('rpcUrl', ['rpcUrls', 'fullHosts'])).toBe('rpcUrls')
    expect(closestName('network', ['preset', 'account'])).toBeUndefined()
  })
})
