import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openUnitDb, rejection, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { type PaymentStatus, payments } from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import { paymentCountsByStatus, paymentVolume, volumeRange } from './stats.ts'

const eth = { chain: 'ethereum', asset: 'eip155:1/slip44:60' }
const usdt = { chain: 'ethereum', asset: 'eip155:1/erc20:0xdac17f958d2ee523a2206206994597c13d831ec7' }
const btc = { chain: 'bitcoin', asset: 'bip122:000000000019d6689c085ae165831e93/slip44:0' }

let handle: DbHandle
let shop: string
let neighbour: string
const now = new Date('2025-03-31T12:00:00Z')
const at = (iso: string) => new Date(iso)

/** A payment stored as it would be in `status`, completed at `completedAt` with `credited` confirmed. */
async function payment(
  merchantId: string,
  status: PaymentStatus,
  options: { asset?: typeof eth; credited?: bigint; completedAt?: Date } = {},
) {
  const { chain, asset } = options.asset ?? eth
  await handle.db.insert(payments).values({
    id: newId('pay'),
    merchantId,
    chain,
    asset,
    amountDue: options.credited ?? 1n,
    amountReceived: options.credited ?? 0n,
    amountConfirmed: options.credited ?? 0n,
    status,
    address: `addr-${crypto.randomUUID()}`,
    walletId: 'wallet',
    derivationIndex: 0,
    confirmationsRequired: 1,
    expiresAt: at('2025-04-01T00:00:00Z'),
    clientSecret: newId('cs'),
    completedAt: options.completedAt ?? null,
  })
}

const oneEther = 10n ** 18n

beforeAll(async () => {
  handle = await openUnitDb()
  shop = await unitMerchant(handle, 'Shop')
  neighbour = await unitMerchant(handle, 'Neighbour')
  // the shop: 2 pending, 1 expired, 1 held, and completed payments around UTC midnights and hours
  await payment(shop, 'PENDING')
  await payment(shop, 'PENDING')
  await payment(shop, 'EXPIRED')
  await payment(shop, 'HELD')
  // 1.000000000000000001 ETH and 2.5 ETH on the last instant of 10 March, 3 wei at its midnight
  await payment(shop, 'COMPLETED', {
    credited: oneEther + 1n,
    completedAt: at('2025-03-10T23:59:59.999Z'),
  })
  await payment(shop, 'COMPLETED', {
    credited: (5n * oneEther) / 2n,
    completedAt: at('2025-03-10T00:00:00Z'),
  })
  await payment(shop, 'COMPLETED', { credited: 3n, completedAt: at('2025-03-11T00:00:00Z') })
  await payment(shop, 'COMPLETED', {
    asset: usdt,
    credited: 150_000_000n,
    completedAt: at('2025-03-10T08:30:00Z'),
  })
  await payment(shop, 'COMPLETED', { asset: btc, credited: 21n, completedAt: at('2025-03-11T09:15:00Z') })
  // long ago: outside the default window
  await payment(shop, 'COMPLETED', { credited: 7n, completedAt: at('2024-01-05T00:00:00Z') })
  // the neighbour: same days, other amounts; never in the shop's numbers
  await payment(neighbour, 'COMPLETED', {
    credited: 999n * oneEther,
    completedAt: at('2025-03-10T12:00:00Z'),
  })
  await payment(neighbour, 'PENDING')
  await payment(neighbour, 'REJECTED')
})
afterAll(() => handle.close())

describe('paymentCountsByStatus', () => {
  test('behavior: every status with its count, zeros included, for the merchant only', async () => {
    const counts = Object.fromEntries(
      (await paymentCountsByStatus(handle, shop)).map((c) => [c.status, c.count]),
    )
    expect(counts).toEqual({
      PENDING: 2,
      PARTIALLY_PAID: 0,
      PROCESSING: 0,
      COMPLETED: 6,
      EXPIRED: 1,
      UNDERPAID: 0,
      HELD: 1,
      REJECTED: 0,
      CANCELED: 0,
    })
    const theirs = await paymentCountsByStatus(handle, neighbour)
    expect(theirs.filter((c) => c.count > 0)).toEqual([
      { status: 'PENDING', count: 1 },
      { status: 'COMPLETED', count: 1 },
      { status: 'REJECTED', count: 1 },
    ])
  })

  test('edge: a merchant without payments has every status at zero', async () => {
    const counts = await paymentCountsByStatus(handle, await unitMerchant(handle, 'New shop'))
    expect(counts).toHaveLength(9)
    expect(counts.every((c) => c.count === 0)).toBe(true)
  })
})

describe('paymentVolume', () => {
  test('behavior: by UTC day, exact 18-decimal sums per asset, midnight opening its own day', async () => {
    const range = volumeRange({ interval: 'DAY' }, now)
    const points = await paymentVolume(handle, shop, range)
    expect(points).toEqual([
      {
        bucketStart: at('2025-03-10T00:00:00Z'),
        chain: 'ethereum',
        asset: usdt.asset,
        amount: 150_000_000n,
        count: 1,
      },
      {
        bucketStart: at('2025-03-10T00:00:00Z'),
        chain: 'ethereum',
        asset: eth.asset,
        amount: (7n * oneEther) / 2n + 1n,
        count: 2,
      },
      { bucketStart: at('2025-03-11T00:00:00Z'), chain: 'bitcoin', asset: btc.asset, amount: 21n, count: 1 },
      { bucketStart: at('2025-03-11T00:00:00Z'), chain: 'ethereum', asset: eth.asset, amount: 3n, count: 1 },
    ])
  })

  test('behavior: by UTC hour, each payment in the hour it completed', async () => {
    const range = volumeRange(
      { interval: 'HOUR', from: at('2025-03-10T00:00:00Z'), to: at('2025-03-11T01:00:00Z') },
      now,
    )
    const points = await paymentVolume(handle, shop, range)
    expect(points.map((p) => [p.bucketStart.toISOString(), p.asset, p.amount])).toEqual([
      ['2025-03-10T00:00:00.000Z', eth.asset, (5n * oneEther) / 2n],
      ['2025-03-10T08:00:00.000Z', usdt.asset, 150_000_000n],
      ['2025-03-10T23:00:00.000Z', eth.asset, oneEther + 1n],
      ['2025-03-11T00:00:00.000Z', eth.asset, 3n],
    ])
  })

  test('behavior: from is inclusive and to exclusive on completed_at', async () => {
    const range = volumeRange({ from: at('2025-03-10T00:00:00Z'), to: at('2025-03-11T00:00:00Z') }, now)
    const points = await paymentVolume(handle, shop, range)
    // the payment completed at 11 March 00:00 is out; the one at 10 March 00:00 is in
    expect(points.map((p) => [p.asset, p.amount, p.count])).toEqual([
      [usdt.asset, 150_000_000n, 1],
      [eth.asset, (7n * oneEther) / 2n + 1n, 2],
    ])
  })

  test("behavior: a merchant sees only its own payments' volume", async () => {
    const range = volumeRange({ interval: 'DAY' }, now)
    expect(await paymentVolume(handle, neighbour, range)).toEqual([
      {
        bucketStart: at('2025-03-10T00:00:00Z'),
        chain: 'ethereum',
        asset: eth.asset,
        amount: 999n * oneEther,
        count: 1,
      },
    ])
  })

  test('edge: a range where nothing completed gives no points', async () => {
    const range = volumeRange({ from: at('2025-02-01T00:00:00Z'), to: at('2025-03-01T00:00:00Z') }, now)
    expect(await paymentVolume(handle, shop, range)).toEqual([])
  })
})

describe('volumeRange', () => {
  test('default: the last 30 days by day, the last 24 hours by hour, up to now', () => {
    expect(volumeRange({}, now)).toEqual({ interval: 'DAY', from: at('2025-03-01T12:00:00Z'), to: now })
    expect(volumeRange({ interval: 'HOUR' }, now)).toEqual({
      interval: 'HOUR',
      from: at('2025-03-30T12:00:00Z'),
      to: now,
    })
  })

  test('edge: 366 day buckets pass, 367 are refused on from', async () => {
    // 2024 is a leap year: 366 days
    const to = at('2025-01-01T00:00:00Z')
    expect(volumeRange({ from: at('2024-01-01T00:00:00Z'), to }, now).from).toEqual(
      at('2024-01-01T00:00:00Z'),
    )
    // a from inside a day opens that day's bucket too
    const refused = await rejection(
      Promise.resolve().then(() => volumeRange({ from: at('2023-12-31T23:00:00Z'), to }, now)),
    )
    expect([refused.code, refused.field]).toEqual(['INVALID_INPUT', 'from'])
    const hours = await rejection(
      Promise.resolve().then(() =>
        volumeRange({ interval: 'HOUR', from: at('2024-12-01T00:00:00Z'), to }, now),
      ),
    )
    expect([hours.code, hours.field]).toEqual(['INVALID_INPUT', 'from'])
  })

  test('edge: to not after from is refused on to', async () => {
    for (const to of [at('2025-03-01T00:00:00Z'), at('2025-03-02T00:00:00Z')]) {
      const refused = await rejection(
        Promise.resolve().then(() => volumeRange({ from: at('2025-03-02T00:00:00Z'), to }, now)),
      )
      expect([refused.code, refused.field]).toEqual(['INVALID_INPUT', 'to'])
    }
  })
})
