import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { DriverLogger, PayoutDriver } from '@tollgate/sdk'
import { createWalletClient, type Hex, http, parseAbi } from 'viem'
import { type Devnet, devnetChain, startDevnet } from '../../../test/helpers/chain.ts'
import definition from './index.ts'

// The payout pass asks the status of many transactions at once: the EVM driver sends those reads to the node
// as JSON-RPC batches, not one HTTP request each.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
let devnet: Devnet
let payouts: PayoutDriver
/** The JSON-RPC methods of each HTTP request that reached the node through the counting front. */
const requests: string[][] = []
let front: ReturnType<typeof Bun.serve>

beforeAll(async () => {
  devnet = await startDevnet()
  front = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const body = await req.text()
      const parsed = JSON.parse(body)
      requests.push((Array.isArray(parsed) ? parsed : [parsed]).map((c: { method: string }) => c.method))
      const res = await fetch(devnet.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      })
      return new Response(await res.text(), { headers: { 'content-type': 'application/json' } })
    },
  })
  const options = await definition.options['~standard'].validate({
    chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
    rpcUrls: [`http://127.0.0.1:${front.port}`],
    tokens: [{ symbol: 'USDT', address: devnet.tokenAddress, decimals: 6 }],
    timeoutMs: 5000,
  })
  if (options.issues) throw new Error(JSON.stringify(options.issues))
  payouts = (await definition.create(options.value, { chain: 'devnet', log: silent })).payouts!
}, 60_000)
afterAll(async () => {
  front?.stop(true)
  await devnet.stop()
})

describe('EVM payout statuses', () => {
  test('behavior: the statuses of many transactions asked together are read in one batched request, each answered as alone', async () => {
    const wallet = createWalletClient({
      account: devnet.payer,
      chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
      transport: http(devnet.url),
    })
    const erc20 = parseAbi(['function transfer(address to, uint256 value) returns (bool)'])
    const hashes: Hex[] = []
    for (let i = 1; i <= 12; i++)
      hashes.push(
        await wallet.writeContract({
          address: devnet.tokenAddress,
          abi: erc20,
          functionName: 'transfer',
          args: [`0x${i.toString(16).padStart(40, '0')}`, BigInt(i)],
        }),
      )
    const receipts = await Promise.all(
      hashes.map((hash) => devnet.client.waitForTransactionReceipt({ hash })),
    )
    const nobody = `0x${'ab'.repeat(32)}`
    requests.length = 0

    const statuses = await Promise.all([...hashes, nobody].map((hash) => payouts.status(hash)))
    expect(statuses).toEqual([
      ...receipts.map((r) => ({
        state: 'mined' as const,
        success: true,
        blockHeight: r.blockNumber,
        fee: r.gasUsed * r.effectiveGasPrice,
      })),
      { state: 'unknown' },
    ])
    // thirteen receipts in one request (and the one without a receipt asked for its transaction after)
    const receiptReads = requests.filter((r) => r.includes('eth_getTransactionReceipt'))
    expect(receiptReads).toEqual([Array(13).fill('eth_getTransactionReceipt')])
    expect(requests.flat().filter((m) => m === 'eth_getTransactionByHash')).toHaveLength(1)
  })
})
