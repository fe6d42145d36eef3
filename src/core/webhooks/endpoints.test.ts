import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { count, eq } from 'drizzle-orm'
import { openUnitDb, rejection, unitMerchant, unitWebhookContext } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { webhookDeliveries, webhookEndpoints } from '../../db/schema/index.ts'
import type { ErrorCode } from '../errors.ts'
import { newId } from '../ids.ts'
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listWebhookEndpoints,
  ownEndpoint,
  rotateWebhookSecret,
  updateWebhookEndpoint,
} from './endpoints.ts'
import type { WebhookContext } from './events.ts'

let handle: DbHandle
let ctx: WebhookContext
let merchantId: string
let otherMerchantId: string
const publicUrl = 'https://93.184.215.14/hooks'

beforeAll(async () => {
  handle = await openUnitDb()
  ctx = unitWebhookContext(handle)
  merchantId = await unitMerchant(handle, 'Hook Shop')
  otherMerchantId = await unitMerchant(handle, 'Other Shop')
}, 30_000)
afterAll(() => handle.close())

async function endpointCount() {
  const [row] = await handle.db.select({ n: count() }).from(webhookEndpoints)
  return row!.n
}

async function endpointRow(id: string) {
  const [row] = await handle.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id))
  return row
}

const newEndpoint = (owner = merchantId, events: string[] = ['payment.completed']) =>
  createWebhookEndpoint(ctx, owner, { url: publicUrl, events })

async function insertDelivery(endpointId: string, status: 'pending' | 'succeeded' | 'failed') {
  const id = newId('whd')
  await handle.db.insert(webhookDeliveries).values({
    id,
    endpointId,
    merchantId,
    eventId: `evt_${id}`,
    eventType: 'payment.completed',
    payload: { id: `evt_${id}` },
    status,
  })
  return id
}

describe('createWebhookEndpoint', () => {
  test('default: stores the endpoint with a fresh Standard Webhooks secret, returned once', async () => {
    const { endpoint, secret } = await createWebhookEndpoint(ctx, merchantId, {
      url: publicUrl,
      events: ['payment.completed', 'withdrawal.confirmed'],
      description: 'orders',
    })
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32)
    const row = await endpointRow(endpoint.id)
    expect(row).toMatchObject({
      merchantId,
      url: publicUrl,
      events: ['payment.completed', 'withdrawal.confirmed'],
      description: 'orders',
      enabled: true,
      secret,
      previousSecret: null,
      failingSince: null,
    })
    const other = await newEndpoint()
    expect(other.secret).not.toBe(secret)
  })

  test('behavior: repeated event types are stored once; a 500-character description is accepted', async () => {
    const { endpoint } = await createWebhookEndpoint(ctx, merchantId, {
      url: publicUrl,
      events: ['payment.created', 'payment.created', 'payment.expired'],
      description: 'd'.repeat(500),
    })
    expect(endpoint.events).toEqual(['payment.created', 'payment.expired'])
    expect(endpoint.description).toHaveLength(500)
  })

  test('error: hostile input is a typed error naming the field, and stores nothing', async () => {
    const before = await endpointCount()
    const cases: Array<[{ url: string; events: string[]; description?: string }, ErrorCode, string]> = [
      [{ url: publicUrl, events: [] }, 'INVALID_INPUT', 'events'],
      [{ url: publicUrl, events: ['payment.completed', 'payment.exploded'] }, 'INVALID_INPUT', 'events'],
      [{ url: publicUrl, events: ['PAYMENT.COMPLETED'] }, 'INVALID_INPUT', 'events'],
      [
        { url: publicUrl, events: ['payment.completed'], description: 'd'.repeat(501) },
        'INVALID_INPUT',
        'description',
      ],
      [{ url: 'http://127.0.0.1:8080/hook', events: ['payment.completed'] }, 'URL_NOT_ALLOWED', 'url'],
      [{ url: 'http://localhost/hook', events: ['payment.completed'] }, 'URL_NOT_ALLOWED', 'url'],
      [{ url: 'http://10.0.0.8/hook', events: ['payment.completed'] }, 'URL_NOT_ALLOWED', 'url'],
      [{ url: 'http://[fe80::1]/hook', events: ['payment.completed'] }, 'URL_NOT_ALLOWED', 'url'],
      [
        { url: 'http://169.254.169.254/latest/meta-data', events: ['payment.completed'] },
        'URL_NOT_ALLOWED',
        'url',
      ],
      [{ url: 'ftp://93.184.215.14/hook', events: ['payment.completed'] }, 'INVALID_INPUT', 'url'],
      [{ url: 'file:///etc/passwd', events: ['payment.completed'] }, 'INVALID_INPUT', 'url'],
      [{ url: 'https://user:pw@93.184.215.14/hook', events: ['payment.completed'] }, 'INVALID_INPUT', 'url'],
      [{ url: 'not a url', events: ['payment.completed'] }, 'INVALID_INPUT', 'url'],
    ]
    for (const [input, code, field] of cases) {
      const err = await rejection(createWebhookEndpoint(ctx, merchantId, input))
      expect({ input, code: err.code, field: err.field }).toEqual({ input, code, field })
    }
    expect(await endpointCount()).toBe(before)
  })
})

describe('ownEndpoint and listWebhookEndpoints', () => {
  test('default: a merchant sees its own endpoints and none of another merchant’s', async () => {
    const merchant = await unitMerchant(handle, 'Listing Shop')
    const a = await newEndpoint(merchant)
    const b = await newEndpoint(merchant)
    await newEndpoint(otherMerchantId)
    expect((await listWebhookEndpoints(handle, merchant)).map((e) => e.id)).toEqual([
      a.endpoint.id,
      b.endpoint.id,
    ])
    expect((await ownEndpoint(handle, merchant, a.endpoint.id)).id).toBe(a.endpoint.id)
  })

  test('error: another merchant’s endpoint, or an unknown id, is NOT_FOUND', async () => {
    const theirs = await newEndpoint(otherMerchantId)
    expect((await rejection(ownEndpoint(handle, merchantId, theirs.endpoint.id))).code).toBe('NOT_FOUND')
    expect((await rejection(ownEndpoint(handle, merchantId, 'whe_nope'))).code).toBe('NOT_FOUND')
  })
})

describe('updateWebhookEndpoint', () => {
  test('default: changes url, events, description and enabled', async () => {
    const { endpoint } = await newEndpoint()
    const updated = await updateWebhookEndpoint(ctx, merchantId, endpoint.id, {
      url: 'https://93.184.215.15/new',
      events: ['payment.expired'],
      description: 'renamed',
      enabled: false,
    })
    expect(updated).toMatchObject({
      url: 'https://93.184.215.15/new',
      events: ['payment.expired'],
      description: 'renamed',
      enabled: false,
      secret: endpoint.secret,
    })
    expect(await endpointRow(endpoint.id)).toEqual(updated)
  })

  test('behavior: omitted fields stay; a null description clears it', async () => {
    const { endpoint } = await createWebhookEndpoint(ctx, merchantId, {
      url: publicUrl,
      events: ['payment.completed'],
      description: 'keep?',
    })
    const same = await updateWebhookEndpoint(ctx, merchantId, endpoint.id, { enabled: null, events: null })
    expect(same).toMatchObject({
      url: publicUrl,
      events: ['payment.completed'],
      description: 'keep?',
      enabled: true,
    })
    const cleared = await updateWebhookEndpoint(ctx, merchantId, endpoint.id, { description: null })
    expect(cleared.description).toBeNull()
  })

  test('error: hostile input is a typed error and changes nothing', async () => {
    const { endpoint } = await newEndpoint()
    const before = await endpointRow(endpoint.id)
    const cases: Array<[Parameters<typeof updateWebhookEndpoint>[3], ErrorCode, string]> = [
      [{ events: [] }, 'INVALID_INPUT', 'events'],
      [{ events: ['payment.refunded'] }, 'INVALID_INPUT', 'events'],
      [{ description: 'd'.repeat(501) }, 'INVALID_INPUT', 'description'],
      [{ url: 'http://192.168.0.10/hook' }, 'URL_NOT_ALLOWED', 'url'],
      [{ url: 'http://[::1]:9000/hook' }, 'URL_NOT_ALLOWED', 'url'],
      [{ url: 'gopher://93.184.215.14/' }, 'INVALID_INPUT', 'url'],
      [{ url: 'https://a:b@93.184.215.14/' }, 'INVALID_INPUT', 'url'],
      // a valid change alongside an invalid one is not applied either
      [{ enabled: false, description: 'd'.repeat(501) }, 'INVALID_INPUT', 'description'],
      [{ url: 'https://93.184.215.16/ok', events: ['nope'] }, 'INVALID_INPUT', 'events'],
    ]
    for (const [input, code, field] of cases) {
      const err = await rejection(updateWebhookEndpoint(ctx, merchantId, endpoint.id, input))
      expect({ input, code: err.code, field: err.field }).toEqual({ input, code, field })
    }
    expect(await endpointRow(endpoint.id)).toEqual(before)
  })

  test('error: another merchant’s endpoint is NOT_FOUND and stays as it was', async () => {
    const theirs = await newEndpoint(otherMerchantId)
    const before = await endpointRow(theirs.endpoint.id)
    const err = await rejection(
      updateWebhookEndpoint(ctx, merchantId, theirs.endpoint.id, {
        url: 'https://93.184.215.99/stolen',
        enabled: false,
      }),
    )
    expect(err.code).toBe('NOT_FOUND')
    expect(await endpointRow(theirs.endpoint.id)).toEqual(before)
  })
})

describe('deleteWebhookEndpoint', () => {
  test('default: removes the endpoint; its pending deliveries fail, settled ones stay as they were', async () => {
    const { endpoint } = await newEndpoint()
    const pending = await insertDelivery(endpoint.id, 'pending')
    const succeeded = await insertDelivery(endpoint.id, 'succeeded')
    await deleteWebhookEndpoint(handle, merchantId, endpoint.id)
    expect(await endpointRow(endpoint.id)).toBeUndefined()
    const statuses = await handle.db
      .select({ id: webhookDeliveries.id, status: webhookDeliveries.status })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.endpointId, endpoint.id))
    expect(Object.fromEntries(statuses.map((s) => [s.id, s.status]))).toEqual({
      [pending]: 'failed',
      [succeeded]: 'succeeded',
    })
    expect((await rejection(deleteWebhookEndpoint(handle, merchantId, endpoint.id))).code).toBe('NOT_FOUND')
  })

  test('error: another merchant’s endpoint is NOT_FOUND; it and its pending deliveries stay', async () => {
    const theirs = await newEndpoint(otherMerchantId)
    const pending = await insertDelivery(theirs.endpoint.id, 'pending')
    expect((await rejection(deleteWebhookEndpoint(handle, merchantId, theirs.endpoint.id))).code).toBe(
      'NOT_FOUND',
    )
    expect(await endpointRow(theirs.endpoint.id)).toBeDefined()
    const [row] = await handle.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, pending))
    expect(row!.status).toBe('pending')
  })
})

describe('rotateWebhookSecret', () => {
  test('default: a new secret; the old one keeps signing until the overlap ends', async () => {
    const { endpoint, secret: old } = await newEndpoint()
    const before = Date.now()
    const { endpoint: rotated, secret } = await rotateWebhookSecret(handle, merchantId, endpoint.id, 3600)
    const after = Date.now()
    expect(secret).toMatch(/^whsec_/)
    expect(secret).not.toBe(old)
    expect(rotated.secret).toBe(secret)
    expect(rotated.previousSecret).toBe(old)
    const expires = rotated.previousSecretExpiresAt!.getTime()
    expect(expires).toBeGreaterThanOrEqual(before + 3_600_000 - 1)
    expect(expires).toBeLessThanOrEqual(after + 3_600_000 + 1)
    expect(await endpointRow(endpoint.id)).toEqual(rotated)
  })

  test('behavior: the default overlap is a day; an overlap of 0 drops the old secret at once', async () => {
    const { endpoint } = await newEndpoint()
    const { endpoint: daily } = await rotateWebhookSecret(handle, merchantId, endpoint.id)
    expect(daily.previousSecretExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 86_400_000 - 60_000)
    const { endpoint: immediate, secret } = await rotateWebhookSecret(handle, merchantId, endpoint.id, 0)
    expect(immediate.secret).toBe(secret)
    expect(immediate.previousSecret).toBeNull()
    expect(immediate.previousSecretExpiresAt).toBeNull()
  })

  test('behavior: the longest overlap (7 days) is accepted', async () => {
    const { endpoint } = await newEndpoint()
    const { endpoint: rotated } = await rotateWebhookSecret(handle, merchantId, endpoint.id, 604_800)
    expect(rotated.previousSecret).toBe(endpoint.secret)
  })

  test('error: a bad overlapSeconds is INVALID_INPUT and the secret stays', async () => {
    const { endpoint } = await newEndpoint()
    const before = await endpointRow(endpoint.id)
    for (const overlap of [-1, 1.5, 604_801, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = await rejection(rotateWebhookSecret(handle, merchantId, endpoint.id, overlap))
      expect({ overlap, code: err.code, field: err.field }).toEqual({
        overlap,
        code: 'INVALID_INPUT',
        field: 'overlapSeconds',
      })
    }
    expect(await endpointRow(endpoint.id)).toEqual(before)
  })

  test('error: another merchant’s endpoint is NOT_FOUND and keeps its secret', async () => {
    const theirs = await newEndpoint(otherMerchantId)
    const before = await endpointRow(theirs.endpoint.id)
    expect((await rejection(rotateWebhookSecret(handle, merchantId, theirs.endpoint.id, 60))).code).toBe(
      'NOT_FOUND',
    )
    expect(await endpointRow(theirs.endpoint.id)).toEqual(before)
  })
})
