import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type Hex, parseEther } from 'viem'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { processReconcile } from '../../src/jobs/reconcile.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import type { Devnet } from '../helpers/chain.ts'
import { fundWallet, paidPayments, startDevnetApp } from '../helpers/devnet-app.ts'

// The gateway-wide figures of the overview through the public API: the job queues and each chain's latest
// reconciliation, kept by the scheduled job on a real devnet. Both need admin (any merchant's admin key: they are
// the same for every merchant); a payments:read key is refused, a request without a key too.

let devnet: Devnet
let app: TestApp
let shop: { id: string; key: string }
let neighbour: { id: string; key: string }

const chain = () => app.ctx.chains.get('devnet')!

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp({ confirmations: 2 }, { sweeps: { enabled: false } }))
  shop = await app.merchant('Admin figures shop')
  neighbour = await app.merchant('Neighbour shop')
  await paidPayments(app, devnet, shop.id, [['ETH', '1.25']], { confirmations: 2 })
}, 60_000)
afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

async function keyWith(scopes: string[]): Promise<string> {
  const res = await app.gql(
    `mutation ($scopes: [ApiKeyScope!]!) { createApiKey(name: "figures", scopes: $scopes) {
      ... on ApiKeyCreated { key } ... on UserError { code } } }`,
    { scopes },
    shop.key,
  )
  return res.data.createApiKey.key
}

const reconciliationQuery = `{ chains { name reconciliation {
  checkedAt settled linesChecked failedRuns lastErrorCode lastErrorAt
  discrepancies { role asset { symbol } ledger onChain difference }
  funding { role asset { symbol } amount }
} } }`
const queuesQuery = '{ overview { queues { name waiting active delayed failed paused } } }'

describe('chain reconciliation through the API', () => {
  test('default: null before the first run', async () => {
    const res = await app.gql(reconciliationQuery, {}, shop.key)
    expect(res.errors).toBeUndefined()
    expect(res.data.chains).toEqual([{ name: 'devnet', reconciliation: null }])
  })

  test('behavior: the scheduled run keeps its report: the treasury funding it booked, then a shortfall, exactly', async () => {
    const treasury = roleWallet(app.ctx, chain(), 'treasury')
    await fundWallet(devnet, treasury.address, { ETH: '1' })
    const before = Date.now()
    await processReconcile(app.ctx, 'devnet')
    const first = (await app.gql(reconciliationQuery, {}, shop.key)).data.chains[0].reconciliation
    expect(new Date(first.checkedAt).getTime()).toBeGreaterThanOrEqual(before - 5_000)
    expect(first).toMatchObject({ settled: true, failedRuns: 0, lastErrorCode: null, discrepancies: [] })
    // ETH and USDT, each for deposits, treasury and gas
    expect(first.linesChecked).toBe(6)
    expect(first.funding).toEqual([{ role: 'treasury', asset: { symbol: 'ETH' }, amount: '1' }])

    // 0.1 ETH leaves the treasury behind the gateway's back: the next run's report says so, to the wei
    await devnet.test.setBalance({ address: treasury.address as Hex, value: parseEther('0.9') })
    await processReconcile(app.ctx, 'devnet')
    const second = (await app.gql(reconciliationQuery, {}, neighbour.key)).data.chains[0].reconciliation
    expect(second.funding).toEqual([])
    expect(second.discrepancies).toEqual([
      { role: 'treasury', asset: { symbol: 'ETH' }, ledger: '1', onChain: '0.9', difference: '-0.1' },
    ])
  }, 60_000)

  test('error: a payments:read key is FORBIDDEN (gateway-wide figures); without a key UNAUTHENTICATED', async () => {
    const reader = await app.gql(reconciliationQuery, {}, await keyWith(['PAYMENTS_READ']))
    expect(reader.errors?.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual([
      'FORBIDDEN',
    ])
    // the chain itself is still there for the key; only the admin figure is withheld
    expect(reader.data.chains).toEqual([{ name: 'devnet', reconciliation: null }])
    const anonymous = await app.gql(reconciliationQuery, {}, null)
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED')
  })
})

describe('job queues through the API', () => {
  test('behavior: an admin key sees every queue with its jobs counted by state', async () => {
    await app.ctx.queues.reconcile.add('reconcile', { chain: 'devnet' }, { delay: 3_600_000 })
    await app.ctx.queues.scan.add('scan', { chain: 'devnet' })
    const res = await app.gql(queuesQuery, {}, neighbour.key)
    expect(res.errors).toBeUndefined()
    const byName = Object.fromEntries(res.data.overview.queues.map((q: { name: string }) => [q.name, q]))
    expect(Object.keys(byName)).toEqual(['address-pool', 'scan', 'expire', 'payouts', 'reconcile', 'rates'])
    expect(byName.reconcile).toEqual({
      name: 'reconcile',
      waiting: 0,
      active: 0,
      delayed: 1,
      failed: 0,
      paused: false,
    })
    expect(byName.scan).toMatchObject({ waiting: 1, delayed: 0 })
  })

  test('error: a payments:read key is FORBIDDEN on queues', async () => {
    const res = await app.gql(queuesQuery, {}, await keyWith(['PAYMENTS_READ']))
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect(res.data?.overview ?? null).toBeNull()
  })
})

describe('a chain whose node does not answer', () => {
  test('error: the failed run is recorded by its code, the job still fails', async () => {
    // nothing listens at the default test config's node
    const offline = await createTestApp()
    try {
      const { key } = await offline.merchant('Offline shop')
      const failure = await processReconcile(offline.ctx, 'devnet').then(
        () => undefined,
        (err: unknown) => err,
      )
      expect(failure).toBeDefined()
      await processReconcile(offline.ctx, 'devnet').catch(() => undefined)
      const res = await offline.gql(reconciliationQuery, {}, key)
      const status = res.data.chains[0].reconciliation
      expect(status).toMatchObject({ checkedAt: null, settled: null, linesChecked: 0, failedRuns: 2 })
      expect(status.lastErrorCode).toMatch(/^[A-Z_]+$/)
      expect(status.lastErrorCode).not.toBe('UNKNOWN')
      expect(status.lastErrorAt).not.toBeNull()
    } finally {
      await offline.close()
    }
  }, 30_000)
})
