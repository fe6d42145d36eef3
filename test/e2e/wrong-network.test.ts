import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { parseEther } from 'viem'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { chainCursors, outboundTxs, payments, transfers } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import { createBitcoinDriver } from '../../src/plugins/bitcoin/index.ts'
import { bitcoinOptionsSchema } from '../../src/plugins/bitcoin/options.ts'
import { createTronDriver } from '../../src/plugins/tron/index.ts'
import { tronOptionsSchema } from '../../src/plugins/tron/options.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Bcoin, startBcoin } from '../helpers/bcoin.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { startTronNode } from '../tron-node/server.ts'

// A chain pointed at a node of another network: not ready (readiness names both networks), nothing scanned or
// credited, payments refused with CHAIN_UNAVAILABLE; the same node back on the configured network: ready again.

let devnet: Devnet
let app: TestApp
let key: string
let scanner: ScannerState

beforeAll(async () => {
  devnet = await startDevnet()
  app = await createTestApp({
    config: testConfig(devnet.url, { finalityDepth: 6 }),
    env: { TOLLGATE_SEED: gatewayMnemonic },
  })
  key = (await app.merchant('Networks')).key
  scanner = newScannerState()
})
afterAll(async () => {
  await app.close()
  await devnet.stop()
})

const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('devnet')!)
const setChainId = (id: number) =>
  devnet.client.request({ method: 'anvil_setChainId' as any, params: [id] as any })
const cacheExpiry = () => Bun.sleep(1100)

async function createPayment(amount: string) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', amount } },
    key,
  )
  return res.data.createPayment as {
    payment?: { id: string; address: string }
    code?: string
    message?: string
  }
}

const chainView = async () =>
  (await app.gql(`{ chains { name ready unavailableReason lastBlockAt lag status { degraded } } }`, {}, key))
    .data.chains[0]

describe('an EVM chain whose node is on another chain id', () => {
  test('default: not ready, nothing scanned or credited, payments refused; back on the right chain id: ready again', async () => {
    const paid = await createPayment('1')
    expect(paid.payment).toBeDefined()
    await devnet.payNative(paid.payment!.address, parseEther('1'))
    await setChainId(56)

    const result = await sync()
    expect(result.wrongNetwork).toContain('eip155:56')
    expect(result.wrongNetwork).toContain('eip155:31337')
    expect(result.blocks).toBe(0)
    // no first cursor is taken from it, nothing stored, nothing credited
    expect(await app.ctx.db.select().from(chainCursors).where(eq(chainCursors.chain, 'devnet'))).toEqual([])
    expect(await app.ctx.db.select().from(transfers)).toEqual([])
    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, paid.payment!.id))
    expect(row?.status).toBe('PENDING')
    // the error names chain, expected and actual network, once
    const errors = app.logs.filter((l) => l.level === 50 && l.code === 'WRONG_NETWORK')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ chain: 'devnet', expected: 'eip155:31337', actual: 'eip155:56' })
    expect((await sync()).wrongNetwork).toBeDefined()
    expect(app.logs.filter((l) => l.level === 50 && l.code === 'WRONG_NETWORK')).toHaveLength(1)

    const ready = await app.fetch(new Request('http://t/readyz'))
    expect(ready.status).toBe(503)
    const body = (await ready.json()) as { checks: Array<{ name: string; ok: boolean; detail?: string }> }
    const check = body.checks.find((c) => c.name === 'chain:devnet')
    expect(check?.ok).toBe(false)
    expect(check?.detail).toContain('eip155:56')
    expect(check?.detail).toContain('eip155:31337')

    await cacheExpiry()
    const refused = await createPayment('2')
    expect(refused.code).toBe('CHAIN_UNAVAILABLE')
    expect(refused.message).toContain('eip155:56')
    expect(await app.ctx.db.select().from(payments)).toHaveLength(1)
    const view = await chainView()
    expect(view.ready).toBe(false)
    expect(view.unavailableReason).toContain('eip155:56')
    expect(view.status.degraded).toContain('WRONG_NETWORK')

    // the node is on the configured network again
    await setChainId(31337)
    const back = await sync()
    expect(back.wrongNetwork).toBeUndefined()
    expect(back.transfers).toBe(1)
    await devnet.mine(3)
    await sync()
    const [done] = await app.ctx.db.select().from(payments).where(eq(payments.id, paid.payment!.id))
    expect(done?.status).toBe('COMPLETED')
    expect((await app.fetch(new Request('http://t/readyz'))).status).toBe(200)
    await cacheExpiry()
    expect((await createPayment('3')).payment).toBeDefined()
    const again = await chainView()
    expect(again.ready).toBe(true)
    expect(again.unavailableReason).toBeNull()
    expect(again.lag).toBe(0)
    expect(typeof again.lastBlockAt).toBe('string')
  })

  test('behavior: a good verdict forgotten (as a failed run forgets it) is asked again and catches a changed network', async () => {
    expect((await sync()).wrongNetwork).toBeUndefined()
    await setChainId(10)
    // a good verdict is trusted for minutes; a failed run forgets it, which is what this does
    scanner.network.delete('devnet')
    expect((await sync()).wrongNetwork).toContain('eip155:10')
    await setChainId(31337)
    expect((await sync()).wrongNetwork).toBeUndefined()
  })
})

describe('payouts on a chain whose node is on another network', () => {
  test('behavior: the pass asks the node for nothing more and sends nothing; back on the right network, the due sweep goes out', async () => {
    // the first test left a completed payment whose funds are due to be swept to the treasury
    await setChainId(56)
    const blocked = await processPayouts(app.ctx, 'devnet')
    expect(blocked.failedStages).toEqual([{ stage: 'network', code: 'WRONG_NETWORK' }])
    expect(await app.ctx.db.select().from(outboundTxs)).toEqual([])
    await setChainId(31337)
    const pass = await processPayouts(app.ctx, 'devnet')
    expect(pass.failedStages).toEqual([])
    expect((await app.ctx.db.select().from(outboundTxs)).length).toBeGreaterThan(0)
  })
})

describe('Bitcoin and Tron nodes answer their genesis', () => {
  let bcoin: Bcoin
  beforeAll(async () => {
    bcoin = await startBcoin({ segwit: false })
  })
  afterAll(() => bcoin.stop())

  test('default: a regtest node is right for regtest and wrong for testnet and mainnet, naming both', async () => {
    const ctx = { chain: 'btc', log: app.ctx.log }
    const regtest = createBitcoinDriver(
      bitcoinOptionsSchema.parse({ network: 'regtest', rpcUrls: [bcoin.url] }),
      ctx,
    )
    expect(await regtest.checkNetwork?.()).toEqual({ ok: true })
    const testnet = createBitcoinDriver(
      bitcoinOptionsSchema.parse({ network: 'testnet', rpcUrls: [bcoin.url] }),
      ctx,
    )
    const verdict = await testnet.checkNetwork?.()
    expect(verdict).toEqual({
      ok: false,
      expected: 'bitcoin testnet (genesis 000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943)',
      actual: 'bitcoin regtest (genesis 0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206)',
    })
  })

  test('default: the Tron stand-in answers the real genesis ids; a Nile node is wrong for mainnet', async () => {
    const ctx = { chain: 'tron', log: app.ctx.log }
    const mainnetNode = await startTronNode({ initialBlocks: 3 })
    const nileNode = await startTronNode({ initialBlocks: 3, genesis: 'nile' })
    try {
      const onMainnet = createTronDriver(tronOptionsSchema.parse({ fullHosts: [mainnetNode.url] }), ctx)
      expect(await onMainnet.checkNetwork?.()).toEqual({ ok: true })
      const block0 = await onMainnet.getBlockRef(0n)
      expect(block0.hash).toBe('00000000000000001ebf88508a03865c71d452e25f4d51194196a1d22b6653dc')
      expect((await onMainnet.getBlockRef(1n)).parentHash).toBe(block0.hash)
      const mainnetOnNile = createTronDriver(tronOptionsSchema.parse({ fullHosts: [nileNode.url] }), ctx)
      expect(await mainnetOnNile.checkNetwork?.()).toEqual({
        ok: false,
        expected: 'tron mainnet (genesis 00000000000000001ebf88508a03865c71d452e25f4d51194196a1d22b6653dc)',
        actual: 'tron nile (genesis 0000000000000000d698d4192c56cb6be724a558448e2684802de4d6cd8690dc)',
      })
      const nileOnNile = createTronDriver(
        tronOptionsSchema.parse({ network: 'nile', fullHosts: [nileNode.url] }),
        ctx,
      )
      expect(await nileOnNile.checkNetwork?.()).toEqual({ ok: true })
    } finally {
      await Promise.all([mainnetNode.stop(), nileNode.stop()])
    }
  })
})
