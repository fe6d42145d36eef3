import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createWalletClient, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { type Devnet, devnetChain, devnetDriver, startDevnet } from '../../../test/helpers/chain.ts'
import { methodNotFound, startJsonRpcProxy } from '../../../test/helpers/json-rpc-proxy.ts'
import { blockReceiptsFrom } from './receipts.ts'

const _ctx = { chain: 'devnet', log: { debug() {}, info() {}, warn() {}, error() {} } }

let devnet: Devnet

beforeAll(async () => {
  devnet = await startDevnet()
})
afterAll(async () => {
  await devnet?.stop()
})

const driverFor = (url: string, extra: Record<string, unknown> = {}) => devnetDriver(devnet, url, extra)

const freshAddress = () => privateKeyToAccount(generatePrivateKey()).address

/** Pays each recipient `value` wei from the devnet's payer, all in one block; answers the block's height. */
async function payAllInOneBlock(recipients: readonly Hex[], value: bigint): Promise<bigint> {
  const wallet = createWalletClient({
    account: devnet.payer,
    chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
    transport: http(devnet.url),
  })
  await devnet.test.setAutomine(false)
  const hashes: Hex[] = []
  try {
    const nonce = await devnet.client.getTransactionCount({
      address: devnet.payer.address,
      blockTag: 'pending',
    })
    for (const [i, to] of recipients.entries())
      hashes.push(await wallet.sendTransaction({ to, value, nonce: nonce + i, gas: 21_000n }))
    await devnet.mine(1)
  } finally {
    await devnet.test.setAutomine(true)
  }
  const receipts = await Promise.all(hashes.map((hash) => devnet.client.getTransactionReceipt({ hash })))
  const height = receipts[0]!.blockNumber
  for (const r of receipts) expect([r.blockNumber, r.status]).toEqual([height, 'success'])
  return height
}

describe('what a scan asks', () => {
  test('default: token-only mode reads headers and logs, and the sender of the matched log alone; no ETH is looked for', async () => {
    const watched = freshAddress()
    const first = await devnet.payToken(watched, 1_500_000n)
    await devnet.payToken(freshAddress(), 2_000_000n) // in range, not watched
    const last = await devnet.payNative(watched, 10n ** 15n) // ETH: not looked for
    const proxy = startJsonRpcProxy(devnet.url)
    try {
      const driver = driverFor(proxy.url, { nativeDeposits: false })
      expect(await driver.detectionModes?.()).toEqual({ nativeDeposits: 'off', internalTransfers: 'off' })
      const watch = new Set([watched.toLowerCase()])
      const result = await driver.scan({ from: first.blockNumber, to: last.blockNumber, watch })
      expect(result.transfers.map((t) => [t.txHash, t.asset, t.amount, t.senders])).toEqual([
        [
          first.transactionHash,
          `eip155:31337/erc20:${devnet.tokenAddress.toLowerCase()}`,
          1_500_000n,
          [devnet.payer.address],
        ],
      ])
      const blockCalls = proxy.callsOf('eth_getBlockByNumber')
      expect(blockCalls.length).toBe(Number(last.blockNumber - first.blockNumber) + 1)
      for (const c of blockCalls) expect(c.params[1]).toBe(false)
      expect(proxy.callsOf('eth_getTransactionByHash').map((c) => c.params[0])).toEqual([
        first.transactionHash,
      ])
      const asked = new Set(proxy.calls.map((c) => c.method))
      for (const method of [
        'eth_getTransactionReceipt',
        'eth_getBlockReceipts',
        'eth_getBalance',
        'debug_traceBlockByNumber',
        'trace_block',
      ])
        expect(asked.has(method)).toBe(false)
      // the same token transfer as a full scan reports it
      const full = await driverFor(devnet.url).scan({ from: first.blockNumber, to: last.blockNumber, watch })
      expect(full.transfers.filter((t) => t.index >= 0)).toEqual(result.transfers)
    } finally {
      proxy.stop()
    }
  })

  test('behavior: receipts of the matched transactions are asked together, in one request', async () => {
    const recipients = Array.from({ length: blockReceiptsFrom - 1 }, freshAddress)
    const height = await payAllInOneBlock(recipients, 777n)
    const proxy = startJsonRpcProxy(devnet.url)
    try {
      const watch = new Set(recipients.map((r) => r.toLowerCase()))
      const result = await driverFor(proxy.url, { internalTransfers: 'off' }).scan({
        from: height,
        to: height,
        watch,
      })
      expect(result.transfers.map((t) => t.to).sort()).toEqual([...watch].sort())
      const receiptRequests = proxy.requests.filter((r) =>
        r.some((c) => c.method === 'eth_getTransactionReceipt'),
      )
      expect(
        receiptRequests.map((r) => r.filter((c) => c.method === 'eth_getTransactionReceipt').length),
      ).toEqual([recipients.length])
    } finally {
      proxy.stop()
    }
  })

  test('behavior: a block where many transactions match has its receipts read in one eth_getBlockReceipts; a node without it gets one call each', async () => {
    const recipients = Array.from({ length: blockReceiptsFrom }, freshAddress)
    const height = await payAllInOneBlock(recipients, 555n)
    const watch = new Set(recipients.map((r) => r.toLowerCase()))
    const withMethod = startJsonRpcProxy(devnet.url)
    const without = startJsonRpcProxy(devnet.url, {
      before: (c) => (c.method === 'eth_getBlockReceipts' ? methodNotFound(c.method) : undefined),
    })
    try {
      const whole = await driverFor(withMethod.url, { internalTransfers: 'off' }).scan({
        from: height,
        to: height,
        watch,
      })
      expect(whole.transfers.map((t) => t.to).sort()).toEqual([...watch].sort())
      expect(withMethod.callsOf('eth_getBlockReceipts').length).toBe(1)
      expect(withMethod.callsOf('eth_getTransactionReceipt').length).toBe(0)

      const driver = driverFor(without.url, { internalTransfers: 'off' })
      const oneByOne = await driver.scan({ from: height, to: height, watch })
      expect(oneByOne.transfers).toEqual(whole.transfers)
      expect(without.callsOf('eth_getTransactionReceipt').length).toBe(recipients.length)
      // learnt: the next scan does not ask for the method again
      await driver.scan({ from: height, to: height, watch })
      expect(without.callsOf('eth_getBlockReceipts').length).toBe(1)
      expect(without.callsOf('eth_getTransactionReceipt').length).toBe(2 * recipients.length)
    } finally {
      withMethod.stop()
      without.stop()
    }
  })

  test('behavior: with call traces a matched transaction needs no receipt: its trace says whether it succeeded', async () => {
    const watched = freshAddress()
    const paid = await devnet.payNative(watched, 4242n)
    const proxy = startJsonRpcProxy(devnet.url)
    try {
      const driver = driverFor(proxy.url, { internalTransfers: 'traces' })
      const h = paid.blockNumber
      const result = await driver.scan({ from: h, to: h, watch: new Set([watched.toLowerCase()]) })
      expect(result.transfers.map((t) => [t.txHash, t.index, t.amount])).toEqual([
        [paid.transactionHash, -1, 4242n],
      ])
      expect(proxy.callsOf('eth_getTransactionReceipt').length).toBe(0)
      expect(proxy.callsOf('eth_getBlockReceipts').length).toBe(0)
    } finally {
      proxy.stop()
    }
  })

  test('default: the result carries what the range cost: every call the node saw, and the bytes it answered', async () => {
    const watched = freshAddress()
    const first = await devnet.payNative(watched, 1n)
    const last = await devnet.payToken(watched, 2n)
    const proxy = startJsonRpcProxy(devnet.url)
    try {
      const driver = driverFor(proxy.url, { internalTransfers: 'off' })
      const result = await driver.scan({
        from: first.blockNumber,
        to: last.blockNumber,
        watch: new Set([watched.toLowerCase()]),
      })
      expect(result.transfers.length).toBe(2)
      expect(result.cost?.calls).toBe(proxy.calls.length)
      expect(result.cost?.bytes).toBeGreaterThan(0)
    } finally {
      proxy.stop()
    }
  })
})
