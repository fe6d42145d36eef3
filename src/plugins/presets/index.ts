/**
 * Well-known chains and tokens an operator names in plugins.config.ts (`preset: 'ethereum'`, `tokens: ['USDT']`)
 * instead of typing chain ids and contract addresses.
 */
export { type BitcoinPreset, type BitcoinPresetName, bitcoinPresets } from './bitcoin-networks.ts'
export { type EvmPreset, type EvmPresetName, type EvmPresetToken, evmPresets } from './evm-chains.ts'
export { findPreset, findPresetToken, type PresetDriver } from './lookup.ts'
export { closestName, didYouMean } from './suggest.ts'
export { type TronPreset, type TronPresetName, tronPresets } from './tron-networks.ts'
