import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { freePort } from '../../../test/helpers/chain.ts'
import { type CountingRpcProxy, startCountingRpcProxy } from '../../../test/helpers/counting-rpc-proxy.ts'
import { waitFor } from '../../../test/helpers/processes.ts'
import { type Anvil, startAnvil } from '../../devnet.ts'
import { type HeadWatchLog, watchEvmHeads } from './heads.ts'

let anvil: Anvil
let proxy: CountingRpcProxy
let stopWatch: (() => void) | undefined

beforeAll(async () => {
  anvil = await startAnvil({ port: await freePort() })
})
beforeEach(() => {
  proxy = startCountingRpcProxy(anvil.url)
})
afterEach(() => {
  stopWatch?.()
  stopWatch = undefined
  proxy?.stop()
})
afterAll(async () => {
  await anvil?.stop()
})

async function rpc<T>(method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(anvil.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  })
  return ((await res.json()) as { result: T }).result
}

/** Mines one block on anvil (directly, not through the proxy); returns its number. */
async function mine(): Promise<bigint> {
  await rpc('evm_mine')
  return BigInt(await rpc<string>('eth_blockNumber'))
}

/** A watch over `rpcUrls` (the proxy's), its reported heads, and what it logged. */
function watch(rpcUrls: string[]) {
  const heads: bigint[] = []
  const logged: string[] = []
  const log: HeadWatchLog = {
    info: (_o, msg) => logged.push(`info ${msg}`),
    warn: (_o, msg) => logged.push(`warn ${msg}`),
  }
  // polling this often would show within any wait below
  stopWatch = watchEvmHeads({ rpcUrls, headPollMs: 50, timeoutMs: 1000 }, (h) => heads.push(h), log)
  return { heads, logged }
}

/** Mines a block and waits until the watch reported it. */
async function mineAndSee(heads: bigint[]): Promise<bigint> {
  const height = await mine()
  await waitFor(`head ${height}`, () => heads.includes(height))
  return height
}

describe('EVM heads over a WebSocket subscription', () => {
  test('behavior: every new head comes from the eth_subscribe subscription, and nothing polls eth_blockNumber', async () => {
    const { heads } = watch([proxy.httpUrl, proxy.wsUrl])
    await waitFor('subscribed', () => proxy.subscriptions() === 1)
    const first = await mineAndSee(heads)
    const mined = [first]
    for (let i = 0; i < 3; i++) mined.push(await mineAndSee(heads))
    // each head once, in order, and not one poll since the watch began
    expect(heads.filter((h) => h >= first)).toEqual(mined)
    expect(proxy.count('eth_blockNumber')).toBe(0)
    expect(proxy.calls.map((c) => `${c.transport} ${c.method}`)).toEqual(['ws eth_subscribe'])
  })

  test('behavior: a dropped socket that cannot reconnect falls back to polling over HTTP; once the subscription is back, polling stops', async () => {
    const { heads, logged } = watch([proxy.httpUrl, proxy.wsUrl])
    await waitFor('subscribed', () => proxy.subscriptions() === 1)
    await mineAndSee(heads)

    // the node's socket goes away and stays away: heads keep coming, by polling
    proxy.refuseSockets(true)
    proxy.dropSockets()
    for (let i = 0; i < 2; i++) await mineAndSee(heads)
    expect(proxy.count('eth_blockNumber')).toBeGreaterThan(0)
    expect(proxy.openSockets()).toBe(0)

    // the socket is back: subscribed again, and polling ends
    proxy.refuseSockets(false)
    await waitFor(
      'subscribed again',
      () => logged.includes('info head subscription back; polling stopped'),
      20_000,
    )
    expect(proxy.count('eth_subscribe')).toBe(2)
    await mineAndSee(heads)
    const since = proxy.calls.length
    for (let i = 0; i < 3; i++) await mineAndSee(heads)
    expect(proxy.count('eth_blockNumber', since)).toBe(0)
  }, 30_000)

  test('behavior: a socket closed by the node reconnects and heads keep coming', async () => {
    const { heads } = watch([proxy.wsUrl])
    await waitFor('subscribed', () => proxy.subscriptions() === 1)
    await mineAndSee(heads)
    proxy.dropSockets()
    await waitFor(
      'subscribed again',
      () => proxy.count('eth_subscribe') === 2 && proxy.subscriptions() === 1,
      20_000,
    )
    for (let i = 0; i < 2; i++) await mineAndSee(heads)
    expect(proxy.openSockets()).toBe(1)
  }, 30_000)

  test('behavior: a node that does not offer eth_subscribe gets its heads polled over HTTP', async () => {
    proxy.serveSubscriptions(false)
    const { heads, logged } = watch([proxy.httpUrl, proxy.wsUrl])
    await waitFor('refused', () => logged.some((l) => l.startsWith('warn no head subscription')))
    for (let i = 0; i < 2; i++) await mineAndSee(heads)
    expect(proxy.count('eth_blockNumber')).toBeGreaterThan(0)
  })

  test('behavior: stopping the watch closes its socket; the node hears nothing more from it', async () => {
    const { heads } = watch([proxy.httpUrl, proxy.wsUrl])
    await waitFor('subscribed', () => proxy.subscriptions() === 1)
    await mineAndSee(heads)
    stopWatch?.()
    stopWatch = undefined
    await waitFor('socket closed', () => proxy.openSockets() === 0)
    const reported = heads.length
    const since = proxy.calls.length
    await mine()
    await mine()
    expect(heads.length).toBe(reported)
    expect(proxy.calls.length).toBe(since)
  })
})

describe('EVM heads without a WebSocket URL', () => {
  test('behavior: heads are polled with eth_blockNumber over HTTP, each new height reported once', async () => {
    const { heads } = watch([proxy.httpUrl])
    await waitFor('first poll', () => heads.length > 0)
    const mined = [heads.at(-1) as bigint]
    for (let i = 0; i < 2; i++) mined.push(await mineAndSee(heads))
    expect(heads).toEqual(mined)
    expect(proxy.count('eth_blockNumber')).toBeGreaterThan(2)
    expect(proxy.openSockets()).toBe(0)
  })
})
