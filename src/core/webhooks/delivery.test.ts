import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { Webhook } from 'standardwebhooks'
import { openUnitDb, unitMerchant, unitWebhookContext } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import { claimDueDeliveries, releaseClaims } from './claims.ts'
import { createReceiverConnections } from './connections.ts'
import { attemptDelivery, sendClaimedDelivery } from './delivery.ts'
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  rotateWebhookSecret,
  updateWebhookEndpoint,
} from './endpoints.ts'
import type { WebhookContext } from './events.ts'
import { recordAttempts } from './record-attempts.ts'
import { newWebhookSecret } from './signing.ts'
import type { HostResolver } from './url-guard.ts'

/** What the receiver saw of one request. */
type Received = { path: string; headers: Record<string, string>; body: string }

let handle: DbHandle
let ctx: WebhookContext
let merchantId: string
let server: ReturnType<typeof Bun.serve>
/** Another receiver on the same port of another loopback address: what reaches it went to 127.0.0.2. */
let elsewhere: ReturnType<typeof Bun.serve>
const received: Received[] = []
const receivedElsewhere: Received[] = []

beforeAll(async () => {
  handle = await openUnitDb()
  ctx = unitWebhookContext(handle, { allowInternal: true, timeoutMs: 5000 })
  merchantId = await unitMerchant(handle, 'Receiver Shop')
  // a merchant's receiver: answers by path
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: async (req) => {
      const path = new URL(req.url).pathname.split('/')[1] ?? ''
      received.push({ path, headers: Object.fromEntries(req.headers), body: await req.text() })
      if (path === 'ok') return new Response('thanks')
      if (path === 'fail') return new Response('oops', { status: 500 })
      if (path === 'redirect')
        return Response.redirect(`http://127.0.0.1:${server.port}/ok/after-redirect`, 302)
      if (path === 'big') return new Response('x'.repeat(5000))
      if (path === 'slow')
        // never answers in time: the gateway gives up after timeoutMs
        return new Promise<Response>((resolve) => {
          req.signal.addEventListener('abort', () => resolve(new Response('late')))
        })
      return new Response('no such path', { status: 404 })
    },
  })
  elsewhere = Bun.serve({
    port: server.port,
    hostname: '127.0.0.2',
    fetch: async (req) => {
      receivedElsewhere.push({ path: '', headers: Object.fromEntries(req.headers), body: await req.text() })
      return new Response('wrong place', { status: 500 })
    },
  })
}, 30_000)
afterAll(async () => {
  server.stop(true)
  elsewhere.stop(true)
  await handle.close()
})

/**
 * An endpoint on the receiver at `/path/<unique>` and one pending, due delivery to it; the URL's host is
 * `host` [127.0.0.1] (a name only an injected resolver knows, for the pinning tests).
 */
async function deliveryTo(
  path: string,
  fields: Partial<typeof webhookDeliveries.$inferInsert> = {},
  host = '127.0.0.1',
) {
  const tag = newId('t')
  const { endpoint, secret } = await createWebhookEndpoint(ctx, merchantId, {
    url: `http://${host}:${server.port}/${path}/${tag}`,
    events: ['payment.completed'],
  })
  const id = newId('whd')
  const eventId = `evt_${tag}_2`
  const payload = {
    id: eventId,
    type: 'payment.completed',
    sequence: 2,
    data: { object: 'payment', amount: '1.5' },
  }
  await handle.db.insert(webhookDeliveries).values({
    id,
    endpointId: endpoint.id,
    merchantId,
    eventId,
    eventType: 'payment.completed',
    payload,
    nextAttemptAt: new Date(Date.now() - 1000),
    ...fields,
  })
  const requests = () => received.filter((r) => r.headers['webhook-id'] === eventId)
  const requestsElsewhere = () => receivedElsewhere.filter((r) => r.headers['webhook-id'] === eventId)
  return { endpoint, secret, id, eventId, payload, requests, requestsElsewhere }
}

const deliveryRow = async (id: string) =>
  (await handle.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)))[0]!
const endpointRow = async (id: string) =>
  (await handle.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id)))[0]!
const attemptsOf = (id: string) =>
  handle.db
    .select()
    .from(webhookAttempts)
    .where(eq(webhookAttempts.deliveryId, id))
    .orderBy(webhookAttempts.id)

/** Whether a receiver holding `secret` accepts the request (Standard Webhooks, as a merchant would check). */
function verifies(request: Received, secret: string): boolean {
  try {
    new Webhook(secret).verify(request.body, request.headers)
    return true
  } catch {
    return false
  }
}

/** A resolver answering `answers[i]` on its i-th call (the last one from then on), recording the names asked. */
function scriptedResolver(...answers: string[][]): HostResolver & { calls: string[] } {
  const calls: string[] = []
  const resolve = async (hostname: string) => {
    calls.push(hostname)
    const answer = answers[Math.min(calls.length, answers.length) - 1] ?? []
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return Object.assign(resolve, { calls })
}

const signatures = (request: Received) =>
  (request.headers['webhook-signature'] ?? '').split(' ').filter(Boolean)

describe('attemptDelivery', () => {
  test('default: a 2xx marks the delivery succeeded once; the receiver gets the payload, signed', async () => {
    const d = await deliveryTo('ok')
    expect(await attemptDelivery(ctx, d.id)).toEqual({ kind: 'succeeded', statusCode: 200 })
    const [request] = d.requests()
    expect(d.requests()).toHaveLength(1)
    expect(request!.headers['content-type']).toBe('application/json')
    expect(request!.headers['webhook-id']).toBe(d.eventId)
    expect(JSON.parse(request!.body)).toEqual(d.payload)
    expect(new Webhook(d.secret).verify(request!.body, request!.headers)).toEqual(d.payload)
    expect(signatures(request!)).toHaveLength(1)
    const row = await deliveryRow(d.id)
    expect(row).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 200, lockedUntil: null })
    expect(row.deliveredAt).toBeInstanceOf(Date)
    const attempts = await attemptsOf(d.id)
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.error, a.responseBody])).toEqual([
      [1, 200, null, 'thanks'],
    ])
    // done is done: a second wake-up sends nothing and records nothing
    expect(await attemptDelivery(ctx, d.id)).toEqual({ kind: 'skipped' })
    expect(d.requests()).toHaveLength(1)
    expect(await attemptsOf(d.id)).toHaveLength(1)
    expect(await deliveryRow(d.id)).toEqual(row)
  })

  test('behavior: a 500 schedules a retry; after the last retry the delivery fails and the endpoint is flagged', async () => {
    const d = await deliveryTo('fail')
    const before = new Date()
    const first = await attemptDelivery(ctx, d.id)
    expect(first).toMatchObject({ kind: 'retry', attempt: 1, statusCode: 500 })
    if (first.kind !== 'retry') throw new Error('expected a retry')
    expect(first.at.getTime()).toBeGreaterThan(before.getTime())
    expect(await deliveryRow(d.id)).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastStatusCode: 500,
      nextAttemptAt: first.at,
      lockedUntil: null,
    })
    // not due yet: a wake-up before its time sends nothing
    expect(await attemptDelivery(ctx, d.id, new Date(first.at.getTime() - 1))).toEqual({ kind: 'skipped' })
    expect(d.requests()).toHaveLength(1)

    const second = await attemptDelivery(ctx, d.id, first.at)
    expect(second).toMatchObject({ kind: 'retry', attempt: 2, statusCode: 500 })
    if (second.kind !== 'retry') throw new Error('expected a retry')
    expect(second.at.getTime()).toBeGreaterThan(first.at.getTime())
    expect((await endpointRow(d.endpoint.id)).failingSince).toBeNull()

    // the schedule has two retries: the third attempt is the last
    expect(await attemptDelivery(ctx, d.id, second.at)).toEqual({
      kind: 'failed',
      statusCode: 500,
      error: undefined,
    })
    expect(await deliveryRow(d.id)).toMatchObject({
      status: 'failed',
      attempts: 3,
      lastStatusCode: 500,
      lockedUntil: null,
    })
    expect((await endpointRow(d.endpoint.id)).failingSince).toBeInstanceOf(Date)
    expect((await attemptsOf(d.id)).map((a) => [a.attempt, a.statusCode])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
    ])
    expect(d.requests()).toHaveLength(3)
    // failed is final
    expect(await attemptDelivery(ctx, d.id, new Date(Date.now() + 3_600_000))).toEqual({ kind: 'skipped' })
    expect(d.requests()).toHaveLength(3)
  })

  test('behavior: a success clears the endpoint’s failing flag', async () => {
    const d = await deliveryTo('ok')
    await handle.db
      .update(webhookEndpoints)
      .set({ failingSince: new Date(Date.now() - 60_000) })
      .where(eq(webhookEndpoints.id, d.endpoint.id))
    expect((await attemptDelivery(ctx, d.id)).kind).toBe('succeeded')
    expect((await endpointRow(d.endpoint.id)).failingSince).toBeNull()
  })

  test('behavior: a delivery claimed by another worker is skipped: nothing sent, nothing recorded', async () => {
    const now = new Date()
    const d = await deliveryTo('ok', { lockedUntil: new Date(now.getTime() + 60_000) })
    expect(await attemptDelivery(ctx, d.id, now)).toEqual({ kind: 'skipped' })
    expect(d.requests()).toEqual([])
    expect(await attemptsOf(d.id)).toEqual([])
    expect(await deliveryRow(d.id)).toMatchObject({ status: 'pending', attempts: 0 })
    // once that worker's claim has run out (it died), the delivery is sent
    expect((await attemptDelivery(ctx, d.id, new Date(now.getTime() + 60_001))).kind).toBe('succeeded')
    expect(d.requests()).toHaveLength(1)
  })

  test('behavior: two workers woken for the same delivery at once send it once', async () => {
    const d = await deliveryTo('ok')
    const outcomes = await Promise.all([attemptDelivery(ctx, d.id), attemptDelivery(ctx, d.id)])
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['skipped', 'succeeded'])
    expect(d.requests()).toHaveLength(1)
    expect(await attemptsOf(d.id)).toHaveLength(1)
  })

  test('behavior: during a rotation’s overlap the body is signed with both secrets; each verifies', async () => {
    const d = await deliveryTo('ok')
    const { secret: current } = await rotateWebhookSecret(handle, merchantId, d.endpoint.id, 3600)
    expect((await attemptDelivery(ctx, d.id)).kind).toBe('succeeded')
    const [request] = d.requests()
    expect(signatures(request!)).toHaveLength(2)
    expect(verifies(request!, d.secret)).toBe(true)
    expect(verifies(request!, current)).toBe(true)
    expect(verifies(request!, newWebhookSecret())).toBe(false)
  })

  test('behavior: after a rotation without overlap only the new secret verifies', async () => {
    const d = await deliveryTo('ok')
    const { secret: current } = await rotateWebhookSecret(handle, merchantId, d.endpoint.id, 0)
    expect((await attemptDelivery(ctx, d.id)).kind).toBe('succeeded')
    const [request] = d.requests()
    expect(signatures(request!)).toHaveLength(1)
    expect(verifies(request!, current)).toBe(true)
    expect(verifies(request!, d.secret)).toBe(false)
  })

  test('behavior: once the overlap has ended the previous secret no longer signs', async () => {
    const d = await deliveryTo('ok')
    const { secret: current } = await rotateWebhookSecret(handle, merchantId, d.endpoint.id, 3600)
    await handle.db
      .update(webhookEndpoints)
      .set({ previousSecretExpiresAt: new Date(Date.now() - 1000) })
      .where(eq(webhookEndpoints.id, d.endpoint.id))
    expect((await attemptDelivery(ctx, d.id)).kind).toBe('succeeded')
    const [request] = d.requests()
    expect(signatures(request!)).toHaveLength(1)
    expect(verifies(request!, current)).toBe(true)
    expect(verifies(request!, d.secret)).toBe(false)
  })

  test('behavior: the POST goes to the address the guard checked; a name answering differently later is not asked again', async () => {
    const d = await deliveryTo('ok', {}, 'hooks.rebind.test')
    // the first answer is checked and used; any second lookup would be sent to 127.0.0.2
    const resolveHost = scriptedResolver(['127.0.0.1'], ['127.0.0.2'])
    expect(await attemptDelivery({ ...ctx, resolveHost }, d.id)).toEqual({
      kind: 'succeeded',
      statusCode: 200,
    })
    expect(resolveHost.calls).toEqual(['hooks.rebind.test'])
    expect(d.requestsElsewhere()).toEqual([])
    const [request] = d.requests()
    expect(d.requests()).toHaveLength(1)
    expect(request!.headers.host).toBe(`hooks.rebind.test:${server.port}`)
    expect(verifies(request!, d.secret)).toBe(true)
    expect((await attemptsOf(d.id)).map((a) => [a.statusCode, a.responseBody])).toEqual([[200, 'thanks']])
  })

  test('behavior: each attempt resolves once and goes where that answer points, on a connection of its own', async () => {
    const d = await deliveryTo('ok', {}, 'hooks.rebind.test')
    const resolveHost = scriptedResolver(['127.0.0.2'], ['127.0.0.1'])
    const first = await attemptDelivery({ ...ctx, resolveHost }, d.id)
    expect(first).toMatchObject({ kind: 'retry', attempt: 1, statusCode: 500 })
    if (first.kind !== 'retry') throw new Error('expected a retry')
    expect(d.requestsElsewhere()).toHaveLength(1)
    expect(d.requests()).toEqual([])
    expect(await attemptDelivery({ ...ctx, resolveHost }, d.id, first.at)).toEqual({
      kind: 'succeeded',
      statusCode: 200,
    })
    expect(d.requests()).toHaveLength(1)
    expect(d.requestsElsewhere()).toHaveLength(1)
    expect(resolveHost.calls).toEqual(['hooks.rebind.test', 'hooks.rebind.test'])
  })

  test('behavior: a redirect is not followed; it counts as a failed attempt', async () => {
    const d = await deliveryTo('redirect')
    const outcome = await attemptDelivery(ctx, d.id)
    expect(outcome).toMatchObject({ kind: 'retry', attempt: 1, statusCode: 302 })
    expect(received.some((r) => r.path === 'ok' && r.headers['webhook-id'] === d.eventId)).toBe(false)
  })

  test('behavior: a receiver that does not answer in time is a retry with the error recorded', async () => {
    const d = await deliveryTo('slow')
    const impatient = { ...ctx, webhooks: { ...ctx.webhooks, timeoutMs: 200 } }
    const outcome = await attemptDelivery(impatient, d.id)
    expect(outcome.kind).toBe('retry')
    if (outcome.kind !== 'retry') throw new Error('expected a retry')
    expect(outcome.statusCode).toBeUndefined()
    expect(outcome.error).toBeTruthy()
    const [attempt] = await attemptsOf(d.id)
    expect(attempt).toMatchObject({ attempt: 1, statusCode: null, error: outcome.error })
  })

  test('behavior: at most 1024 characters of the answer are kept', async () => {
    const d = await deliveryTo('big')
    expect((await attemptDelivery(ctx, d.id)).kind).toBe('succeeded')
    const [attempt] = await attemptsOf(d.id)
    expect(attempt!.responseBody).toBe('x'.repeat(1024))
  })

  test('error: a disabled or deleted endpoint fails the delivery without sending', async () => {
    const disabled = await deliveryTo('ok')
    await updateWebhookEndpoint(ctx, merchantId, disabled.endpoint.id, { enabled: false })
    expect(await attemptDelivery(ctx, disabled.id)).toEqual({
      kind: 'failed',
      statusCode: undefined,
      error: 'endpoint disabled or deleted',
    })
    expect(disabled.requests()).toEqual([])
    expect((await deliveryRow(disabled.id)).status).toBe('failed')

    const deleted = await deliveryTo('ok')
    await handle.db.delete(webhookEndpoints).where(eq(webhookEndpoints.id, deleted.endpoint.id))
    expect((await attemptDelivery(ctx, deleted.id)).kind).toBe('failed')
    expect(deleted.requests()).toEqual([])
  })

  test('error: a URL that now points inside the network is checked again before sending and not called', async () => {
    const d = await deliveryTo('ok')
    const strict = { ...ctx, webhooks: { ...ctx.webhooks, allowInternal: false } }
    const outcome = await attemptDelivery(strict, d.id)
    expect(outcome.kind).toBe('retry')
    if (outcome.kind !== 'retry') throw new Error('expected a retry')
    expect(outcome.error).toContain('loopback')
    expect(d.requests()).toEqual([])
  })

  test('error: in production a name answering with an internal address is refused before sending', async () => {
    for (const answer of [
      ['127.0.0.1'],
      ['93.184.215.14', '127.0.0.1'],
      ['::ffff:7f00:1'],
      ['64:ff9b::7f00:1'],
    ]) {
      const d = await deliveryTo('ok', {}, 'hooks.rebind.test')
      const resolveHost = scriptedResolver(answer)
      const strict = { ...ctx, webhooks: { ...ctx.webhooks, allowInternal: false }, resolveHost }
      const outcome = await attemptDelivery(strict, d.id)
      expect({ answer, kind: outcome.kind }).toEqual({ answer, kind: 'retry' })
      if (outcome.kind !== 'retry') throw new Error('expected a retry')
      expect(outcome.error).toContain('not public')
      expect(d.requests()).toEqual([])
      expect(d.requestsElsewhere()).toEqual([])
      expect(resolveHost.calls).toEqual(['hooks.rebind.test'])
    }
  })

  test('error: an unknown delivery id is skipped', async () => {
    expect(await attemptDelivery(ctx, 'whd_unknown')).toEqual({ kind: 'skipped' })
  })
})

const claimIds = async (ids: string[], now = new Date()) =>
  new Set(
    (await claimDueDeliveries(handle, { limit: 100, claimFor: 60_000, now, ids })).map((c) => c.delivery.id),
  )

describe('claimDueDeliveries', () => {
  test('default: claims pending, due and unclaimed deliveries only, with their endpoints', async () => {
    const now = new Date()
    const due = await deliveryTo('ok', { nextAttemptAt: new Date(now.getTime() - 1) })
    const dueNow = await deliveryTo('ok', { nextAttemptAt: now })
    const later = await deliveryTo('ok', { nextAttemptAt: new Date(now.getTime() + 60_000) })
    const claimed = await deliveryTo('ok', { lockedUntil: new Date(now.getTime() + 60_000) })
    const claimExpired = await deliveryTo('ok', { lockedUntil: new Date(now.getTime() - 1) })
    const done = await deliveryTo('ok', { status: 'succeeded' })
    const given = await deliveryTo('ok', { status: 'failed' })
    const all = [due, dueNow, later, claimed, claimExpired, done, given]
    const batch = await claimDueDeliveries(handle, {
      limit: 100,
      claimFor: 60_000,
      now,
      ids: all.map((d) => d.id),
    })
    expect(new Set(batch.map((c) => c.delivery.id))).toEqual(new Set([due.id, dueNow.id, claimExpired.id]))
    for (const c of batch) {
      expect(c.endpoint?.id).toBe(c.delivery.endpointId)
      expect(c.claimedUntil.getTime()).toBe(now.getTime() + 60_000)
      expect((await deliveryRow(c.delivery.id)).lockedUntil).toEqual(c.claimedUntil)
    }
    // claimed now: a second claim at the same moment gets none of them
    expect(
      await claimIds(
        all.map((d) => d.id),
        now,
      ),
    ).toEqual(new Set())
  })

  test('behavior: two claimers at once split the due deliveries, none claimed twice', async () => {
    const ds = await Promise.all(Array.from({ length: 30 }, () => deliveryTo('ok')))
    const ids = ds.map((d) => d.id)
    const [a, b] = await Promise.all([
      claimDueDeliveries(handle, { limit: 20, claimFor: 60_000, ids }),
      claimDueDeliveries(handle, { limit: 20, claimFor: 60_000, ids }),
    ])
    const claimedIds = [...a!, ...b!].map((c) => c.delivery.id)
    expect(new Set(claimedIds).size).toBe(claimedIds.length)
    expect(claimedIds.length).toBe(30)
  })

  test('behavior: an endpoint deleted with pending deliveries leaves none of them due', async () => {
    const d = await deliveryTo('ok')
    await deleteWebhookEndpoint(handle, merchantId, d.endpoint.id)
    expect((await claimIds([d.id])).has(d.id)).toBe(false)
  })

  test('error: a limit below one or an empty id list claims nothing', async () => {
    const d = await deliveryTo('ok')
    expect(await claimDueDeliveries(handle, { limit: 0, claimFor: 60_000, ids: [d.id] })).toEqual([])
    expect(await claimDueDeliveries(handle, { limit: -5, claimFor: 60_000, ids: [d.id] })).toEqual([])
    expect(await claimDueDeliveries(handle, { limit: 10, claimFor: 60_000, ids: [] })).toEqual([])
    expect((await deliveryRow(d.id)).lockedUntil).toBeNull()
  })
})

describe('releaseClaims', () => {
  test('default: hands unsent claims back so they are due at once; a claim another worker took since is left alone', async () => {
    const mine = await deliveryTo('ok')
    const takenOver = await deliveryTo('ok')
    const claims = await claimDueDeliveries(handle, {
      limit: 10,
      claimFor: 60_000,
      ids: [mine.id, takenOver.id],
    })
    const otherClaim = new Date(Date.now() + 120_000)
    await handle.db
      .update(webhookDeliveries)
      .set({ lockedUntil: otherClaim })
      .where(eq(webhookDeliveries.id, takenOver.id))
    expect(await releaseClaims(handle, claims)).toBe(1)
    expect((await deliveryRow(mine.id)).lockedUntil).toBeNull()
    expect((await deliveryRow(takenOver.id)).lockedUntil).toEqual(otherClaim)
    expect(await claimIds([mine.id])).toEqual(new Set([mine.id]))
  })
})

describe('recordAttempts', () => {
  test('default: many attempts in one call: each delivery, attempt log and endpoint flag written as one by one would', async () => {
    const ok = await Promise.all(Array.from({ length: 5 }, () => deliveryTo('ok')))
    const failing = await deliveryTo('fail')
    const lastTry = await deliveryTo('fail', { attempts: 2 })
    await handle.db
      .update(webhookEndpoints)
      .set({ failingSince: new Date(Date.now() - 60_000) })
      .where(eq(webhookEndpoints.id, ok[0]!.endpoint.id))
    const claims = await claimDueDeliveries(handle, {
      limit: 10,
      claimFor: 60_000,
      ids: [...ok, failing, lastTry].map((d) => d.id),
    })
    const records = await Promise.all(claims.map((c) => sendClaimedDelivery(ctx, c)))
    expect((await recordAttempts(handle, records)).length).toBe(7)
    for (const d of ok) {
      expect(await deliveryRow(d.id)).toMatchObject({
        status: 'succeeded',
        attempts: 1,
        lastStatusCode: 200,
        lockedUntil: null,
      })
      expect((await attemptsOf(d.id)).map((a) => [a.attempt, a.statusCode])).toEqual([[1, 200]])
    }
    expect((await endpointRow(ok[0]!.endpoint.id)).failingSince).toBeNull()
    const retry = records.find((r) => r.claimed.delivery.id === failing.id)!
    if (retry.outcome.kind !== 'retry') throw new Error('expected a retry')
    expect(await deliveryRow(failing.id)).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastStatusCode: 500,
      nextAttemptAt: retry.outcome.at,
      deliveredAt: null,
      lockedUntil: null,
    })
    expect(await deliveryRow(lastTry.id)).toMatchObject({ status: 'failed', attempts: 3, lockedUntil: null })
    expect((await endpointRow(lastTry.endpoint.id)).failingSince).toBeInstanceOf(Date)
    expect((await endpointRow(failing.endpoint.id)).failingSince).toBeNull()
  })

  test('behavior: an attempt whose claim was taken over is logged but does not overwrite the delivery', async () => {
    const d = await deliveryTo('fail', { attempts: 2 })
    const [claim] = await claimDueDeliveries(handle, { limit: 1, claimFor: 60_000, ids: [d.id] })
    const record = await sendClaimedDelivery(ctx, claim!)
    expect(record.outcome.kind).toBe('failed')
    // meanwhile the claim ran out, another worker claimed it and delivered it
    await handle.db
      .update(webhookDeliveries)
      .set({ status: 'succeeded', attempts: 3, lockedUntil: null, lastStatusCode: 200 })
      .where(eq(webhookDeliveries.id, d.id))
    expect(await recordAttempts(handle, [record])).toEqual([])
    expect(await deliveryRow(d.id)).toMatchObject({ status: 'succeeded', attempts: 3, lastStatusCode: 200 })
    expect((await endpointRow(d.endpoint.id)).failingSince).toBeNull()
    expect((await attemptsOf(d.id)).map((a) => [a.attempt, a.statusCode])).toEqual([[3, 500]])
  })

  test('error: nothing to record writes nothing', async () => {
    expect(await recordAttempts(handle, [])).toEqual([])
  })
})

describe('kept-alive connections', () => {
  test('default: deliveries to one receiver reuse connections', async () => {
    const connections = createReceiverConnections()
    let opened = 0
    const counting = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: async (req) => {
        await req.text()
        return new Response('ok')
      },
    })
    const { createServer } = await import('node:net')
    // a TCP relay in front of the receiver counts the connections made to it
    const relay = createServer((socket) => {
      opened++
      const upstream = require('node:net').connect(counting.port, '127.0.0.1')
      socket.pipe(upstream).pipe(socket)
      socket.on('error', () => upstream.destroy())
      upstream.on('error', () => socket.destroy())
    })
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()))
    const port = (relay.address() as { port: number }).port
    try {
      const { endpoint } = await createWebhookEndpoint(ctx, merchantId, {
        url: `http://127.0.0.1:${port}/ok`,
        events: ['payment.completed'],
      })
      const ids: string[] = []
      for (let i = 0; i < 20; i++) {
        const id = newId('whd')
        ids.push(id)
        await handle.db.insert(webhookDeliveries).values({
          id,
          endpointId: endpoint.id,
          merchantId,
          eventId: `evt_keep_${id}`,
          eventType: 'payment.completed',
          payload: { n: i },
          nextAttemptAt: new Date(Date.now() - 1000),
        })
      }
      for (const id of ids)
        expect((await attemptDelivery({ ...ctx, connections }, id)).kind).toBe('succeeded')
      expect(opened).toBe(1)
    } finally {
      connections.close()
      relay.close()
      counting.stop(true)
    }
  })

  test('behavior: a kept connection is never reused for a name that now resolves elsewhere', async () => {
    const connections = createReceiverConnections()
    try {
      const first = await deliveryTo('ok', {}, 'hooks.rebind.test')
      const toLoopback = scriptedResolver(['127.0.0.1'])
      expect((await attemptDelivery({ ...ctx, resolveHost: toLoopback, connections }, first.id)).kind).toBe(
        'succeeded',
      )
      // the same name and port, answering another address now: the pooled connection to 127.0.0.1 must not serve it
      const second = await deliveryTo('ok', {}, 'hooks.rebind.test')
      const elsewhereNow = scriptedResolver(['127.0.0.2'])
      expect(
        await attemptDelivery({ ...ctx, resolveHost: elsewhereNow, connections }, second.id),
      ).toMatchObject({
        kind: 'retry',
        statusCode: 500,
      })
      expect(second.requestsElsewhere()).toHaveLength(1)
      expect(second.requests()).toEqual([])
    } finally {
      connections.close()
    }
  })
})
