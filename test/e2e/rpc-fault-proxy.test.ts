import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createPublicClient, type Hex, http, parseEther } from 'viem'
import { type Devnet, startDevnet } from '../helpers/chain.ts'
import { type RpcFaultProxy, startRpcFaultProxy } from '../helpers/rpc-fault-proxy.ts'

// The fault proxy the scanning and payout fault tests stand on: each fault is answered the way providers fail,
// and a stale tip is a node consistent with its own old tip (nothing above it exists there).

let devnet: Devnet
let proxy: RpcFaultProxy

beforeAll(async () => {
  devnet = await startDevnet()
  proxy = await startRpcFaultProxy(devnet.url, { seed: 3 })
})
afterAll(async () => {
  await proxy.stop()
  await devnet.stop()
})

/** One raw JSON-RPC call through the proxy: the HTTP status, the body as text, or the transport's failure. */
async function raw(method: string, params: unknown[] = []) {
  try {
    const res = await fetch(proxy.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    })
    return { status: res.status, body: await res.text(), headers: res.headers }
  } catch (err) {
    return { failed: String(err) }
  }
}

describe('rpc fault proxy', () => {
  test('default: without faults it answers as the node does', async () => {
    proxy.clear()
    const through = createPublicClient({ transport: http(proxy.url) })
    expect(await through.getBlockNumber({ cacheTime: 0 })).toBe(await devnet.height())
  })

  test('behavior: HTTP faults carry the bodies providers send, JSON-RPC errors come as error objects', async () => {
    proxy.clear()
    const remove = proxy.inject({ fault: { kind: 'http', status: 429 }, methods: ['eth_chainId'], times: 1 })
    const limited = await raw('eth_chainId')
    expect(limited.status).toBe(429)
    expect(limited.headers?.get('retry-after')).toBe('1')
    expect(JSON.parse(limited.body as string).error.code).toBe(429)
    remove()
    proxy.inject({ fault: { kind: 'http', status: 502 }, times: 1 })
    const gateway = await raw('eth_chainId')
    expect(gateway.status).toBe(502)
    expect(gateway.body).toContain('502 Bad Gateway')
    proxy.inject({ fault: { kind: 'http', status: 503 }, times: 1 })
    expect((await raw('eth_chainId')).body).toContain('upstream connect error')
    proxy.inject({ fault: { kind: 'http', status: 500 }, times: 1 })
    const internal = await raw('eth_chainId')
    expect(internal.status).toBe(500)
    expect(JSON.parse(internal.body as string).error.code).toBe(-32603)
    proxy.inject({ fault: { kind: 'rpc-error', code: -32005, message: 'limit exceeded' }, times: 1 })
    const rpc = await raw('eth_chainId')
    expect(rpc.status).toBe(200)
    expect(JSON.parse(rpc.body as string).error).toEqual({ code: -32005, message: 'limit exceeded' })
    // each rule fired once and is spent
    expect((await raw('eth_chainId')).status).toBe(200)
  })

  test('behavior: a drop closes the connection without an answer; a forwarded drop ran the call first', async () => {
    proxy.clear()
    proxy.inject({ fault: { kind: 'drop' }, times: 1 })
    expect((await raw('eth_blockNumber')).failed).toBeDefined()
    const before = await devnet.height()
    proxy.inject({ fault: { kind: 'drop', forwarded: true }, methods: ['evm_mine'], times: 1 })
    expect((await raw('evm_mine')).failed).toBeDefined()
    // the node did mine: the caller just never heard
    expect(await devnet.height()).toBe(before + 1n)
  })

  test('behavior: a delay answers late; the call reached the node at once', async () => {
    proxy.clear()
    proxy.inject({ fault: { kind: 'delay', ms: 600 }, methods: ['evm_mine'], times: 1 })
    const before = await devnet.height()
    let answered = false
    const answer = raw('evm_mine').then((r) => {
      answered = true
      return r
    })
    await Bun.sleep(200)
    // the node mined, and the caller still waits for the answer
    expect(await devnet.height()).toBe(before + 1n)
    expect(answered).toBe(false)
    expect((await answer).status).toBe(200)
  })

  test('behavior: a stale tip is consistent: latest is the old tip, later blocks, receipts and state do not exist', async () => {
    proxy.clear()
    const stale = await devnet.height()
    proxy.setStaleTip(stale)
    const to = '0x00000000000000000000000000000000000000aa' as Hex
    const receipt = await devnet.payNative(to, parseEther('1'))
    expect(receipt.blockNumber).toBeGreaterThan(stale)
    const through = createPublicClient({ transport: http(proxy.url) })
    expect(await through.getBlockNumber({ cacheTime: 0 })).toBe(stale)
    expect((await through.getBlock({ blockTag: 'latest' })).number).toBe(stale)
    expect(
      JSON.parse(
        (await raw('eth_getBlockByNumber', [`0x${receipt.blockNumber.toString(16)}`, false])).body as string,
      ).result,
    ).toBeNull()
    expect(
      JSON.parse((await raw('eth_getTransactionReceipt', [receipt.transactionHash])).body as string).result,
    ).toBeNull()
    // the transaction is known, as pending
    const tx = JSON.parse(
      (await raw('eth_getTransactionByHash', [receipt.transactionHash])).body as string,
    ).result
    expect(tx.hash).toBe(receipt.transactionHash)
    expect(tx.blockNumber).toBeNull()
    // state as of the old tip: the payment has not arrived there
    expect(await through.getBalance({ address: to })).toBe(0n)
    const above = await raw('eth_getBalance', [to, `0x${receipt.blockNumber.toString(16)}`])
    expect(JSON.parse(above.body as string).error.message).toBe('header not found')
    const logs = JSON.parse(
      (await raw('eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest' }])).body as string,
    ).result as Array<{ blockNumber: string }>
    expect(logs.every((l) => BigInt(l.blockNumber) <= stale)).toBe(true)

    proxy.setStaleTip(null)
    expect(await through.getBalance({ address: to })).toBe(parseEther('1'))
  })

  test('behavior: probabilistic faults follow the seed', async () => {
    const runs: number[][] = []
    for (let round = 0; round < 2; round++) {
      const seededProxy = await startRpcFaultProxy(devnet.url, { seed: 11 })
      seededProxy.inject({ fault: { kind: 'http', status: 500 }, probability: 0.5 })
      const statuses: number[] = []
      for (let i = 0; i < 12; i++) {
        const res = await fetch(seededProxy.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_chainId', params: [] }),
        })
        statuses.push(res.status)
        await res.text()
      }
      runs.push(statuses)
      await seededProxy.stop()
    }
    expect(runs[0]).toEqual(runs[1] as number[])
    expect(runs[0]).toContain(500)
    expect(runs[0]).toContain(200)
  })
})
