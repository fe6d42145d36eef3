import { findNamed } from '@tollgate/sdk/names'

/**
 * Well-known EVM chains as data: chain ids, native currencies, the issuers' own stablecoin contracts, and
 * confirmation defaults (docs/decisions.md, "Confirmation defaults", gives the reason for each).
 *
 * Contract addresses are the issuers' published ones (Circle for USDC, Tether for USDT), checksummed (EIP-55),
 * so a mistyped character fails the checksum test. Only tokens the issuer publishes on that chain are listed:
 * Base has no Tether-issued USDT, and the public testnets have no Tether or Binance-published test stablecoins.
 */

export type EvmPresetToken = {
  symbol: string
  name: string
  address: `0x${string}`
  decimals: number
}

export type EvmPreset = {
  chain: {
    id: number
    name: string
    nativeCurrency: { name: string; symbol: string; decimals: number }
  }
  testnet: boolean
  /** Tokens an operator may name in `tokens`, by symbol. */
  tokens: Readonly<Record<string, EvmPresetToken>>
  confirmations: number
  finalityDepth: number
}

const ether = { name: 'Ether', symbol: 'ETH', decimals: 18 }
const sepoliaEther = { name: 'Sepolia Ether', symbol: 'ETH', decimals: 18 }
const usdc = (address: `0x${string}`, decimals = 6): EvmPresetToken => ({
  symbol: 'USDC',
  name: 'USD Coin',
  address,
  decimals,
})
const usdt = (address: `0x${string}`, decimals = 6): EvmPresetToken => ({
  symbol: 'USDT',
  name: 'Tether USD',
  address,
  decimals,
})

/** Depths shared by a mainnet and its testnet: the testnet behaves like what it rehearses. */
const depths = {
  // PoS Ethereum: 12 blocks (2.4 min) is the long-standing crediting depth; finality is 2 epochs (64 slots)
  ethereum: { confirmations: 12, finalityDepth: 64 },
  // BSC: fast finality (BEP-126) finalizes within a few blocks; 15 blocks is still seconds at sub-second blocks
  bsc: { confirmations: 15, finalityDepth: 64 },
  // Polygon PoS: milestones give deterministic finality; 32 blocks (~1 min) stays above a milestone's lag
  polygon: { confirmations: 32, finalityDepth: 128 },
  // rollups: blocks come from one sequencer; a reorg needs it to equivocate or its batch to miss L1
  arbitrum: { confirmations: 20, finalityDepth: 240 },
  opStack: { confirmations: 10, finalityDepth: 64 },
} as const

export const evmPresets = {
  ethereum: {
    chain: { id: 1, name: 'Ethereum', nativeCurrency: ether },
    testnet: false,
    tokens: {
      USDT: usdt('0xdAC17F958D2ee523a2206206994597C13D831ec7'),
      USDC: usdc('0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48'),
    },
    ...depths.ethereum,
  },
  bsc: {
    chain: { id: 56, name: 'BNB Smart Chain', nativeCurrency: { name: 'BNB', symbol: 'BNB', decimals: 18 } },
    testnet: false,
    // both Binance-Peg tokens have 18 decimals on BSC, not the 6 they have on Ethereum
    tokens: {
      USDT: usdt('0x55d398326f99059fF775485246999027B3197955', 18),
      USDC: usdc('0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d', 18),
    },
    ...depths.bsc,
  },
  polygon: {
    chain: { id: 137, name: 'Polygon PoS', nativeCurrency: { name: 'POL', symbol: 'POL', decimals: 18 } },
    testnet: false,
    // USDC is Circle's native token, not the bridged USDC.e
    tokens: {
      USDT: usdt('0xc2132D05D31c914a87C6611C10748AEb04B58e8F'),
      USDC: usdc('0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359'),
    },
    ...depths.polygon,
  },
  arbitrum: {
    chain: { id: 42161, name: 'Arbitrum One', nativeCurrency: ether },
    testnet: false,
    tokens: {
      USDT: usdt('0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9'),
      USDC: usdc('0xaf88d065e77c8cC2239327C5EDb3A432268e5831'),
    },
    ...depths.arbitrum,
  },
  base: {
    chain: { id: 8453, name: 'Base', nativeCurrency: ether },
    testnet: false,
    tokens: { USDC: usdc('0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913') },
    ...depths.opStack,
  },
  optimism: {
    chain: { id: 10, name: 'OP Mainnet', nativeCurrency: ether },
    testnet: false,
    tokens: {
      USDT: usdt('0x94b008aA00579c1307B0EF2c499aD98a8ce58e58'),
      USDC: usdc('0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85'),
    },
    ...depths.opStack,
  },
  sepolia: {
    chain: { id: 11155111, name: 'Sepolia', nativeCurrency: sepoliaEther },
    testnet: true,
    tokens: { USDC: usdc('0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238') },
    ...depths.ethereum,
  },
  'bsc-testnet': {
    chain: {
      id: 97,
      name: 'BNB Smart Chain Testnet',
      nativeCurrency: { name: 'Test BNB', symbol: 'tBNB', decimals: 18 },
    },
    testnet: true,
    tokens: {},
    ...depths.bsc,
  },
  'polygon-amoy': {
    chain: { id: 80002, name: 'Polygon Amoy', nativeCurrency: { name: 'POL', symbol: 'POL', decimals: 18 } },
    testnet: true,
    tokens: { USDC: usdc('0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582') },
    ...depths.polygon,
  },
  'arbitrum-sepolia': {
    chain: { id: 421614, name: 'Arbitrum Sepolia', nativeCurrency: sepoliaEther },
    testnet: true,
    tokens: { USDC: usdc('0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d') },
    ...depths.arbitrum,
  },
  'base-sepolia': {
    chain: { id: 84532, name: 'Base Sepolia', nativeCurrency: sepoliaEther },
    testnet: true,
    tokens: { USDC: usdc('0x036CbD53842c5426634e7929541eC2318f3dCF7e') },
    ...depths.opStack,
  },
  'optimism-sepolia': {
    chain: { id: 11155420, name: 'OP Sepolia', nativeCurrency: sepoliaEther },
    testnet: true,
    tokens: { USDC: usdc('0x5fd84259d66Cd46123540766Be93DFE6D43130D7') },
    ...depths.opStack,
  },
} as const satisfies Record<string, EvmPreset>

export type EvmPresetName = keyof typeof evmPresets

/**
 * A evm preset by name, or the message naming the close one and the known ones.
 *
 * @example
 * findEvmPreset('ethereum')
 */
export function findEvmPreset(name: string) {
  return findNamed<(typeof evmPresets)[keyof typeof evmPresets]>(evmPresets, name, 'evm preset')
}
