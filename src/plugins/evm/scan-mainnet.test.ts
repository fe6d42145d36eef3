import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChainDriver, Transfer } from '@tollgate/sdk'
import { getAddress } from 'viem'
import { evmFixtureDir, loadEvmFixture, startEvmReplay } from '../../../test/helpers/evm-replay.ts'
import definition from './index.ts'
import { transferTopic } from './logs.ts'

const USDT = '0xdac17f958d2ee523a2206206994597c13d831ec7'
const USDC = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48'
const heights = [11098450, 15753009]

let replay: ReturnType<typeof startEvmReplay>
let driver: ChainDriver

/** An Ethereum driver over the replay (USDT and USDC configured), with `extra` options on top. */
async function replayDriver(extra: Record<string, unknown> = {}): Promise<ChainDriver> {
  const options = await definition.options['~standard'].validate({
    chain: { id: 1, name: 'Ethereum', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
    rpcUrls: [replay.url],
    tokens: [
      { symbol: 'USDT', address: '0xdAC17F958D2ee523a2206206994597C13D831ec7', decimals: 6 },
      { symbol: 'USDC', address: '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', decimals: 6 },
    ],
    ...extra,
  })
  if (options.issues) expect.unreachable(JSON.stringify(options.issues))
  return definition.create(options.value, { chain: 'ethereum', log: console as never })
}

beforeAll(async () => {
  replay = startEvmReplay(heights)
  driver = await replayDriver()
})
afterAll(() => replay.stop())

/** What the scan must find, worked out straight from the recordings without the driver's code. */
function expected(height: number, watch: ReadonlySet<string>) {
  const { block, receipts } = loadEvmFixture(height)
  const status = new Map(receipts.map((r) => [r.transactionHash, r.status]))
  const native = block.transactions
    .filter(
      (t) => t.to && watch.has(t.to.toLowerCase()) && BigInt(t.value) > 0n && status.get(t.hash) === '0x1',
    )
    .map((t) => `${t.hash}:-1:eip155:1/slip44:60:${t.to!.toLowerCase()}:${BigInt(t.value)}`)
  const tokens = receipts
    .filter((r) => r.status === '0x1')
    .flatMap((r) => r.logs)
    .filter((l) => [USDT, USDC].includes(l.address) && l.topics[0] === transferTopic && l.topics.length === 3)
    .map((l) => ({ l, to: `0x${l.topics[2]!.slice(26)}` }))
    .filter(({ l, to }) => watch.has(to) && BigInt(l.data) > 0n)
    .map(
      ({ l, to }) =>
        `${l.transactionHash}:${BigInt(l.logIndex)}:eip155:1/erc20:${l.address}:${to}:${BigInt(l.data)}`,
    )
  return [...native, ...tokens].sort()
}

/** A watch set from the block itself: every token and native recipient, including ones of failed and unconfigured-token transactions. */
function watchFor(height: number) {
  const { block, receipts } = loadEvmFixture(height)
  const watch = new Set<string>()
  for (const t of block.transactions) if (t.to && BigInt(t.value) > 0n) watch.add(t.to.toLowerCase())
  for (const r of receipts)
    for (const l of r.logs)
      if (l.topics[0] === transferTopic && l.topics.length === 3) watch.add(`0x${l.topics[2]!.slice(26)}`)
  return { watch, block, receipts }
}

const key = (t: Transfer) => `${t.txHash}:${t.index}:${t.asset}:${t.to}:${t.amount}`

describe('EVM scan against real mainnet blocks', () => {
  for (const height of heights) {
    test(`default: block ${height}: exactly the USDT/USDC and native transfers into the watch set`, async () => {
      const { watch, block } = watchFor(height)
      const result = await driver.scan({ from: BigInt(height), to: BigInt(height), watch })
      const want = expected(height, watch)
      expect(want.length).toBeGreaterThan(40)
      expect(result.transfers.map(key).sort()).toEqual(want)
      expect(result.blocks).toEqual([
        {
          height: BigInt(height),
          hash: block.hash,
          parentHash: block.parentHash,
          time: Number(BigInt(block.timestamp)),
        },
      ])
      for (const t of result.transfers) expect(t.block.hash).toBe(block.hash)
      // and agrees with the recorded eth_getLogs answer for USDT/USDC (49 and 34 transfers)
      const recorded = JSON.parse(
        readFileSync(
          join(evmFixtureDir, `eth_mainnet_${height}_eth_getLogs_usdt_usdc_transfers.derived.json`),
          'utf8',
        ),
      ) as Array<{ transactionHash: string; logIndex: string; data: string }>
      const tokenKeys = result.transfers
        .filter((t) => t.index >= 0)
        .map((t) => `${t.txHash}:${t.index}:${t.amount}`)
      expect(tokenKeys.sort()).toEqual(
        recorded
          .filter((l) => BigInt(l.data) > 0n)
          .map((l) => `${l.transactionHash}:${BigInt(l.logIndex)}:${BigInt(l.data)}`)
          .sort(),
      )
    })
  }

  for (const height of heights)
    test(`default: block ${height}: each transfer's senders are its transaction's sender and the event's from, checksummed, once`, async () => {
      const { watch, block, receipts } = watchFor(height)
      const sender = new Map(block.transactions.map((t) => [t.hash, t.from]))
      const logs = new Map(
        receipts.flatMap((r) => r.logs.map((l) => [`${l.transactionHash}:${BigInt(l.logIndex)}`, l])),
      )
      const result = await driver.scan({ from: BigInt(height), to: BigInt(height), watch })
      let differ = 0
      for (const t of result.transfers) {
        const txFrom = sender.get(t.txHash) as string
        const log = logs.get(`${t.txHash}:${t.index}`)
        const payers = t.index === -1 ? [txFrom] : [txFrom, `0x${log!.topics[1]!.slice(26)}`]
        expect(t.senders, `${t.txHash}:${t.index}`).toEqual([...new Set(payers.map((a) => getAddress(a)))])
        for (const s of t.senders ?? [])
          expect(driver.validateAddress(s)).toEqual({ ok: true, normalized: s })
        if ((t.senders?.length ?? 0) > 1) differ++
      }
      // both kinds are in the block: tokens moved by their owner, and by a contract or spender for another
      expect(differ).toBeGreaterThan(0)
      expect(result.transfers.some((t) => t.index >= 0 && t.senders?.length === 1)).toBe(true)
    })

  test('behavior: real transfers not sent by the token owner list both: a transferFrom and a router swap', async () => {
    // 0xf7d7…16dc calls USDT directly (to = the token) from 0x292f…, moving 4363.53 USDT of 0x9387… to itself
    const pulled = await driver.scan({
      from: 15753009n,
      to: 15753009n,
      watch: new Set(['0x292f04a44506c2fd49bac032e1ca148c35a478c8']),
    })
    expect(pulled.transfers.map((t) => [t.txHash, t.index, t.amount, t.senders])).toEqual([
      [
        '0xf7d73e3edbd164a4b8b53228692ea3117980fa47e02b4385801b5b15eb6916dc',
        0x19,
        4_363_530_000n,
        ['0x292f04a44506c2fd49Bac032E1ca148C35A478c8', '0x93871a7CD23cebD342B9Db5d021855c7EEd0F02A'],
      ],
    ])
    // 0xfc3a…fd15: 0x3404… swaps through the Uniswap V2 router; the USDT comes out of the pair 0x2cc6…
    const swapped = await driver.scan({
      from: 11098450n,
      to: 11098450n,
      watch: new Set(['0x3404f5aa14b1e95a7f9a3bcb7f095b1e6f814ec4']),
    })
    expect(swapped.transfers.map((t) => [t.txHash, t.index, t.amount, t.senders])).toEqual([
      [
        '0xfc3ab891eaebbc220c0fea098d6b8adff29f1b57ad0372dac12730cbb44dfd15',
        0xff,
        387_298_849n,
        ['0x3404F5aa14b1e95A7F9A3bcB7f095b1E6f814eC4', '0x2CC61dA33Bc68e541ED9e4BcE07AD3FD3d37ff60'],
      ],
    ])
  })

  test('behavior: senders cost no call: one eth_getBlockByNumber, one eth_getLogs and, for 74 native matches, one eth_getBlockReceipts', async () => {
    const { watch, block } = watchFor(15753009)
    const before = { ...replay.calls }
    const result = await driver.scan({ from: 15753009n, to: 15753009n, watch })
    const made = Object.fromEntries(
      Object.entries(replay.calls)
        .map(([m, n]) => [m, n - (before[m] ?? 0)])
        .filter(([, n]) => (n as number) > 0),
    )
    const nativeMatches = block.transactions.filter(
      (t) => t.to && watch.has(t.to.toLowerCase()) && BigInt(t.value) > 0n,
    ).length
    expect(nativeMatches).toBe(74)
    expect(made).toEqual({ eth_getBlockByNumber: 1, eth_getLogs: 1, eth_getBlockReceipts: 1 })
    expect(result.transfers.every((t) => Array.isArray(t.senders) && t.senders.length > 0)).toBe(true)
  })

  for (const height of heights)
    test(`behavior: block ${height} token-only: the same token transfers from headers, logs and one lookup per matched transaction`, async () => {
      const tokenOnly = await replayDriver({ nativeDeposits: false })
      const { watch } = watchFor(height)
      const full = await driver.scan({ from: BigInt(height), to: BigInt(height), watch })
      const before = { ...replay.calls }
      const result = await tokenOnly.scan({ from: BigInt(height), to: BigInt(height), watch })
      const made = Object.fromEntries(
        Object.entries(replay.calls)
          .map(([m, n]) => [m, n - (before[m] ?? 0)])
          .filter(([, n]) => (n as number) > 0),
      )
      const tokens = full.transfers.filter((t) => t.index >= 0)
      expect(result.transfers.map(key).sort()).toEqual(tokens.map(key).sort())
      expect(result.transfers.map((t) => t.senders)).toEqual(
        result.transfers.map((t) => tokens.find((f) => key(f) === key(t))?.senders),
      )
      expect(result.blocks).toEqual(full.blocks)
      expect(made.eth_getBlockByNumber).toBe(1)
      expect(made.eth_getLogs).toBe(1)
      expect(made.eth_getTransactionByHash).toBe(new Set(tokens.map((t) => t.txHash)).size)
      expect(made.eth_getTransactionReceipt ?? 0).toBe(0)
      expect(result.cost?.bytes).toBeLessThan(full.cost?.bytes ?? 0)
    })

  test('behavior: the failed transaction carrying value to a watched address is ignored', async () => {
    const { watch, block, receipts } = watchFor(11098450)
    const failedWithValue = block.transactions.filter(
      (t) => BigInt(t.value) > 0n && receipts.find((r) => r.transactionHash === t.hash)?.status === '0x0',
    )
    expect(failedWithValue.length).toBe(1)
    expect(watch.has(failedWithValue[0]!.to!.toLowerCase())).toBe(true)
    const result = await driver.scan({ from: 11098450n, to: 11098450n, watch })
    expect(result.transfers.some((t) => t.txHash === failedWithValue[0]!.hash)).toBe(false)
  })

  test('behavior: Transfer logs of tokens not in config never count', async () => {
    const { watch, receipts } = watchFor(15753009)
    const others = receipts
      .flatMap((r) => r.logs)
      .filter((l) => l.topics[0] === transferTopic && ![USDT, USDC].includes(l.address))
    expect(others.length).toBeGreaterThan(100)
    const result = await driver.scan({ from: 15753009n, to: 15753009n, watch })
    const otherTx = new Set(others.map((l) => `${l.transactionHash}:${BigInt(l.logIndex)}`))
    expect(result.transfers.filter((t) => otherTx.has(`${t.txHash}:${t.index}`))).toEqual([])
  })

  test('behavior: receipts are fetched only for matched native transactions', async () => {
    const before = replay.calls.eth_getTransactionReceipt ?? 0
    const watch = new Set([USDT]) // a contract: no native value goes to it in these blocks
    await driver.scan({ from: 15753009n, to: 15753009n, watch })
    expect((replay.calls.eth_getTransactionReceipt ?? 0) - before).toBe(0)
  })

  test('args: an empty watch set finds nothing but still reports the block', async () => {
    const result = await driver.scan({ from: 11098450n, to: 11098450n, watch: new Set() })
    expect(result.transfers).toEqual([])
    expect(result.blocks.length).toBe(1)
  })

  test('behavior: a dead first RPC URL fails over to the next one', async () => {
    const failover = await replayDriver({ rpcUrls: ['http://127.0.0.1:9', replay.url], timeoutMs: 1000 })
    const { watch } = watchFor(15753009)
    const result = await failover.scan({ from: 15753009n, to: 15753009n, watch })
    expect(result.blocks[0]?.height).toBe(15753009n)
    expect(result.transfers.length).toBeGreaterThan(10)
  })

  test('error: a block the node does not have is a retryable DriverError', async () => {
    await expect(driver.scan({ from: 1n, to: 1n, watch: new Set() })).rejects.toMatchObject({
      name: 'DriverError',
      retryable: true,
    })
  })
})
