import { describe, expect, test } from 'bun:test'
import {
  type ChainDriver,
  type ChainSettings,
  chain,
  type DriverLogger,
  defineChainDriver,
  SDK_API_VERSION,
  type TollgateConfig,
} from '@tollgate/sdk'
import { created } from '../../test/fixtures/plugins/recording.ts'
import { loadChains, PluginConfigError } from './registry.ts'

// A config that cannot lie: every misconfiguration an operator can make in plugins.config.ts is refused at boot,
// under the chain's name and its module, instead of being dropped or booting something else.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const evm = () => import('./evm/index.ts')
const tron = () => import('./tron/index.ts')
const bitcoin = () => import('./bitcoin/index.ts')
const rpcUrls = ['http://127.0.0.1:1']

async function refused(config: TollgateConfig): Promise<PluginConfigError> {
  const err = await loadChains(config, silent).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(PluginConfigError)
  return err as PluginConfigError
}

async function onlyProblem(config: TollgateConfig): Promise<string> {
  const err = await refused(config)
  expect(err.problems).toHaveLength(1)
  return err.problems[0]!
}

describe('unknown keys', () => {
  test('error: a misspelt driver option (confirmation: 15) is refused, naming chain, module, key and the close one', async () => {
    const problem = await onlyProblem({
      chains: { bsc: chain(evm, { preset: 'bsc', rpcUrls, confirmation: 15 }) },
    })
    expect(problem).toBe(
      'chain "bsc" (module "./evm/index.ts"): invalid options: unknown option "confirmation" (did you mean "confirmations"?)',
    )
  })

  test('error: unknown keys are refused in every built-in driver and inside nested options (a token)', async () => {
    const err = await refused({
      chains: {
        btc: chain(bitcoin, { preset: 'bitcoin', rpcUrls, confirmation: 3 }),
        trx: chain(tron, { preset: 'tron', fullHosts: rpcUrls, fullHost: 'x' }),
        eth: chain(evm, {
          preset: 'ethereum',
          rpcUrls,
          tokens: [{ symbol: 'DAI', address: `0x${'1'.repeat(40)}`, decimal: 18, decimals: 18 }],
        }),
      },
    })
    expect(err.problems.sort()).toEqual([
      'chain "btc" (module "./bitcoin/index.ts"): invalid options: unknown option "confirmation" (did you mean "confirmations"?)',
      'chain "eth" (module "./evm/index.ts"): invalid options: unknown option "tokens.0.decimal" (did you mean "decimals"?)',
      'chain "trx" (module "./tron/index.ts"): invalid options: unknown option "fullHost" (did you mean "fullHosts"?)',
    ])
  })

  const badSettings: Array<[label: string, settings: Record<string, unknown>, problem: string]> = [
    [
      'a misspelt chain setting',
      { scanInterval: 500 },
      'unknown setting(s) scanInterval (did you mean "scanIntervalMs"?)',
    ],
    [
      'a driver option given as a setting',
      { confirmations: 15 },
      'unknown setting(s) confirmations; known: startHeight',
    ],
    [
      'a misspelt payout setting',
      { payouts: { maxBatches: 5 } },
      'payouts: unknown setting(s) maxBatches (did you mean "maxBatch"?)',
    ],
    [
      'a misspelt sweep setting',
      { sweeps: { enable: false } },
      'sweeps: unknown setting(s) enable (did you mean "enabled"?)',
    ],
    [
      'an address mode that does not exist',
      { addresses: 'shared' },
      'addresses must be "distinct" or "cross"',
    ],
  ]
  for (const [label, settings, problem] of badSettings)
    test(`error: ${label} is refused under the chain and its module`, async () => {
      const found = await onlyProblem({
        chains: { devnet: chain(evm, { preset: 'sepolia', rpcUrls }, settings as ChainSettings) },
      })
      expect(found).toStartWith('chain "devnet" (module "./evm/index.ts"): ')
      expect(found).toContain(problem)
    })
})

describe('presets', () => {
  test('error: an unknown preset name is refused with the close name and the known ones', async () => {
    const problem = await onlyProblem({ chains: { eth: chain(evm, { preset: 'etherum', rpcUrls }) } })
    expect(problem).toStartWith(
      'chain "eth" (module "./evm/index.ts"): invalid options: option "preset": unknown evm preset "etherum" (did you mean "ethereum"?); known: ethereum, bsc, polygon',
    )
  })

  test("error: a preset of another driver is unknown to this one; an unknown token lists the preset's", async () => {
    const err = await refused({
      chains: {
        trx: chain(evm, { preset: 'tron', rpcUrls }),
        base: chain(evm, { preset: 'base', rpcUrls, tokens: ['USDC', 'USDT'] }),
      },
    })
    expect(err.problems.sort()).toEqual([
      'chain "base" (module "./evm/index.ts"): invalid options: option "tokens.1": preset "base" has no token "USDT" (it has USDC); give { symbol, address, decimals } for another token',
      'chain "trx" (module "./evm/index.ts"): invalid options: option "preset": unknown evm preset "tron"; known: ethereum, bsc, polygon, arbitrum, base, optimism, sepolia, bsc-testnet, polygon-amoy, arbitrum-sepolia, base-sepolia, optimism-sepolia',
    ])
  })

  test('behavior: explicit options win over the preset, and tokens the preset lacks are added by hand', async () => {
    const dai = { symbol: 'DAI', address: '0x6B175474E89094C44Da98b954EedeAC495271d0F', decimals: 18 }
    const chains = await loadChains(
      {
        chains: {
          eth: chain(evm, { preset: 'ethereum', rpcUrls, tokens: ['USDC', dai], confirmations: 20 }),
        },
      },
      silent,
    )
    const driver = chains.get('eth')!.driver
    expect(driver.chainId).toBe('eip155:1')
    expect(driver.assets.map((a) => [a.symbol, a.contract ?? null, a.decimals])).toEqual([
      ['ETH', null, 18],
      ['USDC', '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 6],
      ['DAI', dai.address, 18],
    ])
    expect([driver.confirmations, driver.finalityDepth]).toEqual([20, 64])
  })

  test('error: a preset contradicted by an explicit network, or depths below the confirmations, are refused', async () => {
    const err = await refused({
      chains: {
        btc: chain(bitcoin, { preset: 'bitcoin', network: 'testnet', rpcUrls }),
        trx: chain(tron, { preset: 'tron', fullHosts: rpcUrls, confirmations: 40 }),
      },
    })
    expect(err.problems.sort()).toEqual([
      'chain "btc" (module "./bitcoin/index.ts"): invalid options: option "network": "testnet" contradicts preset "bitcoin" (network mainnet); give one of them',
      'chain "trx" (module "./tron/index.ts"): invalid options: option "finalityDepth": must be at least confirmations (40)',
    ])
  })
})

describe('duplicate chain ids', () => {
  test('error: two chains on one chain id are refused, naming both', async () => {
    const problem = await onlyProblem({
      chains: {
        ethereum: chain(evm, { preset: 'ethereum', rpcUrls }),
        // a BSC entry copied from Ethereum's without changing the preset
        bsc: chain(evm, { preset: 'ethereum', rpcUrls, account: 1 }),
      },
    })
    expect(problem).toStartWith(
      'chain "ethereum" (module "./evm/index.ts"): chain id eip155:1 is also the chain id of chain "bsc" (module "./evm/index.ts")',
    )
  })

  test('error: two Tron entries on one network are refused the same way (CAIP-2 ids, not only EVM ids)', async () => {
    const problem = await onlyProblem({
      chains: {
        tron: chain(tron, { preset: 'tron', fullHosts: rpcUrls }),
        usdt: chain(tron, { network: 'mainnet', fullHosts: rpcUrls, tokens: ['USDT'], account: 3 }),
      },
    })
    expect(problem).toContain('chain id tron:0x2b6653dc is also the chain id of chain "usdt"')
  })

  test('behavior: shareChainId on every entry lets them share a network on separate accounts, never on one', async () => {
    const share = { shareChainId: true }
    const chains = await loadChains(
      {
        chains: {
          burn: chain(tron, { preset: 'tron', fullHosts: rpcUrls }, share),
          delegate: chain(tron, { preset: 'tron', fullHosts: rpcUrls, account: 10 }, share),
        },
      },
      silent,
    )
    expect([...chains.keys()]).toEqual(['burn', 'delegate'])
    const problem = await onlyProblem({
      chains: {
        burn: chain(tron, { preset: 'tron', fullHosts: rpcUrls }, share),
        delegate: chain(tron, { preset: 'tron', fullHosts: rpcUrls }, share),
      },
    })
    expect(problem).toContain(
      'chain "delegate" (module "./tron/index.ts"): shares chain id tron:0x2b6653dc and account path m/44\'/195\'/0\' with chain "burn"',
    )
  })
})

describe('where modules come from', () => {
  test('behavior: a relative module path resolves against the config file, whose path heads the problems', async () => {
    const configPath = 'test/fixtures/relative-config/plugins.config.ts'
    const config = (await import(`../../${configPath}`)).default as TollgateConfig
    const before = created.length
    const err = await refused(config)
    // the plugin next to the config loaded (from the repository root, "./plugins/toy.ts" does not exist)
    expect(created.slice(before).map((c) => c.options.label)).toEqual(['relative'])
    expect(err.message).toStartWith(`${configPath} has 1 problem(s):`)
    expect(err.problems).toEqual([
      `chain "missing" (module "./plugins/absent.ts"): module not found at ${process.cwd()}/test/fixtures/relative-config/plugins/absent.ts (a relative path starts from the config file's folder)`,
    ])
    const { missing: _, ...rest } = config.chains
    const chains = await loadChains({ chains: rest }, silent, { configPath })
    expect(chains.get('local')!.driver.chainId).toBe('test:relative')
  })

  test('error: a plugin whose options are not a Standard Schema is told so', async () => {
    const plain = chain(
      async () => ({
        default: defineChainDriver({
          apiVersion: SDK_API_VERSION,
          name: 'plain',
          // a hand-written validator: not something the gateway can run
          options: { parse: (v: unknown) => v } as never,
          create: async () => ({}) as ChainDriver,
        }),
      }),
      {},
    )
    const problem = await onlyProblem({ chains: { plain } })
    expect(problem).toStartWith(
      'chain "plain" (module "<inline loader>"): plugin "plain" declares options that are not a Standard Schema',
    )
    expect(problem).toContain('zod 3.24+, valibot, arktype')
  })
})
