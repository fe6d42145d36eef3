import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { newScannerState } from '../../src/core/scanning/sync.ts'
import { chainCursors } from '../../src/db/schema/index.ts'
import { createScanRunner, type ScanRunner } from '../../src/jobs/scan.ts'
import { watchEvmHeads } from '../../src/plugins/evm/heads.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { type CountingRpcProxy, startCountingRpcProxy } from '../helpers/counting-rpc-proxy.ts'
import { waitFor } from '../helpers/processes.ts'

let devnet: Devnet
let app: TestApp

beforeAll(async () => {
  devnet = await startDevnet()
  app = await createTestApp({ config: testConfig(devnet.url), env: { TOLLGATE_SEED: gatewayMnemonic } })
})
afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

async function cursor() {
  const [row] = await app.ctx.db.select().from(chainCursors).where(eq(chainCursors.chain, 'devnet'))
  return row
}

/**
 * A scan runner as the worker wires it (heads watched only while it holds the lease, each head a scan), whose
 * head watch reaches the node through its own proxy: over WebSocket with HTTP polling as the fallback, or by
 * polling alone.
 */
function scanner(transport: 'ws' | 'http' = 'ws') {
  const env = { ...app.ctx.env, SCANNER_LEASE_MS: 600 }
  const runner: ScanRunner = createScanRunner({ ...app.ctx, env }, newScannerState())
  const proxy: CountingRpcProxy = startCountingRpcProxy(devnet.url)
  const urls = transport === 'ws' ? [proxy.httpUrl, proxy.wsUrl] : [proxy.httpUrl]
  const unwatch = runner.whileHolding('devnet', () =>
    watchEvmHeads({ rpcUrls: urls, headPollMs: 50, timeoutMs: 1000 }, () => {
      runner.trigger('devnet').catch(() => {})
    }),
  )
  return {
    runner,
    proxy,
    async stop() {
      unwatch()
      await runner.stop()
      proxy.stop()
    },
  }
}

/** Mines a block; resolves once the cursor reached it. Only a head can start that scan here: no scheduler runs. */
async function mineAndScan(): Promise<bigint> {
  await devnet.mine()
  const height = await devnet.height()
  await waitFor(`scanned to ${height}`, async () => ((await cursor())?.height ?? -1n) >= height)
  return height
}

describe('head watching under the scan lease', () => {
  test('behavior: the holder scans on each head from its subscription without polling; the standby opens no socket and calls nothing; a lost lease closes the watch and a regained one opens it again', async () => {
    const a = scanner()
    const b = scanner()
    try {
      await a.runner.trigger('devnet')
      expect(await b.runner.trigger('devnet')).toMatchObject({ busy: true })
      await waitFor('the holder subscribed', () => a.proxy.subscriptions() === 1)

      for (let i = 0; i < 3; i++) await mineAndScan()
      expect(a.proxy.count('eth_blockNumber')).toBe(0)
      expect(b.proxy.calls).toEqual([])
      expect(b.proxy.openSockets()).toBe(0)

      // another scanner takes the lease: the heartbeat finds it gone and the watch closes
      await app.ctx.db
        .update(chainCursors)
        .set({ leaseOwner: 'scn_elsewhere', leaseUntil: sql`now() + interval '1 hour'` })
        .where(eq(chainCursors.chain, 'devnet'))
      await waitFor('the watch closed', () => !a.runner.holds('devnet') && a.proxy.openSockets() === 0)
      const since = { a: a.proxy.calls.length, b: b.proxy.calls.length }
      await devnet.mine()

      // the lease runs out: one of the two takes it at its next heartbeat, and only that one watches
      await app.ctx.db
        .update(chainCursors)
        .set({ leaseUntil: sql`now() - interval '1 second'` })
        .where(eq(chainCursors.chain, 'devnet'))
      const [taker, other] = await waitFor('a scanner took the lease', () =>
        a.runner.holds('devnet') ? [a, b] : b.runner.holds('devnet') ? [b, a] : undefined,
      )
      await waitFor('the taker subscribed', () => taker.proxy.subscriptions() === 1)
      const takerSince = taker === a ? since.a : since.b
      const otherSince = other === a ? since.a : since.b
      for (let i = 0; i < 2; i++) await mineAndScan()
      expect(taker.proxy.count('eth_blockNumber', takerSince)).toBe(0)
      expect(other.proxy.calls.slice(otherSince)).toEqual([])
      expect(other.proxy.openSockets()).toBe(0)
    } finally {
      await a.stop()
      await b.stop()
    }
  }, 60_000)

  test('behavior: a holder whose socket drops scans on by polling until it is subscribed again; after its graceful stop, the standby takes over and its subscription drives the scans', async () => {
    const a = scanner()
    const b = scanner()
    try {
      await a.runner.trigger('devnet')
      await b.runner.trigger('devnet')
      const [holder, standby] = a.runner.holds('devnet') ? [a, b] : [b, a]
      await waitFor('the holder subscribed', () => holder.proxy.subscriptions() === 1)
      await mineAndScan()

      // its socket drops and cannot come back for a while: polling carries the scans, then the subscription again
      holder.proxy.refuseSockets(true)
      holder.proxy.dropSockets()
      await mineAndScan()
      expect(holder.proxy.count('eth_blockNumber')).toBeGreaterThan(0)
      holder.proxy.refuseSockets(false)
      await waitFor('the holder subscribed again', () => holder.proxy.subscriptions() === 1, 20_000)
      await mineAndScan()

      await holder.stop()
      expect(holder.proxy.openSockets()).toBe(0)
      await waitFor('the standby took over', () => standby.runner.holds('devnet'))
      await waitFor('the new holder subscribed', () => standby.proxy.subscriptions() === 1)
      for (let i = 0; i < 2; i++) await mineAndScan()
      expect(standby.proxy.count('eth_blockNumber')).toBe(0)
    } finally {
      await a.stop()
      await b.stop()
    }
  }, 60_000)

  test('behavior: without a WebSocket URL only the holder polls; once it lost the lease it polls no more, and the new holder does', async () => {
    const a = scanner('http')
    const b = scanner('http')
    try {
      await a.runner.trigger('devnet')
      await b.runner.trigger('devnet')
      const [holder, standby] = a.runner.holds('devnet') ? [a, b] : [b, a]
      await mineAndScan()
      expect(holder.proxy.count('eth_blockNumber')).toBeGreaterThan(0)
      expect(standby.proxy.calls).toEqual([])

      await holder.stop()
      await waitFor('the standby took over', () => standby.runner.holds('devnet'))
      const since = holder.proxy.calls.length
      await mineAndScan()
      // the new holder has polled a few times since: the old one would have too, had it gone on
      await waitFor('the new holder polls', () => standby.proxy.count('eth_blockNumber') >= 3)
      expect(holder.proxy.calls.length).toBe(since)
    } finally {
      await a.stop()
      await b.stop()
    }
  }, 60_000)
})
