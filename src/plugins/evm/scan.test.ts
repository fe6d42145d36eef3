import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { ChainDriver, Transfer } from '@tollgate/sdk'
import { createWalletClient, type Hex, http, parseAbi } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { type Devnet, devnetChain, devnetDriver, startDevnet, tokenAbi } from '../../../test/helpers/chain.ts'
import { startJsonRpcProxy } from '../../../test/helpers/json-rpc-proxy.ts'
import { anvilMnemonic } from '../../devnet.ts'
import { evmAssets } from './assets.ts'
import { createEvmDriver } from './index.ts'
import { evmOptionsSchema } from './options.ts'
import { createEvmRpc } from './rpc.ts'
import { scanEvmRange } from './scan.ts'

/** The test token's allowance functions (contracts/TestToken.sol). */
const spenderAbi = parseAbi([
  'function approve(address spender, uint256 value) returns (bool)',
  'function transferFrom(address from, address to, uint256 value) returns (bool)',
])

/** Init code that deploys the runtime `60006000fd` (PUSH1 0 PUSH1 0 REVERT): every call to it reverts. */
const revertingInitCode = '0x6460006000fd6000526005601bf3' as Hex
const ctx = { chain: 'devnet', log: console as never }

let devnet: Devnet
let driver: ChainDriver
let reverter: Hex

/** Fresh addresses nobody has used: anvil's accounts 10+ are funded but idle. */
const account = (i: number) => mnemonicToAccount(anvilMnemonic, { addressIndex: i }).address

const driverFor = (url: string, extra: Record<string, unknown> = {}) => devnetDriver(devnet, url, extra)

const startProxy = startJsonRpcProxy

const key = (t: Transfer) => `${t.txHash}:${t.index}:${t.asset}:${t.to}:${t.amount}`

beforeAll(async () => {
  devnet = await startDevnet()
  driver = driverFor(devnet.url)
  const deployer = createWalletClient({
    account: mnemonicToAccount(anvilMnemonic, { addressIndex: 2 }),
    chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
    transport: http(devnet.url),
  })
  // a raw deployment transaction (no `to`): init code returning the reverting runtime
  const hash = await deployer.sendTransaction({ data: revertingInitCode })
  const receipt = await devnet.client.waitForTransactionReceipt({ hash })
  reverter = receipt.contractAddress as Hex
  expect(await devnet.client.getCode({ address: reverter })).toBe('0x60006000fd')
})
afterAll(async () => {
  await devnet?.stop()
})

describe('EVM scan against anvil', () => {
  test('default: native ETH to a watched address is reported with its amount and block ref; an unwatched one is not', async () => {
    const watched = account(10)
    const unwatched = account(11)
    const paid = await devnet.payNative(watched, 1_234_567_890_123n)
    const other = await devnet.payNative(unwatched, 42n)
    await devnet.mine(2)
    const tip = await devnet.height()
    const watch = new Set([driver.addressKey(watched)])
    const result = await driver.scan({ from: paid.blockNumber, to: tip, watch })

    const block = await devnet.client.getBlock({ blockNumber: paid.blockNumber })
    const ref = {
      height: paid.blockNumber,
      hash: block.hash,
      parentHash: block.parentHash,
      time: Number(block.timestamp),
    }
    expect(result.transfers).toEqual([
      {
        txHash: paid.transactionHash,
        index: -1,
        block: ref,
        asset: 'eip155:31337/slip44:60',
        to: watched.toLowerCase(),
        from: devnet.payer.address.toLowerCase(),
        // checksummed, as validateAddress normalizes
        senders: [devnet.payer.address],
        amount: 1_234_567_890_123n,
      },
    ])
    expect(driver.validateAddress(devnet.payer.address.toLowerCase())).toEqual({
      ok: true,
      normalized: devnet.payer.address,
    })
    expect(result.transfers.some((t) => t.txHash === other.transactionHash)).toBe(false)
    // every block of the range, in order, linked by parent hash
    expect(result.blocks.map((b) => b.height)).toEqual(
      Array.from({ length: Number(tip - paid.blockNumber) + 1 }, (_, i) => paid.blockNumber + BigInt(i)),
    )
    expect(result.blocks[0]).toEqual(ref)
    for (let i = 1; i < result.blocks.length; i++)
      expect(result.blocks[i]?.parentHash).toBe(result.blocks[i - 1]?.hash as string)
  })

  test('behavior: value sent to a watched contract that reverts is not reported; a success in the same block is', async () => {
    const watchedEoa = account(12)
    await devnet.test.setAutomine(false)
    const wallet = createWalletClient({
      account: devnet.payer,
      chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
      transport: http(devnet.url),
    })
    let hashes: { revert: Hex; ok: Hex; tokenOk: Hex; tokenReverted: Hex; unwatchedToken: Hex }
    try {
      const nonce = await devnet.client.getTransactionCount({
        address: devnet.payer.address,
        blockTag: 'pending',
      })
      const revert = await wallet.sendTransaction({ to: reverter, value: 10n ** 15n, gas: 60_000n, nonce })
      const ok = await wallet.sendTransaction({ to: watchedEoa, value: 777n, nonce: nonce + 1 })
      const tokenOk = await wallet.writeContract({
        address: devnet.tokenAddress,
        abi: tokenAbi,
        functionName: 'transfer',
        args: [watchedEoa, 5_000_000n],
        gas: 100_000n,
        nonce: nonce + 2,
      })
      const tokenReverted = await wallet.writeContract({
        address: devnet.tokenAddress,
        abi: tokenAbi,
        functionName: 'transferThenRevert',
        args: [watchedEoa, 9_000_000n],
        gas: 200_000n,
        nonce: nonce + 3,
      })
      const unwatchedToken = await wallet.writeContract({
        address: devnet.tokenAddress,
        abi: tokenAbi,
        functionName: 'transfer',
        args: [account(13), 1_000_000n],
        gas: 100_000n,
        nonce: nonce + 4,
      })
      hashes = { revert, ok, tokenOk, tokenReverted, unwatchedToken }
      await devnet.mine(1)
    } finally {
      await devnet.test.setAutomine(true)
    }
    const receipts = await Promise.all(
      Object.values(hashes).map((hash) => devnet.client.getTransactionReceipt({ hash })),
    )
    const height = receipts[0]!.blockNumber
    for (const r of receipts) expect(r.blockNumber).toBe(height) // one block holds them all
    const status = Object.fromEntries(Object.keys(hashes).map((k, i) => [k, receipts[i]!.status]))
    expect(status).toEqual({
      revert: 'reverted',
      ok: 'success',
      tokenOk: 'success',
      tokenReverted: 'reverted',
      unwatchedToken: 'success',
    })

    const watch = new Set([driver.addressKey(reverter), driver.addressKey(watchedEoa)])
    const result = await driver.scan({ from: height, to: height, watch })
    const tokenLog = receipts[2]!.logs[0]!
    expect(result.transfers.map(key).sort()).toEqual(
      [
        `${hashes.ok}:-1:eip155:31337/slip44:60:${watchedEoa.toLowerCase()}:777`,
        `${hashes.tokenOk}:${tokenLog.logIndex}:eip155:31337/erc20:${devnet.tokenAddress.toLowerCase()}:${watchedEoa.toLowerCase()}:5000000`,
      ].sort(),
    )
    expect(
      result.transfers.some((t) => t.txHash === hashes.revert || t.txHash === hashes.tokenReverted),
    ).toBe(false)
  })

  test('default: a token transfer lists its sender once when the sender owns the tokens', async () => {
    const to = account(20)
    const paid = await devnet.payToken(to, 2_500_000n)
    const watch = new Set([driver.addressKey(to)])
    const result = await driver.scan({ from: paid.blockNumber, to: paid.blockNumber, watch })
    expect(result.transfers.map((t) => [t.txHash, t.amount, t.senders])).toEqual([
      [paid.transactionHash, 2_500_000n, [devnet.payer.address]],
    ])
  })

  test('behavior: transferFrom by a spender lists the spender (transaction sender) and the owner (event from)', async () => {
    const spender = mnemonicToAccount(anvilMnemonic, { addressIndex: 21 })
    const owner = devnet.payer
    const to = account(22)
    const chain = { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } }
    const ownerWallet = createWalletClient({ account: owner, chain, transport: http(devnet.url) })
    const spenderWallet = createWalletClient({ account: spender, chain, transport: http(devnet.url) })
    await devnet.payNative(spender.address, 10n ** 18n) // gas for the spender
    const approved = await ownerWallet.writeContract({
      address: devnet.tokenAddress,
      abi: spenderAbi,
      functionName: 'approve',
      args: [spender.address, 4_000_000n],
    })
    await devnet.client.waitForTransactionReceipt({ hash: approved })
    const hash = await spenderWallet.writeContract({
      address: devnet.tokenAddress,
      abi: spenderAbi,
      functionName: 'transferFrom',
      args: [owner.address, to, 4_000_000n],
    })
    const receipt = await devnet.client.waitForTransactionReceipt({ hash })
    expect(receipt.status).toBe('success')
    // the chain's own record: the transaction is the spender's, the Transfer event's `from` the owner
    const tx = await devnet.client.getTransaction({ hash })
    expect(tx.from.toLowerCase()).toBe(spender.address.toLowerCase())
    expect(receipt.logs[0]!.topics[1]).toBe(`0x${owner.address.slice(2).toLowerCase().padStart(64, '0')}`)

    const watch = new Set([driver.addressKey(to)])
    const result = await driver.scan({ from: receipt.blockNumber, to: receipt.blockNumber, watch })
    expect(result.transfers.length).toBe(1)
    const t = result.transfers[0]!
    expect([t.txHash, t.amount, t.from]).toEqual([hash, 4_000_000n, owner.address.toLowerCase()])
    expect(t.senders).toEqual([spender.address, owner.address])
    for (const s of t.senders ?? []) expect(driver.validateAddress(s)).toEqual({ ok: true, normalized: s })
  })

  test('behavior: a token that is not configured never counts', async () => {
    const to = account(14)
    const paid = await devnet.payToken(to, 3_000_000n)
    const noTokens = createEvmDriver(
      evmOptionsSchema.parse({ chain: devnetChain, rpcUrls: [devnet.url], tokens: [] }),
      ctx,
    )
    const watch = new Set([to.toLowerCase()])
    expect((await noTokens.scan({ from: paid.blockNumber, to: paid.blockNumber, watch })).transfers).toEqual(
      [],
    )
    expect(
      (await driver.scan({ from: paid.blockNumber, to: paid.blockNumber, watch })).transfers.length,
    ).toBe(1)
  })

  test('behavior: a node refusing wide eth_getLogs ranges gets halves; chunks keep each call short; same answer', async () => {
    const to = account(15)
    const first = await devnet.payToken(to, 1n)
    await devnet.mine(3)
    await devnet.payToken(to, 2n)
    await devnet.payNative(to, 3n)
    const last = await devnet.payToken(to, 4n)
    const watch = new Set([to.toLowerCase()])
    const range = { from: first.blockNumber, to: last.blockNumber, watch }
    const direct = await driver.scan(range)
    expect(direct.transfers.map((t) => t.amount).sort()).toEqual([1n, 2n, 3n, 4n])

    const proxy = startProxy(devnet.url, {
      before: (req) => {
        if (req.method !== 'eth_getLogs') return undefined
        const { fromBlock, toBlock } = req.params[0]
        if (BigInt(toBlock) - BigInt(fromBlock) < 2n) return undefined
        return { error: { code: -32005, message: 'query returned more than 10000 results' } }
      },
    })
    try {
      const split = await driverFor(proxy.url).scan(range)
      expect(split.transfers.map(key).sort()).toEqual(direct.transfers.map(key).sort())
      expect(split.blocks).toEqual(direct.blocks)
      expect(proxy.calls.filter((c) => c.method === 'eth_getLogs').length).toBeGreaterThan(2)

      // chunks of one block: one eth_getLogs per block, and still the same answer
      proxy.calls.length = 0
      const options = evmOptionsSchema.parse({ chain: devnetChain, rpcUrls: [proxy.url] })
      const { native, all } = evmAssets(
        evmOptionsSchema.parse({
          ...options,
          tokens: [{ symbol: 'USDT', address: devnet.tokenAddress, decimals: 6 }],
        }),
      )
      const chunked = await scanEvmRange(
        createEvmRpc(options),
        {
          native,
          tokens: new Map([[devnet.tokenAddress.toLowerCase(), all[1]!]]),
          concurrency: 2,
          logsChunk: 1,
        },
        range,
      )
      expect(chunked.transfers.map(key).sort()).toEqual(direct.transfers.map(key).sort())
      const logCalls = proxy.calls.filter((c) => c.method === 'eth_getLogs')
      expect(logCalls.length).toBe(Number(last.blockNumber - first.blockNumber) + 1)
      for (const c of logCalls) expect(c.params[0].fromBlock).toBe(c.params[0].toBlock)
    } finally {
      proxy.stop()
    }
  })

  test('behavior: a log the node marks removed is ignored', async () => {
    const to = account(16)
    const paid = await devnet.payToken(to, 11n)
    const proxy = startProxy(devnet.url, {
      after: (req, result) =>
        req.method === 'eth_getLogs' ? (result as any[]).map((l) => ({ ...l, removed: true })) : result,
    })
    try {
      const watch = new Set([to.toLowerCase()])
      const result = await driverFor(proxy.url).scan({ from: paid.blockNumber, to: paid.blockNumber, watch })
      expect(result.transfers).toEqual([])
      expect(result.blocks.length).toBe(1)
    } finally {
      proxy.stop()
    }
  })

  test('error: without traces, a matched transaction whose receipt the node lacks fails the scan (retryable), never drops it', async () => {
    const to = account(17)
    const paid = await devnet.payNative(to, 5n)
    const proxy = startProxy(devnet.url, {
      before: (req) => (req.method === 'eth_getTransactionReceipt' ? { result: null } : undefined),
    })
    try {
      const watch = new Set([to.toLowerCase()])
      for (const internalTransfers of ['off', 'balance'])
        await expect(
          driverFor(proxy.url, { internalTransfers }).scan({
            from: paid.blockNumber,
            to: paid.blockNumber,
            watch,
          }),
        ).rejects.toMatchObject({ name: 'DriverError', code: 'RECEIPT_NOT_FOUND', retryable: true })
    } finally {
      proxy.stop()
    }
  })

  test('error: with traces, a trace that leaves out a transaction of the block fails the scan (retryable), never drops it', async () => {
    const to = account(24)
    const paid = await devnet.payNative(to, 5n)
    const proxy = startProxy(devnet.url, {
      after: (req, result) =>
        req.method === 'debug_traceBlockByNumber' || req.method === 'trace_block'
          ? (result as unknown[]).slice(1)
          : result,
    })
    try {
      const watch = new Set([to.toLowerCase()])
      for (const internalTransfers of ['auto', 'traces'])
        await expect(
          driverFor(proxy.url, { internalTransfers }).scan({
            from: paid.blockNumber,
            to: paid.blockNumber,
            watch,
          }),
        ).rejects.toMatchObject({ name: 'DriverError', code: 'INCONSISTENT_RANGE', retryable: true })
    } finally {
      proxy.stop()
    }
  })

  test('error: a token log whose transaction its block does not hold fails the scan (retryable), never guesses its sender', async () => {
    const to = account(23)
    const paid = await devnet.payToken(to, 6n)
    // a block answer from another branch than the logs': same hash asked, the transaction missing
    const proxy = startProxy(devnet.url, {
      after: (req, result) =>
        req.method === 'eth_getBlockByNumber' && result ? { ...result, transactions: [] } : result,
    })
    try {
      const watch = new Set([to.toLowerCase()])
      await expect(
        driverFor(proxy.url).scan({ from: paid.blockNumber, to: paid.blockNumber, watch }),
      ).rejects.toMatchObject({ name: 'DriverError', code: 'INCONSISTENT_RANGE', retryable: true })
    } finally {
      proxy.stop()
    }
  })

  test('error: HTTP 503 is a retryable RPC_ERROR; a method the node lacks is a non-retryable RPC_UNSUPPORTED', async () => {
    const height = await devnet.height()
    const watch = new Set([account(18).toLowerCase()])
    const down = startProxy(devnet.url, { before: () => new Response('upstream down', { status: 503 }) })
    const noLogs = startProxy(devnet.url, {
      before: (req) =>
        req.method === 'eth_getLogs'
          ? { error: { code: -32601, message: 'the method eth_getLogs does not exist/is not available' } }
          : undefined,
    })
    try {
      await expect(driverFor(down.url).scan({ from: height, to: height, watch })).rejects.toMatchObject({
        name: 'DriverError',
        code: 'RPC_ERROR',
        retryable: true,
      })
      await expect(driverFor(noLogs.url).scan({ from: height, to: height, watch })).rejects.toMatchObject({
        name: 'DriverError',
        code: 'RPC_UNSUPPORTED',
        retryable: false,
      })
    } finally {
      down.stop()
      noLogs.stop()
    }
  })

  test('args: an aborted signal stops the scan with ABORTED, before and during the calls', async () => {
    const height = await devnet.height()
    const watch = new Set([account(19).toLowerCase()])
    await expect(
      driver.scan({ from: height, to: height, watch, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'DriverError', code: 'ABORTED' })

    // a node that never answers: only the signal ends the wait
    const hang = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Promise<Response>(() => {}) })
    try {
      const controller = new AbortController()
      const started = performance.now()
      const pending = driverFor(`http://127.0.0.1:${hang.port}`, { timeoutMs: 60_000 }).scan({
        from: 1n,
        to: 20n,
        watch,
        signal: controller.signal,
      })
      setTimeout(() => controller.abort(), 100)
      await expect(pending).rejects.toMatchObject({ name: 'DriverError', code: 'ABORTED' })
      expect(performance.now() - started).toBeLessThan(2000)
    } finally {
      hang.stop(true)
    }
  })

  test('args: from > to is an empty answer without calls', async () => {
    expect(await driver.scan({ from: 10n, to: 9n, watch: new Set() })).toEqual({ transfers: [], blocks: [] })
  })
})
