import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Transfer } from '@tollgate/sdk'
import { createWalletClient, getAddress, type Hex, http, type TransactionReceipt } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { type Devnet, devnetChain, devnetDriver, startDevnet } from '../../../test/helpers/chain.ts'
import { deployContractWallets } from '../../../test/helpers/contract-wallets.ts'
import { methodNotFound, startJsonRpcProxy } from '../../../test/helpers/json-rpc-proxy.ts'
import { evmAssets } from './assets.ts'
import { balanceIndexes } from './balance-mode.ts'
import { createInternalTransfers } from './internal.ts'
import { evmOptionsSchema } from './options.ts'
import { createEvmRpc } from './rpc.ts'
import { scanEvmRange } from './scan.ts'

const ctx = { chain: 'devnet', log: { debug() {}, info() {}, warn() {}, error() {} } }
const eth = 'eip155:31337/slip44:60'

let devnet: Devnet

beforeAll(async () => {
  devnet = await startDevnet()
})
afterAll(async () => {
  await devnet?.stop()
})

const driverFor = (url: string, extra: Record<string, unknown> = {}) => devnetDriver(devnet, url, extra)

/** An address nobody has used: its balance is what the test pays it. */
const freshAddress = () => privateKeyToAccount(generatePrivateKey()).address

const key = (t: Transfer) =>
  `${t.txHash}:${t.index}:${t.to}:${t.amount}:${t.from ?? ''}:${t.senders?.join('+')}`
const sortedKeys = (ts: readonly Transfer[]) => ts.map(key).sort()

/** Hides the trace methods a node lacks: they answer -32601 as geth, erigon and anvil do for unknown methods. */
function nodeWithout(...methods: string[]) {
  return startJsonRpcProxy(devnet.url, {
    before: (c) => (methods.includes(c.method) ? methodNotFound(c.method) : undefined),
  })
}

/**
 * Pays `recipient` by internal transfers only, one transaction per block: through a forwarder (5000 wei), from a
 * Safe-like wallet (7000), a payment undone by its caller's revert in a successful transaction (9000, must not
 * count), a payment in a failed transaction (11000, must not count) and a self-destruct in its favour (13000).
 */
async function payInternally(recipient: Hex) {
  const w = await deployContractWallets(devnet, { forwardTo: recipient, walletFunds: 10n ** 18n })
  const forwarded = await w.payThroughForwarder(5000n)
  const executed = await w.executeFromWallet(recipient, 7000n)
  const undone = await w.paymentUndoneInSuccessfulTx(recipient, 9000n)
  const failed = await w.paymentInFailedTx(recipient, 11_000n)
  const departed = await w.selfDestructTo(recipient, 13_000n)
  expect([forwarded, executed, undone, failed, departed].map((r) => r.status)).toEqual([
    'success',
    'success',
    'success',
    'reverted',
    'success',
  ])
  expect(await devnet.client.getBalance({ address: recipient })).toBe(5000n + 7000n + 13_000n)
  return {
    w,
    forwarded,
    executed,
    undone,
    failed,
    departed,
    from: forwarded.blockNumber,
    to: departed.blockNumber,
  }
}

/** What traces should show for `payInternally`: each counted payment as the first value-moving frame (-2). */
function tracedExpectation(recipient: Hex, paid: Awaited<ReturnType<typeof payInternally>>): string[] {
  const owner = paid.w.owner.address
  const row = (r: TransactionReceipt, payer: Hex, amount: bigint): Transfer => ({
    txHash: r.transactionHash,
    index: -2,
    block: undefined as never,
    asset: eth,
    to: recipient.toLowerCase(),
    from: payer.toLowerCase(),
    senders: [getAddress(owner), getAddress(payer)],
    amount,
  })
  return sortedKeys([
    row(paid.forwarded, paid.w.forwarder, 5000n),
    row(paid.executed, paid.w.ownedWallet, 7000n),
    row(paid.departed, paid.departed.to as Hex, 13_000n),
  ])
}

describe('internal transfers from call traces', () => {
  test('default: a forwarder, a Safe-like wallet and a self-destruct paying a watched address are found; value undone by a revert or in a failed transaction is not', async () => {
    const recipient = freshAddress()
    const paid = await payInternally(recipient)
    const driver = driverFor(devnet.url)
    expect(await driver.detectionModes?.()).toEqual({
      nativeDeposits: 'on',
      internalTransfers: 'traces:debug_traceBlockByNumber',
    })
    const result = await driver.scan({
      from: paid.from,
      to: paid.to,
      watch: new Set([recipient.toLowerCase()]),
    })
    expect(sortedKeys(result.transfers)).toEqual(tracedExpectation(recipient, paid))
    for (const t of result.transfers) {
      expect(t.asset).toBe(eth)
      const block = await devnet.client.getBlock({ blockNumber: t.block.height })
      expect(t.block.hash).toBe(block.hash)
    }
  })

  test('behavior: a node with trace_block only gives the same transfers with the same identities', async () => {
    const recipient = freshAddress()
    const paid = await payInternally(recipient)
    const parity = nodeWithout('debug_traceBlockByNumber')
    try {
      const driver = driverFor(parity.url, { internalTransfers: 'traces' })
      const watch = new Set([recipient.toLowerCase()])
      const result = await driver.scan({ from: paid.from, to: paid.to, watch })
      expect((await driver.detectionModes?.())?.internalTransfers).toBe('traces:trace_block')
      expect(parity.callsOf('trace_block').length).toBeGreaterThan(0)
      expect(sortedKeys(result.transfers)).toEqual(tracedExpectation(recipient, paid))
      // geth's tracer over the same blocks: the same (txHash, index) for each transfer
      const geth = await driverFor(devnet.url, { internalTransfers: 'traces' }).scan({
        from: paid.from,
        to: paid.to,
        watch,
      })
      expect(sortedKeys(geth.transfers)).toEqual(sortedKeys(result.transfers))
    } finally {
      parity.stop()
    }
  })

  test('behavior: a top-level payment and an internal one in the same range are both counted, each once', async () => {
    const recipient = freshAddress()
    const w = await deployContractWallets(devnet, { forwardTo: recipient, walletFunds: 10n ** 18n })
    const direct = await devnet.payNative(recipient, 100n)
    const forwarded = await w.payThroughForwarder(5000n)
    const watch = new Set([recipient.toLowerCase()])
    const result = await driverFor(devnet.url).scan({
      from: direct.blockNumber,
      to: forwarded.blockNumber,
      watch,
    })
    expect(result.transfers.map((t) => [t.txHash, t.index, t.amount])).toEqual([
      [direct.transactionHash, -1, 100n],
      [forwarded.transactionHash, -2, 5000n],
    ])
  })

  test('error: internalTransfers traces on a node with neither trace method fails the scan, not retryable', async () => {
    const bare = nodeWithout('debug_traceBlockByNumber', 'trace_block')
    try {
      const height = await devnet.height()
      const driver = driverFor(bare.url, { internalTransfers: 'traces' })
      await expect(
        driver.scan({ from: height, to: height, watch: new Set([freshAddress().toLowerCase()]) }),
      ).rejects.toMatchObject({ name: 'DriverError', code: 'RPC_UNSUPPORTED', retryable: false })
    } finally {
      bare.stop()
    }
  })
})

describe('internal transfers from balances', () => {
  test('default: forced balance mode finds the same arrivals by block: the block hash names them, no sender', async () => {
    const recipient = freshAddress()
    const paid = await payInternally(recipient)
    const driver = driverFor(devnet.url, { internalTransfers: 'balance' })
    expect((await driver.detectionModes?.())?.internalTransfers).toBe('balance')
    const watch = new Set([recipient.toLowerCase()])
    const result = await driver.scan({ from: paid.from, to: paid.to, watch })
    const index = balanceIndexes([recipient.toLowerCase()]).get(recipient.toLowerCase()) as number
    expect(index).toBeLessThan(-1)
    const blockHash = async (r: TransactionReceipt) =>
      (await devnet.client.getBlock({ blockNumber: r.blockNumber })).hash
    expect(
      result.transfers.map((t) => [t.txHash, t.index, t.block.height, t.to, t.amount, t.senders]),
    ).toEqual([
      [
        await blockHash(paid.forwarded),
        index,
        paid.forwarded.blockNumber,
        recipient.toLowerCase(),
        5000n,
        [],
      ],
      [await blockHash(paid.executed), index, paid.executed.blockNumber, recipient.toLowerCase(), 7000n, []],
      [
        await blockHash(paid.departed),
        index,
        paid.departed.blockNumber,
        recipient.toLowerCase(),
        13_000n,
        [],
      ],
    ])
    // scanned again, block by block: the same identities
    const again: Transfer[] = []
    for (let h = paid.from; h <= paid.to; h++)
      again.push(...(await driver.scan({ from: h, to: h, watch })).transfers)
    expect(sortedKeys(again)).toEqual(sortedKeys(result.transfers))
  })

  test('behavior: in one block, a top-level payment, an internal one and the address spending (value and fee) leave exactly the internal arrival', async () => {
    const spender = privateKeyToAccount(generatePrivateKey())
    const recipient = spender.address
    const w = await deployContractWallets(devnet, { forwardTo: recipient, walletFunds: 10n ** 18n })
    await devnet.payNative(recipient, 10n ** 17n) // gas money, before the block under test
    const chain = { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } }
    const transport = http(devnet.url)
    const payerWallet = createWalletClient({ account: devnet.payer, chain, transport })
    const ownerWallet = createWalletClient({ account: w.owner, chain, transport })
    const spenderWallet = createWalletClient({ account: spender, chain, transport })
    await devnet.test.setAutomine(false)
    let hashes: [Hex, Hex, Hex]
    try {
      const payerNonce = await devnet.client.getTransactionCount({
        address: devnet.payer.address,
        blockTag: 'pending',
      })
      hashes = [
        await payerWallet.sendTransaction({ to: recipient, value: 100n, nonce: payerNonce }),
        await ownerWallet.sendTransaction({ to: w.forwarder, value: 5000n, gas: 100_000n }),
        await spenderWallet.sendTransaction({ to: freshAddress(), value: 3n * 10n ** 15n, gas: 21_000n }),
      ]
      await devnet.mine(1)
    } finally {
      await devnet.test.setAutomine(true)
    }
    const receipts = await Promise.all(hashes.map((hash) => devnet.client.getTransactionReceipt({ hash })))
    const height = receipts[0]!.blockNumber
    for (const r of receipts) expect([r.blockNumber, r.status]).toEqual([height, 'success'])
    const watch = new Set([recipient.toLowerCase()])
    const block = await devnet.client.getBlock({ blockNumber: height })
    const index = balanceIndexes([recipient.toLowerCase()]).get(recipient.toLowerCase()) as number

    const balance = await driverFor(devnet.url, { internalTransfers: 'balance' }).scan({
      from: height,
      to: height,
      watch,
    })
    expect(balance.transfers.map((t) => [t.txHash, t.index, t.amount])).toEqual([
      [hashes[0], -1, 100n],
      [block.hash, index, 5000n],
    ])
    const traced = await driverFor(devnet.url).scan({ from: height, to: height, watch })
    expect(traced.transfers.map((t) => [t.txHash, t.index, t.amount])).toEqual([
      [hashes[0], -1, 100n],
      [hashes[1], -2, 5000n],
    ])
  })

  test('behavior: more watched addresses than the cap: each range checks a window of them, the next range the next window', async () => {
    const recipients = [freshAddress(), freshAddress(), freshAddress()]
    const walletsOf = await Promise.all(
      recipients.map((r, i) =>
        deployContractWallets(devnet, { forwardTo: r, walletFunds: 0n, accountIndex: 4 + i }),
      ),
    )
    const first = await walletsOf[0]!.payThroughForwarder(1000n)
    await walletsOf[1]!.payThroughForwarder(2000n)
    const last = await walletsOf[2]!.payThroughForwarder(3000n)
    const options = evmOptionsSchema.parse({ chain: devnetChain, rpcUrls: [devnet.url] })
    const warnings: object[] = []
    const internal = createInternalTransfers('balance', {
      balanceCap: 2,
      log: { ...ctx.log, warn: (o: object) => warnings.push(o) },
    })
    const config = { native: evmAssets(options).native, tokens: new Map(), concurrency: 2, internal }
    const rpc = createEvmRpc(options)
    const watch = new Set(recipients.map((r) => r.toLowerCase()))
    const range = { from: first.blockNumber, to: last.blockNumber, watch }
    const firstPass = await scanEvmRange(rpc, config, range)
    const secondPass = await scanEvmRange(rpc, config, range)
    const found = (ts: Transfer[]) => ts.map((t) => t.to).sort()
    const sorted = [...watch].sort()
    expect(found(firstPass.transfers)).toEqual(sorted.slice(0, 2))
    expect(found(secondPass.transfers)).toEqual([sorted[2]!, sorted[0]!].sort())
    expect(warnings).toEqual([
      { watched: 3, checked: 2, cap: 2 },
      { watched: 3, checked: 2, cap: 2 },
    ])
  })
})

describe('choosing the mode', () => {
  test('default: auto on a node without traces asks once, then compares balances; the mode reads auto until the node answers', async () => {
    const recipient = freshAddress()
    const w = await deployContractWallets(devnet, { forwardTo: recipient, walletFunds: 0n })
    const forwarded = await w.payThroughForwarder(4321n)
    const bare = nodeWithout('debug_traceBlockByNumber', 'trace_block')
    const down = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () => new Response('down', { status: 503 }),
    })
    try {
      // a node that cannot be asked: the setting shows, and nothing is decided
      const unreachable = driverFor(`http://127.0.0.1:${down.port}`, { timeoutMs: 500 })
      expect((await unreachable.detectionModes?.())?.internalTransfers).toBe('auto')

      const driver = driverFor(bare.url)
      const watch = new Set([recipient.toLowerCase()])
      const h = forwarded.blockNumber
      const first = await driver.scan({ from: h, to: h, watch })
      const second = await driver.scan({ from: h, to: h, watch })
      expect((await driver.detectionModes?.())?.internalTransfers).toBe('balance')
      for (const result of [first, second])
        expect(result.transfers.map((t) => [t.txHash, t.amount])).toEqual([
          [(await devnet.client.getBlock({ blockNumber: h })).hash, 4321n],
        ])
      expect(bare.callsOf('debug_traceBlockByNumber').length).toBe(1)
      expect(bare.callsOf('trace_block').length).toBe(1)
    } finally {
      bare.stop()
      down.stop(true)
    }
  })

  test('behavior: internalTransfers off counts top-level transactions only', async () => {
    const recipient = freshAddress()
    const w = await deployContractWallets(devnet, { forwardTo: recipient, walletFunds: 0n })
    const forwarded = await w.payThroughForwarder(999n)
    const driver = driverFor(devnet.url, { internalTransfers: 'off' })
    expect((await driver.detectionModes?.())?.internalTransfers).toBe('off')
    const h = forwarded.blockNumber
    expect(
      (await driver.scan({ from: h, to: h, watch: new Set([recipient.toLowerCase()]) })).transfers,
    ).toEqual([])
  })
})
