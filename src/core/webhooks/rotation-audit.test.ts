import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { openUnitDb, rejection, unitMerchant, unitWebhookContext } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { auditLog, webhookEndpoints } from '../../db/schema/index.ts'
import type { ErrorCode } from '../errors.ts'
import { createWebhookEndpoint, rotateWebhookSecret } from './endpoints.ts'

let handle: DbHandle
let merchantId: string
let otherMerchantId: string

beforeAll(async () => {
  handle = await openUnitDb()
  merchantId = await unitMerchant(handle, 'Rotating Shop')
  otherMerchantId = await unitMerchant(handle, 'Other Rotating Shop')
}, 30_000)
afterAll(() => handle.close())

const newEndpoint = (owner = merchantId) =>
  createWebhookEndpoint(unitWebhookContext(handle), owner, {
    url: 'https://93.184.215.14/hooks',
    events: ['payment.completed'],
  })

const rotations = (endpointId: string) =>
  handle.db.select().from(auditLog).where(eq(auditLog.targetId, endpointId))

const endpointRow = async (id: string) =>
  (await handle.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id)))[0]

describe('rotateWebhookSecret and the audit log', () => {
  test('default: a rotation by a key is recorded with key, request and overlap, never the secret', async () => {
    const { endpoint } = await newEndpoint()
    const { secret } = await rotateWebhookSecret(handle, merchantId, endpoint.id, 3600, {
      keyId: 'key_rotator',
      requestId: 'req-rotate-1',
    })
    const entries = await rotations(endpoint.id)
    expect(entries.map((e) => ({ ...e, id: undefined, createdAt: undefined }))).toEqual([
      {
        id: undefined,
        createdAt: undefined,
        merchantId,
        actor: 'key_rotator',
        action: 'webhook.secret_rotated',
        targetType: 'webhook_endpoint',
        targetId: endpoint.id,
        requestId: 'req-rotate-1',
        data: { overlapSeconds: 3600 },
      },
    ])
    expect(JSON.stringify(entries)).not.toContain(secret)
    expect(JSON.stringify(entries)).not.toContain(endpoint.secret)
  })

  test('behavior: an operator’s rotation is recorded as cli; each rotation is one entry', async () => {
    const { endpoint } = await newEndpoint()
    await rotateWebhookSecret(handle, merchantId, endpoint.id, 0, { cli: true })
    await rotateWebhookSecret(handle, merchantId, endpoint.id, undefined, { keyId: 'key_a' })
    const entries = await rotations(endpoint.id)
    expect(entries.map((e) => [e.actor, e.requestId, e.data])).toEqual([
      ['cli', null, { overlapSeconds: 0 }],
      ['key_a', null, { overlapSeconds: 86_400 }],
    ])
  })

  test('error: a refused rotation changes no secret and records nothing', async () => {
    const { endpoint } = await newEndpoint()
    const theirs = await newEndpoint(otherMerchantId)
    const before = [await endpointRow(endpoint.id), await endpointRow(theirs.endpoint.id)]
    const actor = { keyId: 'key_hostile', requestId: 'req-hostile' }
    const cases: Array<[string, number | undefined, ErrorCode]> = [
      [theirs.endpoint.id, 60, 'NOT_FOUND'],
      ['whe_00000000000000000000000000000000', 60, 'NOT_FOUND'],
      ["whe_' or '1'='1", 60, 'NOT_FOUND'],
      [endpoint.id, -1, 'INVALID_INPUT'],
      [endpoint.id, 604_801, 'INVALID_INPUT'],
      [endpoint.id, 0.5, 'INVALID_INPUT'],
      [endpoint.id, Number.NaN, 'INVALID_INPUT'],
    ]
    for (const [id, overlap, code] of cases)
      expect({
        id,
        overlap,
        code: (await rejection(rotateWebhookSecret(handle, merchantId, id, overlap, actor))).code,
      }).toEqual({ id, overlap, code })
    expect([await endpointRow(endpoint.id), await endpointRow(theirs.endpoint.id)]).toEqual(before)
    const recorded = await handle.db.select().from(auditLog).where(eq(auditLog.actor, 'key_hostile'))
    expect(recorded).toEqual([])
  })
})
