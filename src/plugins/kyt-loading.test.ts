import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import {
  chain,
  type DriverLogger,
  defineKytProvider,
  kyt,
  SDK_API_VERSION,
  type TollgateConfig,
} from '@tollgate/sdk'
import { z } from 'zod'
import {
  type ChainRegistry,
  closeChains,
  loadChains,
  loadKytProviders,
  PluginConfigError,
} from './registry.ts'

// KYT providers are loaded from plugins.config.ts like chains: the same module, API-version and options checks,
// every problem named under the provider and its module, and providers keyed through the loaded chains.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const sanctions = () => import('./kyt-sanctions/index.ts')
const ethList = resolve(import.meta.dir, '../../test/fixtures/kyt/ofac_sdn_ETH.txt')
// the first address of the real ETH list and the anvil account everyone knows
const listed = '0x8589427373D6D84E98730D7795D8f6f8731FDA16'
const clean = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'

let chains: ChainRegistry
const config = (kytEntries: TollgateConfig['kyt']): TollgateConfig => ({
  chains: {
    eth: chain(() => import('./evm/index.ts'), { preset: 'ethereum', rpcUrls: ['http://127.0.0.1:1'] }),
  },
  kyt: kytEntries,
})

beforeAll(async () => {
  chains = await loadChains(config({}), silent)
})
afterAll(() => closeChains(chains))

async function problems(entries: TollgateConfig['kyt']): Promise<string[]> {
  const err = await loadKytProviders(config(entries), chains, silent).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(PluginConfigError)
  return (err as PluginConfigError).problems
}

describe('loadKytProviders', () => {
  test('default: the sanctions provider loads from the config and screens through the loaded chain', async () => {
    const providers = await loadKytProviders(
      config({ sanctions: kyt(sanctions, { lists: [{ asset: 'ETH', file: ethList }] }) }),
      chains,
      silent,
    )
    const { provider, module } = providers.get('sanctions')!
    expect(module).toBe('./kyt-sanctions/index.ts')
    const eth = chains.get('eth')!.driver
    const ask = (address: string) =>
      provider.screen({
        chain: eth.chainId,
        address,
        addressKey: eth.addressKey(address),
        direction: 'inbound',
      })
    expect((await ask(listed)).verdict).toBe('block')
    expect((await ask(clean)).verdict).toBe('allow')
    expect(await loadKytProviders(config(undefined), chains, silent)).toEqual(new Map())
  })

  test('error: a missing module, bad options, a chain driver given as a provider and a bad name are refused together, each named', async () => {
    const found = await problems({
      missing: kyt('@acme/no-such-kyt', {}),
      typo: kyt(sanctions, { list: [] }),
      driver: kyt(() => import('./evm/index.ts'), { preset: 'ethereum', rpcUrls: ['http://127.0.0.1:1'] }),
      'Bad Name': kyt(sanctions, { lists: [{ asset: 'ETH', file: ethList }] }),
    })
    expect(found).toHaveLength(4)
    expect(found[0]).toBe(
      'kyt provider "missing" (module "@acme/no-such-kyt"): module not found; install it (bun add @acme/no-such-kyt) or fix the path',
    )
    expect(found[1]).toStartWith('kyt provider "typo" (module "./kyt-sanctions/index.ts"): invalid options:')
    expect(found[2]).toBe(
      'kyt provider "driver" (module "./evm/index.ts"): the module\'s default export is not a KYT provider (use defineKytProvider)',
    )
    expect(found[3]).toContain('kyt provider "Bad Name"')
    expect(found[3]).toContain('the name must match')
  })

  test('error: a provider of another plugin API version, or whose factory throws, is refused with its message', async () => {
    const future = defineKytProvider({
      apiVersion: SDK_API_VERSION + 1,
      name: '@acme/kyt-next',
      options: z.object({}),
      create: () => ({
        screen: async () => ({ verdict: 'allow', categories: [], reasons: [], source: { provider: 'x' } }),
      }),
    })
    const broken = defineKytProvider({
      apiVersion: SDK_API_VERSION,
      name: '@acme/kyt-broken',
      options: z.object({}),
      create: () => {
        throw new Error('list server refused the API key')
      },
    })
    const found = await problems({
      future: kyt(async () => ({ default: future }), {}),
      broken: kyt(async () => ({ default: broken }), {}),
    })
    expect(found).toEqual([
      `kyt provider "future" (module "<inline loader>"): plugin "@acme/kyt-next" targets plugin API version ${SDK_API_VERSION + 1}, this Tollgate supports version ${SDK_API_VERSION}`,
      'kyt provider "broken" (module "<inline loader>"): list server refused the API key',
    ])
  })
})
