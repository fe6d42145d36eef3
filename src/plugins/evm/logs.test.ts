import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { ChainDriver, Transfer } from '@tollgate/sdk'
import { mnemonicToAccount } from 'viem/accounts'
import { type Devnet, devnetChain, startDevnet } from '../../../test/helpers/chain.ts'
import {
  type EvmProvider,
  type LogsProvider,
  startEvmProvider,
} from '../../../test/stand-ins/evm-providers.ts'
import { anvilMnemonic } from '../../devnet.ts'
import { createEvmDriver } from './index.ts'
import { evmOptionsSchema } from './options.ts'

// The token-logs path against providers as they are: a logs backend lagging its load balancer, a node that
// answers [] (or a subset) for ranges it has, each provider's own refusal of a range too wide, a URL failing
// with unknown errors. Every scan is the driver's, over blocks holding real token deposits on anvil.

const ctx = { chain: 'devnet', log: { info() {}, warn() {}, error() {}, debug() {} } as never }
const account = (i: number) => mnemonicToAccount(anvilMnemonic, { addressIndex: i }).address

let devnet: Devnet
/** The fixture: 12 blocks, token deposits to `payee` in four of them (1..4 units), and noise around them. */
let range: { from: bigint; to: bigint }
let payee: string
let depositBlocks: bigint[]
const providers: EvmProvider[] = []

function driverFor(urls: string[], extra: Record<string, unknown> = {}): ChainDriver {
  return createEvmDriver(
    evmOptionsSchema.parse({
      chain: devnetChain,
      rpcUrls: urls,
      tokens: [{ symbol: 'USDT', address: devnet.tokenAddress, decimals: 6 }],
      timeoutMs: 2000,
      internalTransfers: 'off',
      ...extra,
    }),
    ctx,
  )
}

function provider(options: Parameters<typeof startEvmProvider>[1] = {}): EvmProvider {
  const p = startEvmProvider(devnet.url, options)
  providers.push(p)
  return p
}

const watch = () => new Set([payee.toLowerCase()])
/** The token deposits' amounts (the fixture's ETH payment to the payee is not the logs path's). */
const amounts = (transfers: Transfer[]) =>
  transfers
    .filter((t) => t.asset.includes('/erc20:'))
    .map((t) => t.amount)
    .sort((a, b) => Number(a - b))
const rangeCalls = (p: EvmProvider) => p.logsCalls().filter((c) => c.blockHash === undefined)
const hashCalls = (p: EvmProvider) => p.logsCalls().filter((c) => c.blockHash !== undefined)

beforeAll(async () => {
  devnet = await startDevnet()
  payee = account(30)
  const other = account(31)
  range = { from: (await devnet.height()) + 1n, to: 0n }
  depositBlocks = []
  // deposits, a token transfer to someone else, ETH to the payee and empty blocks in between
  depositBlocks.push((await devnet.payToken(payee, 1n)).blockNumber)
  await devnet.payToken(other, 7n)
  await devnet.mine(2)
  depositBlocks.push((await devnet.payToken(payee, 2n)).blockNumber)
  await devnet.payNative(payee, 5n)
  depositBlocks.push((await devnet.payToken(payee, 3n)).blockNumber)
  await devnet.mine(3)
  depositBlocks.push((await devnet.payToken(payee, 4n)).blockNumber)
  await devnet.mine(1)
  range.to = await devnet.height()
  expect(range.to - range.from + 1n).toBe(12n)
}, 60_000)

afterAll(async () => {
  for (const p of providers) p.stop()
  await devnet?.stop()
})

describe('EVM token logs against real providers', () => {
  test('behavior: a lagging logs backend never loses a deposit: alone it fails the range (retryable LOGS_INCOMPLETE), with a second URL the blocks it left out are asked there by hash', async () => {
    // the logs backend is 6 blocks behind: the last two deposits are in blocks it answers [] for
    const lagging = provider({ lagBlocks: 6 })
    const head = await devnet.height()
    expect(depositBlocks.filter((b) => b > head - 6n).length).toBe(2)

    await expect(driverFor([lagging.url]).scan({ ...range, watch: watch() })).rejects.toMatchObject({
      name: 'DriverError',
      code: 'LOGS_INCOMPLETE',
      retryable: true,
    })

    const honest = provider()
    const result = await driverFor([lagging.url, honest.url]).scan({ ...range, watch: watch() })
    expect(amounts(result.transfers)).toEqual([1n, 2n, 3n, 4n])
    // only the blocks whose bloom says "maybe" and whose answer had nothing were asked again, at the other URL
    expect(hashCalls(honest).length).toBe(2)
    expect(hashCalls(honest).every((c) => !c.refused)).toBe(true)
  })

  test('behavior: tipLag keeps the scan behind a lagging logs backend: getTip is the latest minus tipLag, and the range up to it is whole', async () => {
    const lagging = provider({ lagBlocks: 6 })
    const driver = driverFor([lagging.url], { tipLag: 6 })
    const head = await devnet.height()
    const tip = await driver.getTip()
    expect(tip.height).toBe(head - 6n)
    const result = await driver.scan({ from: range.from, to: tip.height, watch: watch() })
    expect(amounts(result.transfers)).toEqual(
      [1n, 2n, 3n, 4n].filter((_, i) => (depositBlocks[i] as bigint) <= tip.height),
    )
  })

  test('behavior: a node that answers [] or a subset for ranges it has loses no deposit: the blocks its bloom says may hold one are asked by hash', async () => {
    for (const lie of ['empty', 'subset'] as const) {
      const liar = provider({ lie: () => lie })
      const result = await driverFor([liar.url]).scan({ ...range, watch: watch() })
      expect(amounts(result.transfers)).toEqual([1n, 2n, 3n, 4n])
      // 'empty' left out five token blocks (four deposits and the transfer to someone else); 'subset' kept the
      // range's first block: the blocks without token logs (empty, ETH only) were never asked again
      expect(hashCalls(liar).length).toBe(lie === 'empty' ? 5 : 4)
    }
  })

  test('behavior: a bloom false positive is fine once a node that has the block answers [] by hash', async () => {
    // every bit of every bloom set: every block "may" hold a Transfer; the empty ones are asked by hash
    const saturated = provider({ saturatedBlooms: true })
    const result = await driverFor([saturated.url]).scan({ ...range, watch: watch() })
    expect(amounts(result.transfers)).toEqual([1n, 2n, 3n, 4n])
    expect(hashCalls(saturated).length).toBe(12 - 5)
  })

  test('error: when no URL answers by hash for a block its bloom says may hold a deposit, the range fails (retryable), never moves on short', async () => {
    const liar = provider({
      lie: () => 'empty',
      fail: (call) =>
        call.method === 'eth_getLogs' && call.params?.[0]?.blockHash
          ? { code: -32000, message: 'unknown block' }
          : undefined,
    })
    await expect(driverFor([liar.url]).scan({ ...range, watch: watch() })).rejects.toMatchObject({
      name: 'DriverError',
      code: 'LOGS_INCOMPLETE',
      retryable: true,
    })
  })

  /**
   * Providers whose refusal names the limit (3 blocks here: taken as said) and those that name none (the 12-block
   * range halved: 6 refused, then 3 taken; a 5-block limit would be reached at 3 by the same halving).
   */
  const limits: Array<[LogsProvider, number, number]> = [
    ['alchemy', 3, 3],
    ['alchemy-response-size', 3, 3],
    ['infura', 3, 3],
    ['infura-results', 3, 3],
    ['quicknode', 3, 3],
    ['bsc', 3, 3],
    ['cloudflare', 3, 3],
    ['tenderly', 3, 3],
    ['avalanche', 3, 3],
    ['reth', 3, 3],
    ['quicknode', 5, 5],
    ['cloudflare', 5, 5],
    ['ankr', 3, 3],
    ['chainstack', 3, 3],
    ['bare-invalid-params', 3, 3],
    ['geth-results', 3, 3],
    ['ankr', 5, 3],
    ['geth-results', 5, 3],
  ]
  for (const [name, limit, learned] of limits)
    test(`behavior: ${name}'s refusal of ranges over ${limit} blocks is learned: the scan succeeds, and later ranges are asked in chunks of ${learned} without a refusal`, async () => {
      const limited = provider({ rangeLimit: { provider: name, limit } })
      const driver = driverFor([limited.url])
      const first = await driver.scan({ ...range, watch: watch() })
      expect(amounts(first.transfers)).toEqual([1n, 2n, 3n, 4n])
      expect(rangeCalls(limited).some((c) => c.refused)).toBe(true)

      limited.reset()
      const again = await driver.scan({ ...range, watch: watch() })
      expect(amounts(again.transfers)).toEqual([1n, 2n, 3n, 4n])
      const calls = rangeCalls(limited)
      expect(calls.filter((c) => c.refused)).toEqual([])
      expect(calls.length).toBe(Math.ceil(12 / learned))
      expect(Math.max(...calls.map((c) => c.span as number))).toBe(learned)
    })

  test('behavior: unknown errors are retried, then the next URL answers, and the following ranges start there', async () => {
    const broken = provider({
      fail: (call) =>
        call.method === 'eth_getLogs' ? { code: -32603, message: 'Internal error' } : undefined,
    })
    const healthy = provider()
    const driver = driverFor([broken.url, healthy.url])
    const first = await driver.scan({ ...range, watch: watch() })
    expect(amounts(first.transfers)).toEqual([1n, 2n, 3n, 4n])
    expect(rangeCalls(broken).length).toBe(2) // tried, retried, then the next URL
    expect(rangeCalls(healthy).length).toBe(1)

    broken.reset()
    await driver.scan({ ...range, watch: watch() })
    expect(broken.calls('eth_getLogs')).toBe(0)

    // alone, it fails the scan with a retryable error once its tries are spent
    const alone = provider({
      fail: (c) => (c.method === 'eth_getLogs' ? { code: -32603, message: 'Internal error' } : undefined),
    })
    await expect(driverFor([alone.url]).scan({ ...range, watch: watch() })).rejects.toMatchObject({
      name: 'DriverError',
      code: 'RPC_ERROR',
      retryable: true,
    })
    expect(alone.calls('eth_getLogs')).toBe(3)
  })
})
