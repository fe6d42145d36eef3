import { describe, expect, test } from 'bun:test'
import { type ChainSettings, chain, type DriverLogger } from '@tollgate/sdk'
import { chainSettingDefaults, loadChains, PluginConfigError } from './registry.ts'

// The settings that bound driver calls and say when a chain is degraded: defaults, overrides, and refusals
// that name the setting.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const evmOptions = {
  chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
  rpcUrls: ['http://127.0.0.1:1'],
}
const load = (settings: ChainSettings) =>
  loadChains({ chains: { devnet: chain(() => import('./evm/index.ts'), evmOptions, settings) } }, silent)

describe('callTimeoutMs and degradedAfter', () => {
  test('default: 10 s per call and the documented thresholds', async () => {
    const chains = await load({})
    expect(chains.get('devnet')?.settings).toMatchObject({
      callTimeoutMs: 10_000,
      degradedAfter: chainSettingDefaults.degradedAfter,
    })
    expect(chainSettingDefaults.degradedAfter).toEqual({
      lagBlocks: 20,
      scanAgeMs: 60_000,
      staleTipMs: 600_000,
      payoutPassAgeMs: 300_000,
      queuedAgeMs: 900_000,
    })
  })

  test('behavior: given values replace the defaults one by one; 0 turns a check (or the deadline) off', async () => {
    const chains = await load({ callTimeoutMs: 0, degradedAfter: { staleTipMs: 5_400_000, lagBlocks: 0 } })
    expect(chains.get('devnet')?.settings).toMatchObject({
      callTimeoutMs: 0,
      degradedAfter: { ...chainSettingDefaults.degradedAfter, staleTipMs: 5_400_000, lagBlocks: 0 },
    })
  })

  const bad: Array<[label: string, settings: ChainSettings, problem: string]> = [
    ['a negative call timeout', { callTimeoutMs: -1 }, 'callTimeoutMs must be a non-negative integer'],
    ['a fractional call timeout', { callTimeoutMs: 1.5 }, 'callTimeoutMs must be a non-negative integer'],
    [
      'a negative threshold',
      { degradedAfter: { lagBlocks: -3 } },
      'degradedAfter.lagBlocks must be a non-negative integer',
    ],
    [
      'a threshold that is not a number',
      { degradedAfter: { scanAgeMs: '60s' as unknown as number } },
      'degradedAfter.scanAgeMs must be a non-negative integer',
    ],
    [
      'a misspelled threshold',
      { degradedAfter: { staleTip: 1000 } as unknown as ChainSettings['degradedAfter'] },
      'degradedAfter: unknown setting(s) staleTip',
    ],
  ]
  for (const [label, settings, problem] of bad)
    test(`error: ${label} is refused at boot, naming the setting`, async () => {
      const err = await load(settings).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PluginConfigError)
      expect((err as PluginConfigError).problems[0]).toContain(problem)
    })
})
