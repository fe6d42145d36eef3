import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { newId } from '../../src/core/ids.ts'
import {
  type PaymentStatus,
  payments,
  webhookDeliveries,
  webhookEndpoints,
} from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'

// The overview a dashboard shows, through the public API: what the merchant's key may read (payments:read),
// and only that merchant's figures.

let app: TestApp
let shop: { id: string; key: string }
let neighbour: { id: string; key: string }

const oneEther = 10n ** 18n

/** A payment of `merchantId` on the devnet chain stored in `status`, completed at `completedAt` with `credited`. */
async function payment(
  merchantId: string,
  status: PaymentStatus,
  options: { token?: boolean; credited?: bigint; completedAt?: string } = {},
) {
  const devnet = app.ctx.chains.get('devnet')!.driver
  const asset = options.token ? devnet.assets.find((a) => !a.native)! : devnet.nativeAsset
  await app.ctx.db.insert(payments).values({
    id: newId('pay'),
    merchantId,
    chain: 'devnet',
    asset: asset.id,
    amountDue: options.credited ?? 1n,
    amountReceived: options.credited ?? 0n,
    amountConfirmed: options.credited ?? 0n,
    status,
    address: `0x${crypto.randomUUID().replaceAll('-', '')}`,
    walletId: 'wallet',
    derivationIndex: 0,
    confirmationsRequired: 1,
    expiresAt: new Date(Date.now() + 3_600_000),
    clientSecret: newId('cs'),
    completedAt: options.completedAt ? new Date(options.completedAt) : null,
  })
}

beforeAll(async () => {
  app = await createTestApp()
  shop = await app.merchant('Overview shop')
  neighbour = await app.merchant('Neighbour shop')
  await payment(shop.id, 'PENDING')
  await payment(shop.id, 'HELD')
  await payment(shop.id, 'COMPLETED', { credited: oneEther + 1n, completedAt: '2025-03-10T23:59:59.999Z' })
  await payment(shop.id, 'COMPLETED', { credited: 2n * oneEther, completedAt: '2025-03-11T00:00:00Z' })
  await payment(shop.id, 'COMPLETED', {
    token: true,
    credited: 1_500_000n,
    completedAt: '2025-03-11T10:00:00Z',
  })
  await payment(neighbour.id, 'COMPLETED', { credited: 77n * oneEther, completedAt: '2025-03-10T12:00:00Z' })
  await payment(neighbour.id, 'EXPIRED')
  const endpoint = newId('whe')
  await app.ctx.db.insert(webhookEndpoints).values({
    id: endpoint,
    merchantId: neighbour.id,
    url: 'https://receiver.test/hook',
    secret: 'whsec_test',
    failingSince: new Date(),
  })
  await app.ctx.db.insert(webhookDeliveries).values({
    id: newId('whd'),
    endpointId: endpoint,
    merchantId: neighbour.id,
    eventId: newId('evt'),
    eventType: 'payment.completed',
    payload: {},
    attempts: 2,
  })
})
afterAll(() => app.close())

const overviewQuery = `query ($from: DateTime, $to: DateTime, $interval: VolumeInterval) {
  overview {
    paymentsByStatus { status count }
    volume(interval: $interval, from: $from, to: $to) { bucketStart chain asset { symbol decimals } amount count }
    webhooks { pending failing deliveredLastDay failedLastDay endpointsFailing }
  }
}`
const march = { from: '2025-03-01T00:00:00Z', to: '2025-04-01T00:00:00Z' }

async function keyWith(scopes: string[]): Promise<string> {
  const res = await app.gql(
    `mutation ($scopes: [ApiKeyScope!]!) { createApiKey(name: "dashboard", scopes: $scopes) {
      ... on ApiKeyCreated { key } ... on UserError { code } } }`,
    { scopes },
    shop.key,
  )
  expect(res.errors).toBeUndefined()
  return res.data.createApiKey.key
}

describe('overview API', () => {
  test("behavior: a payments:read key sees its merchant's counts, volume by UTC day and webhook health", async () => {
    const res = await app.gql(overviewQuery, march, await keyWith(['PAYMENTS_READ']))
    expect(res.errors).toBeUndefined()
    const counts = Object.fromEntries(
      res.data.overview.paymentsByStatus.map((c: { status: string; count: number }) => [c.status, c.count]),
    )
    expect(counts).toEqual({
      PENDING: 1,
      PARTIALLY_PAID: 0,
      PROCESSING: 0,
      COMPLETED: 3,
      EXPIRED: 0,
      UNDERPAID: 0,
      HELD: 1,
      REJECTED: 0,
      CANCELED: 0,
    })
    // within a bucket by chain, then asset id (the token's erc20 id before the native slip44 one)
    expect(res.data.overview.volume).toEqual([
      {
        bucketStart: '2025-03-10T00:00:00.000Z',
        chain: 'devnet',
        asset: { symbol: 'ETH', decimals: 18 },
        amount: '1.000000000000000001',
        count: 1,
      },
      {
        bucketStart: '2025-03-11T00:00:00.000Z',
        chain: 'devnet',
        asset: { symbol: 'USDT', decimals: 6 },
        amount: '1.5',
        count: 1,
      },
      {
        bucketStart: '2025-03-11T00:00:00.000Z',
        chain: 'devnet',
        asset: { symbol: 'ETH', decimals: 18 },
        amount: '2',
        count: 1,
      },
    ])
    expect(res.data.overview.webhooks).toEqual({
      pending: 0,
      failing: 0,
      deliveredLastDay: 0,
      failedLastDay: 0,
      endpointsFailing: 0,
    })
  })

  test("behavior: the other merchant's key sees its own figures, none of the shop's", async () => {
    const res = await app.gql(overviewQuery, march, neighbour.key)
    expect(res.errors).toBeUndefined()
    const nonZero = res.data.overview.paymentsByStatus.filter((c: { count: number }) => c.count > 0)
    expect(nonZero).toEqual([
      { status: 'COMPLETED', count: 1 },
      { status: 'EXPIRED', count: 1 },
    ])
    expect(res.data.overview.volume).toEqual([
      {
        bucketStart: '2025-03-10T00:00:00.000Z',
        chain: 'devnet',
        asset: { symbol: 'ETH', decimals: 18 },
        amount: '77',
        count: 1,
      },
    ])
    expect(res.data.overview.webhooks).toEqual({
      pending: 1,
      failing: 1,
      deliveredLastDay: 0,
      failedLastDay: 0,
      endpointsFailing: 1,
    })
  })

  test('behavior: a key without payments:read is FORBIDDEN, no key UNAUTHENTICATED', async () => {
    const forbidden = await app.gql(overviewQuery, march, await keyWith(['WEBHOOKS_WRITE', 'PAYMENTS_WRITE']))
    expect(forbidden.data).toBeNull()
    expect(forbidden.errors[0].extensions.code).toBe('FORBIDDEN')
    const anonymous = await app.gql(overviewQuery, march, null)
    expect(anonymous.errors[0].extensions.code).toBe('UNAUTHENTICATED')
  })

  test('edge: hourly buckets; a range with nothing completed is empty', async () => {
    const hourly = await app.gql(
      overviewQuery,
      { interval: 'HOUR', from: '2025-03-10T23:00:00Z', to: '2025-03-11T11:00:00Z' },
      shop.key,
    )
    expect(hourly.errors).toBeUndefined()
    expect(
      hourly.data.overview.volume.map((p: { bucketStart: string; amount: string }) => [
        p.bucketStart,
        p.amount,
      ]),
    ).toEqual([
      ['2025-03-10T23:00:00.000Z', '1.000000000000000001'],
      ['2025-03-11T00:00:00.000Z', '2'],
      ['2025-03-11T10:00:00.000Z', '1.5'],
    ])
    const empty = await app.gql(
      overviewQuery,
      { from: '2025-02-01T00:00:00Z', to: '2025-03-01T00:00:00Z' },
      shop.key,
    )
    expect(empty.errors).toBeUndefined()
    expect(empty.data.overview.volume).toEqual([])
  })

  test('edge: a range backwards or wider than 366 buckets is INVALID_INPUT on the bound at fault', async () => {
    const backwards = await app.gql(overviewQuery, { from: march.to, to: march.from }, shop.key)
    expect(backwards.errors[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'to' })
    const tooWide = await app.gql(overviewQuery, { interval: 'HOUR', ...march }, shop.key)
    expect(tooWide.errors[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'from' })
    expect(tooWide.errors[0].path).toEqual(['overview', 'volume'])
  })
})
