import { describe, expect, test } from 'bun:test'
import { type ChainSettings, chain, type DriverLogger } from '@tollgate/sdk'
import { loadChains, PluginConfigError } from './registry.ts'

// The operator's confirmation ladders (`amountTiers`): resolved by asset id in exact amounts, today's rule
// when absent, and every malformed or risky ladder refused at boot under its path.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const evmOptions = {
  chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
  rpcUrls: ['http://127.0.0.1:1'],
  tokens: [{ symbol: 'USDT', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }],
  confirmations: 3,
}
const load = (settings: ChainSettings) =>
  loadChains({ chains: { devnet: chain(() => import('./evm/index.ts'), evmOptions, settings) } }, silent)
const tiersOf = async (settings: ChainSettings) => {
  const devnet = (await load(settings)).get('devnet')!
  const usdt = devnet.driver.assets.find((a) => a.symbol === 'USDT')!
  return { tiers: devnet.settings.amountTiers!, usdt, eth: devnet.driver.nativeAsset }
}

describe('amountTiers', () => {
  test('default: no ladders (every asset keeps its confirmations for every amount)', async () => {
    const { tiers } = await tiersOf({})
    expect(tiers.size).toBe(0)
  })

  test('behavior: a ladder by symbol is stored by asset id, thresholds in base units, bounds from its values', async () => {
    const { tiers, usdt } = await tiersOf({
      amountTiers: {
        USDT: {
          tiers: [
            { below: '100', confirmations: 1 },
            { below: '1000.5', confirmations: 3 },
          ],
          above: 6,
        },
      },
    })
    expect(tiers.get(usdt.id)).toEqual({
      tiers: [
        { below: { num: 100_000_000n, den: 1n }, confirmations: 1 },
        { below: { num: 1_000_500_000n, den: 1n }, confirmations: 3 },
      ],
      above: 6,
      currency: null,
      bounds: { min: 1, max: 6 },
    })
  })

  test('behavior: above defaults to the asset’s confirmations; a currency ladder keeps exact fractions', async () => {
    const { tiers, eth } = await tiersOf({
      amountTiers: {
        ETH: { tiers: [{ below: '50.25', confirmations: 1 }], currency: 'USD', bounds: { min: 0, max: 12 } },
      },
    })
    expect(tiers.get(eth.id)).toEqual({
      tiers: [{ below: { num: 5_025_000_000n, den: 100_000_000n }, confirmations: 1 }],
      above: 3,
      currency: 'USD',
      bounds: { min: 0, max: 12 },
    })
  })

  test('behavior: 0 confirmations are accepted when the operator sets bounds.min 0', async () => {
    const { tiers, usdt } = await tiersOf({
      amountTiers: {
        USDT: { tiers: [{ below: '10', confirmations: 0 }], above: 2, bounds: { min: 0, max: 6 } },
      },
    })
    expect(tiers.get(usdt.id)?.tiers[0]?.confirmations).toBe(0)
  })

  const bad: Array<[label: string, settings: ChainSettings['amountTiers'], problem: string]> = [
    [
      'tiers not ascending',
      {
        USDT: {
          tiers: [
            { below: '100', confirmations: 1 },
            { below: '100', confirmations: 2 },
          ],
        },
      },
      'amountTiers.USDT.tiers.1.below: tiers must ascend',
    ],
    [
      'fewer confirmations for a larger amount',
      {
        USDT: {
          tiers: [
            { below: '10', confirmations: 3 },
            { below: '100', confirmations: 1 },
          ],
        },
      },
      'amountTiers.USDT.tiers.1.confirmations: a larger amount may not need fewer',
    ],
    [
      'above under the last tier',
      { USDT: { tiers: [{ below: '10', confirmations: 6 }], above: 3 } },
      'amountTiers.USDT.above: above may not be fewer',
    ],
    [
      'negative confirmations',
      { USDT: { tiers: [{ below: '10', confirmations: -1 }] } },
      'amountTiers.USDT.tiers.0.confirmations: confirmations must be an integer',
    ],
    [
      'fractional confirmations',
      { USDT: { above: 1.5 } },
      'amountTiers.USDT.above: above must be an integer',
    ],
    [
      'a threshold with more digits than the asset',
      { USDT: { tiers: [{ below: '0.0000001', confirmations: 1 }] } },
      'amountTiers.USDT.tiers.0.below: below must be a positive decimal amount with at most 6',
    ],
    [
      'a zero threshold',
      { USDT: { tiers: [{ below: '0', confirmations: 1 }] } },
      'amountTiers.USDT.tiers.0.below',
    ],
    [
      'a number as threshold',
      { USDT: { tiers: [{ below: 10 as unknown as string, confirmations: 1 }] } },
      'amountTiers.USDT.tiers.0.below',
    ],
    [
      '0 confirmations without bounds.min 0',
      { USDT: { tiers: [{ below: '10', confirmations: 0 }] } },
      'amountTiers.USDT: a tier of 0 confirmations',
    ],
    [
      '0 confirmations with bounds.min above 0',
      { USDT: { tiers: [{ below: '10', confirmations: 0 }], bounds: { min: 1, max: 6 } } },
      'amountTiers.USDT.bounds: confirmations must lie from 1 to 6',
    ],
    [
      'bounds that do not hold the ladder',
      { USDT: { tiers: [{ below: '10', confirmations: 1 }], above: 12, bounds: { min: 1, max: 6 } } },
      'amountTiers.USDT.bounds: confirmations must lie from 1 to 6; 12 do not',
    ],
    [
      'bounds with min above max',
      { USDT: { bounds: { min: 6, max: 1 } } },
      'amountTiers.USDT.bounds: min and max must be integers',
    ],
    ['an unknown asset', { DOGE: { above: 3 } }, 'amountTiers.DOGE: unknown asset "DOGE"'],
    [
      'a currency that is no ISO code',
      { USDT: { tiers: [{ below: '10', confirmations: 1 }], currency: 'usd' } },
      'amountTiers.USDT.currency: currency must be an ISO 4217 code',
    ],
    [
      'a misspelled key',
      { USDT: { tier: [] } as unknown as Record<string, never> },
      'amountTiers.USDT: unknown setting(s) tier (did you mean "tiers"?)',
    ],
    [
      'a misspelled step key',
      {
        USDT: {
          tiers: [{ under: '10', confirmations: 1 } as unknown as { below: string; confirmations: number }],
        },
      },
      'amountTiers.USDT.tiers.0: unknown setting(s) under',
    ],
    [
      'too many tiers',
      { USDT: { tiers: Array.from({ length: 21 }, (_, i) => ({ below: String(i + 1), confirmations: 1 })) } },
      'amountTiers.USDT.tiers: at most 20 tiers',
    ],
  ]
  for (const [label, amountTiers, problem] of bad)
    test(`error: ${label} is refused at boot, naming the setting`, async () => {
      const err = await load({ amountTiers }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PluginConfigError)
      expect((err as PluginConfigError).problems[0]).toContain(problem)
    })

  test('error: a misspelled top-level key is refused with a hint', async () => {
    const err = await load({ amountTier: {} } as unknown as ChainSettings).catch((e: unknown) => e)
    expect((err as PluginConfigError).problems[0]).toContain(
      'unknown setting(s) amountTier (did you mean "amountTiers"?)',
    )
  })
})
