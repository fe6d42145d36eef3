import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { ChainDriver } from '@tollgate/sdk'
import { mnemonicToAccount } from 'viem/accounts'
import { type Devnet, devnetChain, startDevnet } from '../../../test/helpers/chain.ts'
import { type EvmProvider, startEvmProvider } from '../../../test/stand-ins/evm-providers.ts'
import { anvilMnemonic } from '../../devnet.ts'
import { createEvmDriver } from './index.ts'
import { getTransferLogs } from './logs.ts'
import { evmOptionsSchema } from './options.ts'
import { createEvmRpc, rpcCost } from './rpc.ts'
import { call } from './rpc-errors.ts'

// The transport: batches as rpcBatchSize says, smaller ones (or none) for a URL that refuses them, every call and
// response byte counted, and WebSocket URLs as well as HTTP ones.

const ctx = { chain: 'devnet', log: { info() {}, warn() {}, error() {}, debug() {} } as never }
const account = (i: number) => mnemonicToAccount(anvilMnemonic, { addressIndex: i }).address
const toHex = (n: bigint) => `0x${n.toString(16)}`

let devnet: Devnet
let range: { from: bigint; to: bigint }
let payee: string
const providers: EvmProvider[] = []

function options(urls: string[], extra: Record<string, unknown> = {}) {
  return evmOptionsSchema.parse({
    chain: devnetChain,
    rpcUrls: urls,
    tokens: [{ symbol: 'USDT', address: devnet.tokenAddress, decimals: 6 }],
    timeoutMs: 2000,
    internalTransfers: 'off',
    ...extra,
  })
}
const driverFor = (urls: string[], extra: Record<string, unknown> = {}): ChainDriver =>
  createEvmDriver(options(urls, extra), ctx)

function provider(o: Parameters<typeof startEvmProvider>[1] = {}): EvmProvider {
  const p = startEvmProvider(devnet.url, o)
  providers.push(p)
  return p
}

const watch = () => new Set([payee.toLowerCase()])
const tokenAmounts = (transfers: { asset: string; amount: bigint }[]) =>
  transfers
    .filter((t) => t.asset.includes('/erc20:'))
    .map((t) => t.amount)
    .sort((a, b) => Number(a - b))

beforeAll(async () => {
  devnet = await startDevnet()
  payee = account(40)
  range = { from: (await devnet.height()) + 1n, to: 0n }
  await devnet.payToken(payee, 1n)
  await devnet.mine(4)
  // four native payments in four blocks: their receipts are the small calls a scan asks together
  for (const wei of [9n, 10n, 11n, 12n]) await devnet.payNative(payee, wei)
  await devnet.payToken(payee, 2n)
  await devnet.mine(3)
  range.to = await devnet.height()
}, 60_000)

afterAll(async () => {
  for (const p of providers) p.stop()
  await devnet?.stop()
})

describe('EVM RPC transport', () => {
  test('default: a scan batches the receipts it asks together (the node sees arrays), not its block reads; rpcBatchSize 1 sends none', async () => {
    const batching = provider()
    const result = await driverFor([batching.url]).scan({ ...range, watch: watch() })
    expect(tokenAmounts(result.transfers)).toEqual([1n, 2n])
    const batches = batching.requests.filter((r) => r.batch)
    expect(batches.length).toBeGreaterThan(0)
    expect(
      batches.some(
        (r) => r.calls.length > 1 && r.calls.every((c) => c.method === 'eth_getTransactionReceipt'),
      ),
    ).toBe(true)
    // large answers read in parallel are never held back in a batch
    expect(batches.some((r) => r.calls.some((c) => c.method === 'eth_getBlockByNumber'))).toBe(false)
    expect(
      result.transfers
        .filter((t) => t.index === -1)
        .map((t) => t.amount)
        .sort((a, b) => Number(a - b)),
    ).toEqual([9n, 10n, 11n, 12n])
    // fewer HTTP requests than calls
    expect(batching.requests.length).toBeLessThan(batching.calls())

    const single = provider()
    const same = await driverFor([single.url], { rpcBatchSize: 1 }).scan({ ...range, watch: watch() })
    expect(tokenAmounts(same.transfers)).toEqual([1n, 2n])
    expect(single.requests.filter((r) => r.batch)).toEqual([])
    expect(single.requests.length).toBe(single.calls())
  })

  test('behavior: a node refusing batches (geth\'s -32600 "batch too large") gets single calls from then on; Erigon\'s "batch limit N" gets batches of N', async () => {
    const geth = provider({ batchLimit: { shape: 'geth', limit: 2 } })
    const driver = driverFor([geth.url])
    expect(tokenAmounts((await driver.scan({ ...range, watch: watch() })).transfers)).toEqual([1n, 2n])
    expect(geth.batchRefusals()).toBe(1)
    geth.reset()
    expect(tokenAmounts((await driver.scan({ ...range, watch: watch() })).transfers)).toEqual([1n, 2n])
    expect(geth.batchRefusals()).toBe(0)
    expect(geth.requests.filter((r) => r.batch)).toEqual([])

    const erigon = provider({ batchLimit: { shape: 'erigon', limit: 3 } })
    const other = driverFor([erigon.url])
    expect(tokenAmounts((await other.scan({ ...range, watch: watch() })).transfers)).toEqual([1n, 2n])
    expect(erigon.batchRefusals()).toBe(1)
    erigon.reset()
    await other.scan({ ...range, watch: watch() })
    expect(erigon.batchRefusals()).toBe(0)
    const sizes = erigon.requests.filter((r) => r.batch).map((r) => r.calls.length)
    expect(sizes.length).toBeGreaterThan(0)
    expect(Math.max(...sizes)).toBe(3)
  })

  test('default: rpcCost counts every call (each of a batch) and every response byte the node sent', async () => {
    const counted = provider()
    const rpc = createEvmRpc(options([counted.url]))
    expect(rpcCost(rpc)).toEqual({ calls: 0, bytes: 0 })
    const heights: bigint[] = []
    for (let h = range.from; h <= range.to; h++) heights.push(h)
    const blocks = await Promise.all(
      heights.map((h) =>
        call<{ number: string; hash: string; logsBloom: string }>(rpc.client, 'eth_getBlockByNumber', [
          toHex(h),
          true,
        ]),
      ),
    )
    const logs = await getTransferLogs(rpc, {
      addresses: [devnet.tokenAddress.toLowerCase()],
      ...range,
      blocks,
    })
    expect(logs.length).toBe(2)
    const cost = rpcCost(rpc)
    expect(cost.calls).toBe(counted.calls())
    expect(cost.calls).toBe(heights.length + 1)
    expect(cost.bytes).toBe(counted.sentBytes())
    // a batch refused and sent again costs its calls twice: both went out
    const refusing = provider({ batchLimit: { shape: 'geth', limit: 1 } })
    const rpc2 = createEvmRpc(options([refusing.url]))
    await Promise.all(heights.map((h) => call(rpc2.client, 'eth_getBlockByNumber', [toHex(h), false])))
    expect(rpcCost(rpc2).calls).toBe(refusing.calls())
    expect(rpcCost(rpc2).bytes).toBe(refusing.sentBytes())
  })

  test('default: a WebSocket URL scans as HTTP does, and its calls are counted', async () => {
    const wsUrl = devnet.url.replace(/^http/, 'ws')
    const driver = driverFor([wsUrl])
    const result = await driver.scan({ ...range, watch: watch() })
    expect(tokenAmounts(result.transfers)).toEqual([1n, 2n])
    const rpc = createEvmRpc(options([wsUrl]))
    await call(rpc.client, 'eth_blockNumber', [])
    expect(rpcCost(rpc).calls).toBe(1)
    expect(rpcCost(rpc).bytes).toBeGreaterThan(0)
  })
})
