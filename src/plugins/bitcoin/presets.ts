import { findNamed } from '@tollgate/sdk/names'

/**
 * The public Bitcoin networks as data. 6 confirmations is Bitcoin's long-standing settlement depth (an attacker
 * with a tenth of the hash rate catches up from 6 behind with probability under 0.1 %, per the whitepaper's
 * calculation); finality depth 12 leaves room for the deepest reorgs seen since 2013 (a few blocks). Testnet3's
 * difficulty resets cause block storms and reorgs; the same depths keep a rehearsal honest. Signet needs its own
 * network entry in the driver first (genesis hash and chain id).
 */

export type BitcoinPreset = {
  network: 'mainnet' | 'testnet' | 'testnet4' | 'signet'
  name: string
  testnet: boolean
  confirmations: number
  finalityDepth: number
}

export const bitcoinPresets = {
  bitcoin: { network: 'mainnet', name: 'Bitcoin', testnet: false, confirmations: 6, finalityDepth: 12 },
  'bitcoin-testnet': {
    network: 'testnet',
    name: 'Bitcoin testnet3',
    testnet: true,
    confirmations: 6,
    finalityDepth: 12,
  },
  'bitcoin-testnet4': {
    network: 'testnet4',
    name: 'Bitcoin testnet4',
    testnet: true,
    confirmations: 6,
    finalityDepth: 12,
  },
  'bitcoin-signet': {
    network: 'signet',
    name: 'Bitcoin signet',
    testnet: true,
    confirmations: 6,
    finalityDepth: 12,
  },
} as const satisfies Record<string, BitcoinPreset>

export type BitcoinPresetName = keyof typeof bitcoinPresets

/**
 * A bitcoin preset by name, or the message naming the close one and the known ones.
 *
 * @example
 * findBitcoinPreset('bitcoin')
 */
export function findBitcoinPreset(name: string) {
  return findNamed<(typeof bitcoinPresets)[keyof typeof bitcoinPresets]>(
    bitcoinPresets,
    name,
    'bitcoin preset',
  )
}
