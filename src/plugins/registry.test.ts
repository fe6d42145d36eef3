import { describe, expect, test } from 'bun:test'
import {
  type ChainSettings,
  chain,
  DriverError,
  type DriverLogger,
  defineChainDriver,
  driverCapabilities,
  SDK_API_VERSION,
  type TollgateConfig,
} from '@tollgate/sdk'
import { z } from 'zod'
import { created } from '../../test/fixtures/plugins/recording.ts'
import { loadChains, moduleName, PluginConfigError } from './registry.ts'

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }

const evmOptions = {
  chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
  rpcUrls: ['http://127.0.0.1:1'],
}

/** Loads `config` expecting a PluginConfigError, and returns it. */
async function refused(config: TollgateConfig): Promise<PluginConfigError> {
  const err = await loadChains(config, silent).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(PluginConfigError)
  return err as PluginConfigError
}

/** The one problem of a config with one bad chain. */
async function problemOf(config: TollgateConfig): Promise<string> {
  const err = await refused(config)
  expect(err.problems).toHaveLength(1)
  expect(err.message).toContain(err.problems[0]!)
  return err.problems[0]!
}

describe('loadChains', () => {
  test('default: a valid config loads every chain with its driver and module name', async () => {
    const registry = await loadChains(
      {
        chains: {
          devnet: chain(() => import('./evm/index.ts'), evmOptions),
          'polygon-2': chain(() => import('./evm/index.ts'), {
            ...evmOptions,
            chain: { ...evmOptions.chain, id: 137 },
            account: 1,
          }),
        },
      },
      silent,
    )
    expect([...registry.keys()].sort()).toEqual(['devnet', 'polygon-2'])
    expect(registry.get('devnet')).toMatchObject({ name: 'devnet', module: './evm/index.ts' })
    expect(registry.get('devnet')!.driver.chainId).toBe('eip155:31337')
    expect(registry.get('polygon-2')!.driver.chainId).toBe('eip155:137')
    expect(registry.get('polygon-2')!.driver.accountPath).toBe("m/44'/60'/1'")
  })

  test('args: an empty config loads nothing', async () => {
    expect((await loadChains({ chains: {} }, silent)).size).toBe(0)
  })

  test('behavior: create gets the validated options (defaults applied), the chain name and a child logger', async () => {
    const childLogs: object[] = []
    const child: DriverLogger = { ...silent, info: (obj) => void childLogs.push(obj) }
    const bindings: object[] = []
    const log = {
      ...silent,
      child: (b: object) => {
        bindings.push(b)
        return child
      },
    }
    const before = created.length
    const registry = await loadChains(
      { chains: { rec: chain(() => import('../../test/fixtures/plugins/recording.ts'), { label: 'x' }) } },
      log,
    )
    expect(registry.get('rec')!.driver.chainId).toBe('test:x')
    const call = created[before]!
    expect(call.options).toEqual({ label: 'x', depth: 7 })
    expect(call.ctx.chain).toBe('rec')
    expect(call.ctx.log).toBe(child)
    expect(bindings).toEqual([{ chain: 'rec' }])
  })

  test('error: a plugin for another API version names the chain, the module and both versions', async () => {
    const problem = await problemOf({
      chains: { future: chain(() => import('../../test/fixtures/plugins/wrong-version.ts'), {}) },
    })
    expect(problem).toContain('chain "future"')
    expect(problem).toContain('module "../../test/fixtures/plugins/wrong-version.ts"')
    expect(problem).toContain('plugin "wrong-version"')
    expect(problem).toContain('version 2')
    expect(problem).toContain(`version ${SDK_API_VERSION}`)
  })

  test('error: a bad option names the field path (rpcUrls.0)', async () => {
    const problem = await problemOf({
      chains: { devnet: chain(() => import('./evm/index.ts'), { ...evmOptions, rpcUrls: ['not a url'] }) },
    })
    expect(problem).toStartWith('chain "devnet" (module "./evm/index.ts"): invalid options:')
    expect(problem).toContain('option "rpcUrls.0"')
    expect(problem).not.toContain('chain.id')
  })

  test('error: a bad nested option names the field path (chain.id), every bad field listed', async () => {
    const problem = await problemOf({
      chains: {
        devnet: chain(() => import('./evm/index.ts'), {
          ...evmOptions,
          chain: { ...evmOptions.chain, id: -5 },
          confirmations: 0,
        }),
      },
    })
    expect(problem).toContain('chain "devnet"')
    expect(problem).toContain('option "chain.id"')
    expect(problem).toContain('option "confirmations"')
  })

  test('error: options that are not an object at all are refused at "(options)"', async () => {
    const problem = await problemOf({
      chains: { devnet: chain(() => import('./evm/index.ts'), 'http://127.0.0.1:8545') },
    })
    expect(problem).toContain('option "(options)"')
  })

  test('error: a package that is not installed (string loader) says not found and how to install it', async () => {
    const problem = await problemOf({ chains: { solana: chain('@acme/tollgate-nonexistent', {}) } })
    expect(problem).toContain('chain "solana"')
    expect(problem).toContain('module "@acme/tollgate-nonexistent"')
    expect(problem).toMatch(/module not found/)
    expect(problem).toContain('bun add @acme/tollgate-nonexistent')
  })

  test('error: a package that is not installed (import loader) is named from the loader', async () => {
    const problem = await problemOf({
      // @ts-expect-error: the package is deliberately not installed
      chains: { solana: chain(() => import('@acme/tollgate-nonexistent'), {}) },
    })
    expect(problem).toContain('chain "solana" (module "@acme/tollgate-nonexistent")')
    expect(problem).toMatch(/module not found/)
    expect(problem).toContain('bun add @acme/tollgate-nonexistent')
  })

  test('error: a plugin whose own dependency is missing names that dependency, not the plugin, as missing', async () => {
    const problem = await problemOf({
      chains: { dep: chain(() => import('../../test/fixtures/plugins/missing-dependency.ts'), {}) },
    })
    expect(problem).toContain('chain "dep"')
    expect(problem).toContain('@acme/tollgate-missing-dependency')
    expect(problem).not.toContain('bun add ../../test/fixtures/plugins/missing-dependency.ts')
  })

  test('error: a module that throws while loading reports the failure and its message', async () => {
    const problem = await problemOf({
      chains: { boom: chain(() => import('../../test/fixtures/plugins/throws-on-load.ts'), {}) },
    })
    expect(problem).toContain('chain "boom" (module "../../test/fixtures/plugins/throws-on-load.ts")')
    expect(problem).toContain('failed to load')
    expect(problem).toContain('fixture exploded while loading')
  })

  const notDefinitions: Array<[label: string, load: () => Promise<unknown>, module: string]> = [
    [
      'a plain object',
      () => import('../../test/fixtures/plugins/not-a-plugin.ts'),
      '../../test/fixtures/plugins/not-a-plugin.ts',
    ],
    [
      'no default export',
      () => import('../../test/fixtures/plugins/no-default.ts'),
      '../../test/fixtures/plugins/no-default.ts',
    ],
  ]
  for (const [label, load, module] of notDefinitions) {
    test(`error: a default export that is not a definition (${label}) is refused`, async () => {
      const problem = await problemOf({ chains: { odd: chain(load, {}) } })
      expect(problem).toContain(`chain "odd" (module "${module}")`)
      expect(problem).toContain('default export is not a chain driver (use defineChainDriver)')
    })
  }

  test('error: a loader resolving to a non-module value is refused as not a definition', async () => {
    const problem = await problemOf({ chains: { odd: chain(async () => 42, {}) } })
    expect(problem).toContain('chain "odd" (module "<inline loader>")')
    expect(problem).toContain('not a chain driver')
  })

  for (const name of ['Mainnet', '1chain', 'main net', 'main_net', '-x', '', 'a'.repeat(33), 'eth.main']) {
    test(`error: the chain name ${JSON.stringify(name)} is refused before the module is loaded`, async () => {
      const problem = await problemOf({
        chains: { [name]: chain(() => import('../../test/fixtures/plugins/throws-on-load.ts'), {}) },
      })
      expect(problem).toContain(`chain "${name}"`)
      expect(problem).toContain('the chain name must match')
      expect(problem).not.toContain('failed to load')
    })
  }

  test('args: names of 32 lowercase characters, digits and dashes are accepted', async () => {
    const name = `a${'-1'.repeat(15)}b`
    expect(name).toHaveLength(32)
    const registry = await loadChains(
      { chains: { [name]: chain(() => import('./evm/index.ts'), evmOptions) } },
      silent,
    )
    expect(registry.has(name)).toBe(true)
  })

  test('behavior: several problems are reported together in one PluginConfigError, good chains aside', async () => {
    const err = await refused({
      chains: {
        devnet: chain(() => import('./evm/index.ts'), evmOptions),
        future: chain(() => import('../../test/fixtures/plugins/wrong-version.ts'), {}),
        broken: chain(() => import('./evm/index.ts'), { ...evmOptions, rpcUrls: [] }),
        missing: chain('@acme/tollgate-nonexistent', {}),
        Upper: chain(() => import('./evm/index.ts'), evmOptions),
      },
    })
    expect(err.problems).toHaveLength(4)
    expect(err.message).toStartWith('the plugins config (given in code) has 4 problem(s):')
    for (const name of ['future', 'broken', 'missing', 'Upper']) {
      expect(err.problems.filter((p) => p.startsWith(`chain "${name}"`))).toHaveLength(1)
      expect(err.message).toContain(`chain "${name}"`)
    }
    expect(err.message).not.toContain('chain "devnet"')
    expect(err.problems.find((p) => p.startsWith('chain "broken"'))).toContain(
      'at least one RPC URL is required',
    )
  })
})

describe('loadChains settings', () => {
  const devnet = (settings: ChainSettings) => ({
    chains: { devnet: chain(() => import('./evm/index.ts'), evmOptions, settings) },
  })

  const bad: Array<[label: string, settings: ChainSettings, problem: string | RegExp]> = [
    [
      'a sweep fee share above 100%',
      { sweeps: { maxFeeShareBps: 10_001 } },
      'sweeps.maxFeeShareBps must be an integer from 0 to 10000',
    ],
    [
      'an approval threshold in an unknown asset',
      { payouts: { approvalAbove: { DOGE: '1' } } },
      'payouts.approvalAbove: unknown asset "DOGE"',
    ],
    [
      'a sweep minimum that is not an amount',
      { sweeps: { minAmount: { ETH: 'lots' } } },
      /^sweeps\.minAmount\.ETH: /,
    ],
    ['a cold address the driver refuses', { cold: { address: 'nowhere', float: {} } }, /^cold\.address: /],
    [
      'a negative payout batch size',
      { payouts: { maxBatch: -1 } },
      'payouts.maxBatch must be a non-negative integer',
    ],
  ]
  for (const [label, settings, expected] of bad) {
    test(`error: ${label} is reported under the chain and its module`, async () => {
      const problem = await problemOf(devnet(settings))
      const where = 'chain "devnet" (module "./evm/index.ts"): '
      expect(problem).toStartWith(where)
      if (typeof expected === 'string') expect(problem.slice(where.length)).toBe(expected)
      else expect(problem.slice(where.length)).toMatch(expected)
    })
  }
})

describe('loadChains driver failures', () => {
  /** A plugin whose `create` rejects with `reason`. */
  const refusing = (reason: unknown) =>
    chain(
      async () => ({
        default: defineChainDriver({
          apiVersion: SDK_API_VERSION,
          name: 'refusing',
          options: z.object({}),
          create: () => Promise.reject(reason),
        }),
      }),
      {},
    )

  test('error: a driver whose create throws is reported under the chain and its module, its message kept', async () => {
    const problem = await problemOf({
      chains: {
        btc: refusing(
          new DriverError('INVALID_RPC_URL', 'RPC URL must be http(s), got ftp:', { retryable: false }),
        ),
      },
    })
    expect(problem).toBe('chain "btc" (module "<inline loader>"): RPC URL must be http(s), got ftp:')
  })

  test('error: a driver whose create rejects with a non-Error is reported by its text', async () => {
    const problem = await problemOf({ chains: { odd: refusing('no node configured') } })
    expect(problem).toBe('chain "odd" (module "<inline loader>"): no node configured')
  })
})

describe('moduleName', () => {
  test('default: a string loader is its own name', () => {
    expect(moduleName('@acme/tollgate-solana')).toBe('@acme/tollgate-solana')
  })

  test('args: the specifier is extracted from import loaders in any quoting and function form', () => {
    expect(moduleName(() => import('./evm/index.ts'))).toBe('./evm/index.ts')
    expect(moduleName(() => import('./evm/index.ts'))).toBe('./evm/index.ts')
    expect(moduleName(() => import(`./evm/index.ts`))).toBe('./evm/index.ts')
    expect(
      moduleName(async () => {
        return import('./evm/index.ts')
      }),
    ).toBe('./evm/index.ts')
    expect(
      moduleName(function load() {
        return import('./evm/index.ts')
      }),
    ).toBe('./evm/index.ts')
  })

  test('behavior: a loader without an import() is an inline loader', () => {
    expect(moduleName(async () => ({ default: {} }))).toBe('<inline loader>')
  })
})

describe('loadChains capabilities', () => {
  /** A plugin wrapping the EVM driver with its payouts changed by `change`. */
  const altered = (change: (payouts: Record<string, unknown>) => void) =>
    chain(async () => {
      const evm = (await import('./evm/index.ts')).default
      return {
        default: defineChainDriver({
          ...evm,
          create: async (options, ctx) => {
            const driver = await evm.create(options, ctx)
            const payouts = { ...driver.payouts } as Record<string, unknown>
            change(payouts)
            return { ...driver, payouts: payouts as never }
          },
        }),
      }
    }, evmOptions)

  test('error: a driver claiming to spend coins without change addresses or an unspent report is refused at boot', async () => {
    const problem = await problemOf({
      chains: { utxoish: altered((p) => Object.assign(p, { spendsCoins: true })) },
    })
    expect(problem).toContain('chain "utxoish"')
    expect(problem).toContain('coins needs changeAddresses (deriveChangeAddress)')
    expect(problem).toContain('coins needs unspentReport (payouts.unspent)')
  })

  test('error: token funding with only half of its members is refused at boot', async () => {
    const problem = await problemOf({
      chains: { halfway: altered((p) => Object.assign(p, { buildFunding: undefined })) },
    })
    expect(problem).toContain('tokenFunding needs both payouts.sweepNeed and payouts.buildFunding')
  })

  test('default: the built-in EVM driver has payouts, nonces and token funding, and no coin set or funding to reclaim', async () => {
    const chains = await loadChains(
      { chains: { anvil: chain(() => import('./evm/index.ts'), evmOptions) } },
      silent,
    )
    const caps = driverCapabilities(chains.get('anvil')!.driver)
    expect([...caps].sort()).toEqual([
      'destinationCheck',
      'networkCheck',
      'nonces',
      'payouts',
      'pushHeads',
      'tokenFunding',
    ])
  })
})
