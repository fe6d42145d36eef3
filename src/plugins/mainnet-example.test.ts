import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { DriverLogger } from '@tollgate/sdk'
import { type Bcoin, startBcoin } from '../../test/helpers/bcoin.ts'
import { freePort } from '../../test/helpers/chain.ts'
import { startTronNode, type TronNode } from '../../test/tron-node/server.ts'
import { type Anvil, startAnvil } from '../devnet.ts'
import { bitcoinPresets } from './bitcoin/presets.ts'
import { evmPresets } from './evm/presets.ts'
import { type ChainRegistry, closeChains, loadChains } from './registry.ts'
import { tronPresets } from './tron/presets.ts'

// The README's mainnet example boots with every chain as its preset says (chain ids, native currencies, token
// contracts and decimals, confirmation depths), each driver answering from a local stand-in of its network:
// an anvil per EVM chain started with that chain's id, the Tron stand-in node, and a bcoin node.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const examplePath = `${import.meta.dir}/../../examples/mainnet.plugins.config.ts`
const evmChains = {
  ethereum: 'ETHEREUM_RPC_URLS',
  bsc: 'BSC_RPC_URLS',
  polygon: 'POLYGON_RPC_URLS',
  arbitrum: 'ARBITRUM_RPC_URLS',
  base: 'BASE_RPC_URLS',
  optimism: 'OPTIMISM_RPC_URLS',
} as const

const anvils: Anvil[] = []
let tron: TronNode
let bcoin: Bcoin
let chains: ChainRegistry

beforeAll(async () => {
  const started = await Promise.all(
    Object.entries(evmChains).map(async ([name, variable]) => {
      const id = evmPresets[name as keyof typeof evmChains].chain.id
      const anvil = await startAnvil({ port: await freePort(), args: ['--chain-id', String(id)] })
      process.env[variable] = anvil.url
      return anvil
    }),
  )
  anvils.push(...started)
  ;[tron, bcoin] = await Promise.all([startTronNode(), startBcoin({ segwit: false })])
  process.env.TRON_FULL_HOSTS = tron.url
  process.env.BITCOIN_RPC_URLS = bcoin.url
  const config = (await import(examplePath)).default
  chains = await loadChains(config, silent)
}, 120_000)

afterAll(async () => {
  if (chains) await closeChains(chains)
  await Promise.all([...anvils.map((a) => a.stop()), tron?.stop(), bcoin?.stop()])
})

test('default: every EVM chain of the example loads with its preset chain id, native currency, tokens and depths', async () => {
  for (const name of Object.keys(evmChains) as Array<keyof typeof evmChains>) {
    const preset = evmPresets[name]
    const driver = chains.get(name)!.driver
    expect(driver.chainId).toBe(`eip155:${preset.chain.id}`)
    expect(driver.nativeAsset).toMatchObject({
      symbol: preset.chain.nativeCurrency.symbol,
      decimals: preset.chain.nativeCurrency.decimals,
    })
    const tokens: Array<{ symbol: string; address: string; decimals: number }> = Object.values(preset.tokens)
    expect(
      driver.assets.filter((a) => !a.native).map((a) => [a.symbol, a.contract, a.decimals, a.id]),
    ).toEqual(
      tokens.map((t) => [
        t.symbol,
        t.address,
        t.decimals,
        `eip155:${preset.chain.id}/erc20:${t.address.toLowerCase()}`,
      ]),
    )
    expect([driver.confirmations, driver.finalityDepth]).toEqual([preset.confirmations, preset.finalityDepth])
    // the stand-in answers as the chain: the RPC URL of the example reached this chain's anvil
    expect((await driver.getTip()).height).toBeGreaterThanOrEqual(0n)
  }
  expect(chains.get('bsc')!.driver.assets.find((a) => a.symbol === 'USDT')!.decimals).toBe(18)
})

test('default: Tron and Bitcoin load with their presets: network ids, USDT on Tron, 19 and 6 confirmations', async () => {
  const t = chains.get('tron')!.driver
  expect(t.chainId).toBe('tron:0x2b6653dc')
  expect(t.assets.map((a) => [a.symbol, a.contract ?? null, a.decimals])).toEqual([
    ['TRX', null, 6],
    ['USDT', tronPresets.tron.tokens.USDT.address, 6],
  ])
  expect([t.confirmations, t.finalityDepth]).toEqual([19, 27])
  expect((await t.getTip()).height).toBeGreaterThan(0n)
  const b = chains.get('bitcoin')!.driver
  expect(b.chainId).toBe('bip122:000000000019d6689c085ae165831e93')
  expect([b.confirmations, b.finalityDepth]).toEqual([
    bitcoinPresets.bitcoin.confirmations,
    bitcoinPresets.bitcoin.finalityDepth,
  ])
  expect((await b.getTip()).height).toBeGreaterThanOrEqual(0n)
  expect([...chains.keys()].sort()).toEqual(
    ['arbitrum', 'base', 'bitcoin', 'bsc', 'ethereum', 'optimism', 'polygon', 'tron'].sort(),
  )
})

test('behavior: the example types no chain id and no contract address: all of it comes from presets', async () => {
  const text = await Bun.file(examplePath).text()
  expect(text).not.toMatch(/0x[0-9a-fA-F]{40}/)
  expect(text).not.toMatch(/\bT[1-9A-HJ-NP-Za-km-z]{33}\b/)
  expect(text).not.toMatch(/\bid:/)
  expect(text).not.toMatch(/decimals/)
  expect(text).not.toMatch(/\bchain:\s*\{|nativeCurrency|network:/)
})
