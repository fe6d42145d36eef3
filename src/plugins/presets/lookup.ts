import { bitcoinPresets } from './bitcoin-networks.ts'
import { evmPresets } from './evm-chains.ts'
import { didYouMean } from './suggest.ts'
import { tronPresets } from './tron-networks.ts'

/** Which built-in driver each preset table belongs to, so a preset given to the wrong driver says which one. */
const tables = {
  evm: evmPresets,
  tron: tronPresets,
  bitcoin: bitcoinPresets,
} as const

export type PresetDriver = keyof typeof tables

export type PresetLookup<P> = { ok: true; preset: P } | { ok: false; message: string }

/**
 * A preset of `driver` by name, or the message an operator reads: the close name they probably meant, the
 * driver a preset of another kind belongs to, and the known names.
 *
 * @example
 * findPreset('evm', 'etherum') // { ok: false, message: 'unknown evm preset "etherum" (did you mean "ethereum"?); known: …' }
 */
export function findPreset<D extends PresetDriver>(
  driver: D,
  name: string,
): PresetLookup<(typeof tables)[D][keyof (typeof tables)[D]]> {
  const table = tables[driver] as Record<string, unknown>
  if (Object.hasOwn(table, name))
    return { ok: true, preset: table[name] as (typeof tables)[D][keyof (typeof tables)[D]] }
  const known = Object.keys(table)
  const owner = (Object.keys(tables) as PresetDriver[]).find((d) => Object.hasOwn(tables[d], name))
  if (owner)
    return {
      ok: false,
      message: `"${name}" is a preset of the ${owner} driver, not of ${driver}: load src/plugins/${owner} for it`,
    }
  return {
    ok: false,
    message: `unknown ${driver} preset "${name}"${didYouMean(name, known)}; known: ${known.join(', ')}`,
  }
}

/**
 * A preset's token by symbol, or the message naming the tokens it has.
 *
 * @example
 * findPresetToken('ethereum', evmPresets.ethereum.tokens, 'USDT')
 */
export function findPresetToken<T>(
  presetName: string,
  tokens: Readonly<Record<string, T>>,
  symbol: string,
): PresetLookup<T> {
  if (Object.hasOwn(tokens, symbol)) return { ok: true, preset: tokens[symbol] as T }
  const known = Object.keys(tokens)
  const has = known.length > 0 ? `it has ${known.join(', ')}` : 'it lists none'
  return {
    ok: false,
    // no "did you mean": token symbols are short and alike (USDT, USDC), a near one is another asset
    message: `preset "${presetName}" has no token "${symbol}" (${has}); give { symbol, address, decimals } for another token`,
  }
}
