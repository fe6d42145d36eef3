import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openUnitDb, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import { webhookHealth } from './health.ts'

let handle: DbHandle
let shop: string
let neighbour: string
const now = new Date('2025-03-31T12:00:00Z')
const at = (iso: string) => new Date(iso)

beforeAll(async () => {
  handle = await openUnitDb()
  shop = await unitMerchant(handle, 'Shop')
  neighbour = await unitMerchant(handle, 'Neighbour')
})
afterAll(() => handle.close())

describe('webhookHealth', () => {
  test("behavior: pending, retrying, last day's outcomes and failing endpoints, for the merchant only", async () => {
    const endpoint = async (merchantId: string, failingSince: Date | null) => {
      const id = newId('whe')
      await handle.db
        .insert(webhookEndpoints)
        .values({ id, merchantId, url: 'https://x.test/h', secret: 's', failingSince })
      return id
    }
    const delivery = async (
      endpointId: string,
      merchantId: string,
      fields: {
        status: 'pending' | 'succeeded' | 'failed'
        attempts?: number
        deliveredAt?: Date
        lastAttemptAt?: Date
      },
    ) => {
      const id = newId('whd')
      await handle.db.insert(webhookDeliveries).values({
        id,
        endpointId,
        merchantId,
        eventId: newId('evt'),
        eventType: 'payment.completed',
        payload: {},
        status: fields.status,
        attempts: fields.attempts ?? 0,
        deliveredAt: fields.deliveredAt ?? null,
      })
      if (fields.lastAttemptAt)
        await handle.db.insert(webhookAttempts).values({
          deliveryId: id,
          attempt: 1,
          statusCode: 500,
          latencyMs: 5,
          createdAt: fields.lastAttemptAt,
        })
    }
    const healthy = await endpoint(shop, null)
    const broken = await endpoint(shop, at('2025-03-30T00:00:00Z'))
    await delivery(healthy, shop, { status: 'pending' })
    await delivery(broken, shop, { status: 'pending', attempts: 3 })
    await delivery(healthy, shop, {
      status: 'succeeded',
      attempts: 1,
      deliveredAt: at('2025-03-31T01:00:00Z'),
    })
    await delivery(healthy, shop, {
      status: 'succeeded',
      attempts: 1,
      deliveredAt: at('2025-03-29T01:00:00Z'),
    })
    await delivery(broken, shop, { status: 'failed', attempts: 8, lastAttemptAt: at('2025-03-31T11:00:00Z') })
    await delivery(broken, shop, { status: 'failed', attempts: 8, lastAttemptAt: at('2025-03-20T11:00:00Z') })
    const theirs = await endpoint(neighbour, at('2025-03-30T00:00:00Z'))
    await delivery(theirs, neighbour, { status: 'pending', attempts: 2 })
    await delivery(theirs, neighbour, {
      status: 'failed',
      attempts: 8,
      lastAttemptAt: at('2025-03-31T11:00:00Z'),
    })

    expect(await webhookHealth(handle, shop, now)).toEqual({
      pending: 2,
      failing: 1,
      deliveredLastDay: 1,
      failedLastDay: 1,
      endpointsFailing: 1,
    })
    expect(await webhookHealth(handle, neighbour, now)).toEqual({
      pending: 1,
      failing: 1,
      deliveredLastDay: 0,
      failedLastDay: 1,
      endpointsFailing: 1,
    })
  })

  test('edge: a merchant without webhooks has every count at zero', async () => {
    expect(await webhookHealth(handle, await unitMerchant(handle, 'Quiet shop'), now)).toEqual({
      pending: 0,
      failing: 0,
      deliveredLastDay: 0,
      failedLastDay: 0,
      endpointsFailing: 0,
    })
  })
})
