import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { openUnitDb, rejection, unitMerchant, unitWebhookContext } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { webhookAttempts, webhookDeliveries } from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import { listWebhookAttempts, listWebhookDeliveries, redeliverWebhook } from './delivery-log.ts'
import { createWebhookEndpoint } from './endpoints.ts'
import type { WebhookContext } from './events.ts'

let handle: DbHandle
let ctx: WebhookContext
let merchantId: string
let otherMerchantId: string

beforeAll(async () => {
  handle = await openUnitDb()
  ctx = unitWebhookContext(handle)
  merchantId = await unitMerchant(handle, 'Log Shop')
  otherMerchantId = await unitMerchant(handle, 'Other Shop')
}, 30_000)
afterAll(() => handle.close())

async function endpointOf(owner: string) {
  const { endpoint } = await createWebhookEndpoint(ctx, owner, {
    url: 'https://93.184.215.14/hooks',
    events: ['payment.completed'],
  })
  return endpoint
}

async function insertDelivery(
  endpointId: string,
  owner: string,
  fields: Partial<typeof webhookDeliveries.$inferInsert> = {},
) {
  const id = newId('whd')
  await handle.db.insert(webhookDeliveries).values({
    id,
    endpointId,
    merchantId: owner,
    eventId: `evt_${id}`,
    eventType: 'payment.completed',
    payload: { id: `evt_${id}` },
    ...fields,
  })
  return id
}

const deliveryRow = async (id: string) =>
  (await handle.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)))[0]

describe('redeliverWebhook', () => {
  test('default: a failed delivery is pending again with a fresh schedule, same event id', async () => {
    const endpoint = await endpointOf(merchantId)
    const id = await insertDelivery(endpoint.id, merchantId, {
      status: 'failed',
      attempts: 3,
      lastStatusCode: 500,
      nextAttemptAt: new Date(Date.now() + 3_600_000),
      lockedUntil: new Date(Date.now() + 3_600_000),
    })
    const before = await deliveryRow(id)
    const row = await redeliverWebhook(handle, merchantId, id)
    expect(row).toMatchObject({
      id,
      status: 'pending',
      attempts: 0,
      lockedUntil: null,
      eventId: before!.eventId,
    })
    expect(row.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now())
    expect(await deliveryRow(id)).toEqual(row)
  })

  test('error: another merchant’s delivery, or an unknown id, is NOT_FOUND and stays as it was', async () => {
    const theirEndpoint = await endpointOf(otherMerchantId)
    const theirs = await insertDelivery(theirEndpoint.id, otherMerchantId, { status: 'failed', attempts: 3 })
    const before = await deliveryRow(theirs)
    expect((await rejection(redeliverWebhook(handle, merchantId, theirs))).code).toBe('NOT_FOUND')
    expect((await rejection(redeliverWebhook(handle, merchantId, 'whd_nope'))).code).toBe('NOT_FOUND')
    expect(await deliveryRow(theirs)).toEqual(before)
  })
})

describe('listWebhookDeliveries', () => {
  test('default: an endpoint’s deliveries, newest first, in pages', async () => {
    const endpoint = await endpointOf(merchantId)
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await insertDelivery(endpoint.id, merchantId))
    const newestFirst = [...ids].reverse()
    const first = await listWebhookDeliveries(handle, merchantId, endpoint.id, { first: 2 })
    expect(first.rows.map((r) => r.id)).toEqual(newestFirst.slice(0, 2))
    expect(first.hasNextPage).toBe(true)
    const second = await listWebhookDeliveries(handle, merchantId, endpoint.id, {
      first: 2,
      after: first.rows[1]!.id,
    })
    expect(second.rows.map((r) => r.id)).toEqual(newestFirst.slice(2, 4))
    const last = await listWebhookDeliveries(handle, merchantId, endpoint.id, {
      first: 2,
      after: second.rows[1]!.id,
    })
    expect(last.rows.map((r) => r.id)).toEqual(newestFirst.slice(4))
    expect(last.hasNextPage).toBe(false)
    const all = await listWebhookDeliveries(handle, merchantId, endpoint.id, {})
    expect(all.rows.map((r) => r.id)).toEqual(newestFirst)
  })

  test('behavior: only the named endpoint’s deliveries', async () => {
    const a = await endpointOf(merchantId)
    const b = await endpointOf(merchantId)
    const mine = await insertDelivery(a.id, merchantId)
    await insertDelivery(b.id, merchantId)
    expect((await listWebhookDeliveries(handle, merchantId, a.id, {})).rows.map((r) => r.id)).toEqual([mine])
  })

  test('error: another merchant’s endpoint is NOT_FOUND (its deliveries are not listed)', async () => {
    const theirEndpoint = await endpointOf(otherMerchantId)
    await insertDelivery(theirEndpoint.id, otherMerchantId)
    const err = await rejection(listWebhookDeliveries(handle, merchantId, theirEndpoint.id, {}))
    expect(err.code).toBe('NOT_FOUND')
  })

  test('error: first outside 1 to 100 is INVALID_INPUT on first', async () => {
    const endpoint = await endpointOf(merchantId)
    for (const first of [0, -1, 101, 2.5]) {
      const err = await rejection(listWebhookDeliveries(handle, merchantId, endpoint.id, { first }))
      expect({ first, code: err.code, field: err.field }).toEqual({
        first,
        code: 'INVALID_INPUT',
        field: 'first',
      })
    }
  })
})

describe('listWebhookAttempts', () => {
  test('default: a delivery’s attempts in order', async () => {
    const endpoint = await endpointOf(merchantId)
    const id = await insertDelivery(endpoint.id, merchantId)
    await handle.db.insert(webhookAttempts).values([
      { deliveryId: id, attempt: 1, statusCode: 500, latencyMs: 3 },
      { deliveryId: id, attempt: 2, error: 'timeout', latencyMs: 1000 },
    ])
    const attempts = await listWebhookAttempts(handle, id)
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 500, null],
      [2, null, 'timeout'],
    ])
  })
})
