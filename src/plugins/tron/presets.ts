import { findNamed } from '@tollgate/sdk/names'

/**
 * The public Tron networks as data. Confirmations: 19 blocks is where java-tron's solidity node calls a block
 * irreversible (more than 2/3 of the 27 super representatives have built on it); finality depth 27 is one full
 * round of them. Only mainnet lists a token: the testnets carry several unofficial "USDT" contracts and Tether
 * publishes none of them, so an operator testing there names its own contract.
 */

export type TronPresetToken = { symbol: string; name: string; address: string; decimals: number }

export type TronPreset = {
  network: 'mainnet' | 'shasta' | 'nile'
  name: string
  testnet: boolean
  tokens: Readonly<Record<string, TronPresetToken>>
  confirmations: number
  finalityDepth: number
}

const depths = { confirmations: 19, finalityDepth: 27 } as const

export const tronPresets = {
  tron: {
    network: 'mainnet',
    name: 'Tron',
    testnet: false,
    tokens: {
      USDT: {
        symbol: 'USDT',
        name: 'Tether USD',
        address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
        decimals: 6,
      },
    },
    ...depths,
  },
  'tron-nile': { network: 'nile', name: 'Tron Nile', testnet: true, tokens: {}, ...depths },
  'tron-shasta': { network: 'shasta', name: 'Tron Shasta', testnet: true, tokens: {}, ...depths },
} as const satisfies Record<string, TronPreset>

export type TronPresetName = keyof typeof tronPresets

/** The preset of each Tron network, for token names given without a preset. */
export const tronPresetOfNetwork = {
  mainnet: 'tron',
  nile: 'tron-nile',
  shasta: 'tron-shasta',
} as const satisfies Record<TronPreset['network'], TronPresetName>

/**
 * A tron preset by name, or the message naming the close one and the known ones.
 *
 * @example
 * findTronPreset('tron')
 */
export function findTronPreset(name: string) {
  return findNamed<(typeof tronPresets)[keyof typeof tronPresets]>(tronPresets, name, 'tron preset')
}
