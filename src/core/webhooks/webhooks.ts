import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import {
  outboundTxs,
  paymentEvents,
  payments,
  webhookAttempts,
  webhookDeliveries,
  webhookEndpoints,
  withdrawalEvents,
  withdrawals,
} from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { assetById, resolveChain } from '../chains.ts'
import { invalidInput, notFound } from '../errors.ts'
import { newId } from '../ids.ts'
import { formatAmount } from '../money.ts'
import type { PaymentRow } from '../payments/payments.ts'
import { overpaidAmount } from '../payments/views.ts'
import type { WithdrawalRow } from '../payouts/withdrawals.ts'
import { newWebhookSecret, signWebhook } from './signing.ts'
import { checkWebhookUrl } from './url-guard.ts'

export const webhookEventTypes = [
  'payment.created',
  'payment.partially_paid',
  'payment.processing',
  'payment.completed',
  'payment.expired',
  'payment.underpaid',
  'payment.reverted',
  'payment.held',
  'withdrawal.requested',
  'withdrawal.queued',
  'withdrawal.broadcast',
  'withdrawal.confirmed',
  'withdrawal.failed',
  'withdrawal.canceled',
] as const

export type WebhookSettings = {
  /** Development: let endpoints point at loopback and private addresses. */
  allowInternal: boolean
  /** Delay before each retry; its length is the number of retries. */
  retrySchedule: readonly number[]
  timeoutMs: number
}

export type WebhookContext = { db: Db; chains: ChainRegistry; webhooks: WebhookSettings }

export type EndpointRow = typeof webhookEndpoints.$inferSelect

function checkEvents(events: readonly string[]): string[] {
  if (events.length === 0) throw invalidInput('events', 'name at least one event type')
  const unknown = events.filter((e) => !(webhookEventTypes as readonly string[]).includes(e))
  if (unknown.length > 0) throw invalidInput('events', `unknown event type(s): ${unknown.join(', ')}`)
  return [...new Set(events)]
}

function checkDescription(description: string | null | undefined): string | null {
  if (description == null) return null
  if (description.length > 500) throw invalidInput('description', 'description is at most 500 characters')
  return description
}

/**
 * Registers an endpoint; the signing secret is in the result, once.
 *
 * @example
 * const { endpoint, secret } = await createWebhookEndpoint(ctx, merchantId, { url, events: ['payment.completed'] })
 */
export async function createWebhookEndpoint(
  ctx: WebhookContext,
  merchantId: string,
  input: { url: string; events: readonly string[]; description?: string | null },
) {
  const events = checkEvents(input.events)
  const description = checkDescription(input.description)
  const url = await checkWebhookUrl(input.url, { allowInternal: ctx.webhooks.allowInternal })
  const secret = newWebhookSecret()
  const [endpoint] = await ctx.db
    .insert(webhookEndpoints)
    .values({ id: newId('whe'), merchantId, url: url.href, events, description, secret })
    .returning()
  return { endpoint: endpoint!, secret }
}

async function ownEndpoint(ctx: { db: Db }, merchantId: string, id: string): Promise<EndpointRow> {
  const [row] = await ctx.db
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.merchantId, merchantId)))
  if (!row) throw notFound('webhook endpoint')
  return row
}

export async function listWebhookEndpoints(ctx: { db: Db }, merchantId: string) {
  return ctx.db
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.merchantId, merchantId))
    .orderBy(webhookEndpoints.id)
}

/** Changes url, events, description or enabled; unknown ids (or another merchant's) are NOT_FOUND. */
export async function updateWebhookEndpoint(
  ctx: WebhookContext,
  merchantId: string,
  id: string,
  input: {
    url?: string | null
    events?: readonly string[] | null
    description?: string | null
    enabled?: boolean | null
  },
) {
  await ownEndpoint(ctx, merchantId, id)
  const set: Partial<EndpointRow> = { updatedAt: new Date() }
  if (input.url != null)
    set.url = (await checkWebhookUrl(input.url, { allowInternal: ctx.webhooks.allowInternal })).href
  if (input.events != null) set.events = checkEvents(input.events)
  if (input.description !== undefined) set.description = checkDescription(input.description)
  if (input.enabled != null) set.enabled = input.enabled
  const [row] = await ctx.db.update(webhookEndpoints).set(set).where(eq(webhookEndpoints.id, id)).returning()
  return row!
}

export async function deleteWebhookEndpoint(ctx: { db: Db }, merchantId: string, id: string) {
  await ownEndpoint(ctx, merchantId, id)
  await ctx.db.transaction(async (tx) => {
    await tx
      .update(webhookDeliveries)
      .set({ status: 'failed' })
      .where(and(eq(webhookDeliveries.endpointId, id), eq(webhookDeliveries.status, 'pending')))
    await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id))
  })
}

/**
 * Issues a new secret; the old one keeps signing (both signatures are sent) for `overlapSeconds`, so the
 * receiver can switch without dropping a delivery.
 *
 * @example
 * const { secret } = await rotateWebhookSecret(ctx, merchantId, endpointId, 86_400)
 */
export async function rotateWebhookSecret(
  ctx: { db: Db },
  merchantId: string,
  id: string,
  overlapSeconds = 86_400,
) {
  if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0 || overlapSeconds > 7 * 86_400)
    throw invalidInput('overlapSeconds', 'overlapSeconds must be 0 to 604800')
  const current = await ownEndpoint(ctx, merchantId, id)
  const secret = newWebhookSecret()
  const [endpoint] = await ctx.db
    .update(webhookEndpoints)
    .set({
      secret,
      previousSecret: overlapSeconds > 0 ? current.secret : null,
      previousSecretExpiresAt: overlapSeconds > 0 ? new Date(Date.now() + overlapSeconds * 1000) : null,
      updatedAt: new Date(),
    })
    .where(eq(webhookEndpoints.id, id))
    .returning()
  return { endpoint: endpoint!, secret }
}

/** The payment as receivers see it: amounts as decimal strings in whole units. */
export function paymentJson(chains: ChainRegistry, p: PaymentRow) {
  const asset = assetById(chains, p.chain, p.asset)
  const amount = (v: bigint) => formatAmount(v, asset.decimals)
  return {
    object: 'payment',
    id: p.id,
    status: p.status,
    chain: p.chain,
    asset: { id: asset.id, symbol: asset.symbol, decimals: asset.decimals },
    amountDue: amount(p.amountDue),
    amountReceived: amount(p.amountReceived),
    amountConfirmed: amount(p.amountConfirmed),
    overpaidAmount: amount(overpaidAmount(p)),
    address: p.address,
    confirmationsRequired: p.confirmationsRequired,
    expiresAt: p.expiresAt.toISOString(),
    orderId: p.orderId,
    metadata: p.metadata ?? null,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    completedAt: p.completedAt?.toISOString() ?? null,
  }
}

/** A merchant's withdrawal as webhooks carry it (amounts as decimal strings in whole units). */
export function withdrawalJson(chains: ChainRegistry, w: WithdrawalRow, hash: string | null) {
  const asset = assetById(chains, w.chain, w.asset)
  const native = resolveChain(chains, w.chain).driver.nativeAsset
  return {
    object: 'withdrawal',
    id: w.id,
    status: w.status,
    chain: w.chain,
    asset: { id: asset.id, symbol: asset.symbol, decimals: asset.decimals },
    to: w.toAddress,
    amount: formatAmount(w.amount, asset.decimals),
    networkFee: w.networkFee === null ? null : formatAmount(w.networkFee, native.decimals),
    txHash: hash,
    failureReason: w.failureReason,
    idempotencyKey: w.idempotencyKey,
    createdAt: w.createdAt.toISOString(),
    updatedAt: w.updatedAt.toISOString(),
  }
}

type OutboxEvent = { objectId: string; merchantId: string; seq: number; type: string; createdAt: Date }
type Endpoint = typeof webhookEndpoints.$inferSelect

/** One delivery per (event, endpoint of its merchant that wants its type); the event id is stable per event. */
function deliveriesFor(
  events: readonly OutboxEvent[],
  endpoints: readonly Endpoint[],
  data: Map<string, unknown>,
) {
  return events.flatMap((e) => {
    const object = data.get(e.objectId)
    if (!object) return []
    const eventId = `evt_${e.objectId.replace(/^[a-z]+_/, '')}_${e.seq}`
    return endpoints
      .filter((w) => w.merchantId === e.merchantId && w.events.includes(e.type))
      .map((w) => ({
        id: newId('whd'),
        endpointId: w.id,
        merchantId: e.merchantId,
        eventId,
        eventType: e.type,
        payload: {
          id: eventId,
          type: e.type,
          createdAt: e.createdAt.toISOString(),
          sequence: e.seq,
          data: object,
        },
      }))
  })
}

async function endpointsOf(tx: Tx, merchantIds: readonly string[]): Promise<Endpoint[]> {
  if (merchantIds.length === 0) return []
  return tx
    .select()
    .from(webhookEndpoints)
    .where(
      and(
        inArray(webhookEndpoints.merchantId, [...new Set(merchantIds)]),
        eq(webhookEndpoints.enabled, true),
      ),
    )
}

/**
 * Turns undispatched payment and withdrawal events (the outboxes, written with each status change) into
 * deliveries for every enabled endpoint of the merchant that wants the type, and marks them dispatched, in one
 * transaction. Returns the new delivery ids.
 */
export async function dispatchWebhookEvents(
  ctx: WebhookContext,
  limit = 500,
): Promise<Array<{ id: string; nextAttemptAt: Date }>> {
  return ctx.db.transaction(async (tx) => {
    const paymentOutbox = await tx
      .select()
      .from(paymentEvents)
      .where(sql`not ${paymentEvents.dispatched}`)
      .orderBy(paymentEvents.createdAt)
      .limit(limit)
      .for('update', { skipLocked: true })
    const withdrawalOutbox = await tx
      .select()
      .from(withdrawalEvents)
      .where(sql`not ${withdrawalEvents.dispatched}`)
      .orderBy(withdrawalEvents.createdAt)
      .limit(limit)
      .for('update', { skipLocked: true })
    if (paymentOutbox.length === 0 && withdrawalOutbox.length === 0) return []
    const endpoints = await endpointsOf(tx, [
      ...paymentOutbox.map((e) => e.merchantId),
      ...withdrawalOutbox.map((e) => e.merchantId),
    ])
    const data = new Map<string, unknown>()
    if (endpoints.length && paymentOutbox.length) {
      const rows = await tx
        .select()
        .from(payments)
        .where(inArray(payments.id, [...new Set(paymentOutbox.map((e) => e.paymentId))]))
      for (const p of rows) data.set(p.id, paymentJson(ctx.chains, p))
    }
    if (endpoints.length && withdrawalOutbox.length) {
      const rows = await tx
        .select({ withdrawal: withdrawals, hash: outboundTxs.hash })
        .from(withdrawals)
        .leftJoin(outboundTxs, eq(outboundTxs.id, withdrawals.outboundTxId))
        .where(inArray(withdrawals.id, [...new Set(withdrawalOutbox.map((e) => e.withdrawalId))]))
      for (const r of rows) data.set(r.withdrawal.id, withdrawalJson(ctx.chains, r.withdrawal, r.hash))
    }
    const rows = deliveriesFor(
      [
        ...paymentOutbox.map((e) => ({ ...e, objectId: e.paymentId })),
        ...withdrawalOutbox.map((e) => ({ ...e, objectId: e.withdrawalId })),
      ],
      endpoints,
      data,
    )
    const inserted = rows.length
      ? await tx
          .insert(webhookDeliveries)
          .values(rows)
          .onConflictDoNothing()
          .returning({ id: webhookDeliveries.id, nextAttemptAt: webhookDeliveries.nextAttemptAt })
      : []
    for (const e of paymentOutbox)
      await tx
        .update(paymentEvents)
        .set({ dispatched: true })
        .where(and(eq(paymentEvents.paymentId, e.paymentId), eq(paymentEvents.seq, e.seq)))
    for (const e of withdrawalOutbox)
      await tx
        .update(withdrawalEvents)
        .set({ dispatched: true })
        .where(and(eq(withdrawalEvents.withdrawalId, e.withdrawalId), eq(withdrawalEvents.seq, e.seq)))
    return inserted
  })
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  while (size < maxBytes) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
  }
  await reader.cancel().catch(() => {})
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8')
}

export type DeliveryOutcome =
  | { kind: 'skipped' }
  | { kind: 'succeeded'; statusCode: number }
  | { kind: 'retry'; at: Date; attempt: number; statusCode?: number; error?: string }
  | { kind: 'failed'; statusCode?: number; error?: string }

/**
 * Makes one attempt at a due delivery. The row is claimed first (a lease), so two workers never send it at the
 * same time; a worker killed mid-send leaves the claim to run out and the delivery to be sent again (at least
 * once). Every attempt is recorded; after the last one the delivery fails and the endpoint is flagged.
 */
export async function attemptDelivery(
  ctx: WebhookContext,
  deliveryId: string,
  now = new Date(),
): Promise<DeliveryOutcome> {
  // long enough for one attempt to finish and be recorded; a dead worker's claim runs out soon after
  const claimFor = ctx.webhooks.timeoutMs + 5_000
  const [delivery] = await ctx.db
    .update(webhookDeliveries)
    .set({ lockedUntil: new Date(now.getTime() + claimFor) })
    .where(
      and(
        eq(webhookDeliveries.id, deliveryId),
        eq(webhookDeliveries.status, 'pending'),
        sql`${webhookDeliveries.nextAttemptAt} <= ${now.toISOString()}`,
        sql`(${webhookDeliveries.lockedUntil} is null or ${webhookDeliveries.lockedUntil} < ${now.toISOString()})`,
      ),
    )
    .returning()
  if (!delivery) return { kind: 'skipped' }
  const [endpoint] = await ctx.db
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.id, delivery.endpointId))
  const attempt = delivery.attempts + 1
  let statusCode: number | undefined
  let error: string | undefined
  let responseBody: string | undefined
  const started = performance.now()
  if (!endpoint?.enabled) error = 'endpoint disabled or deleted'
  else {
    try {
      const url = await checkWebhookUrl(endpoint.url, { allowInternal: ctx.webhooks.allowInternal })
      const body = JSON.stringify(delivery.payload)
      const secrets = [endpoint.secret]
      if (
        endpoint.previousSecret &&
        endpoint.previousSecretExpiresAt &&
        endpoint.previousSecretExpiresAt > now
      )
        secrets.push(endpoint.previousSecret)
      const headers = signWebhook({
        id: delivery.eventId,
        timestamp: Math.floor(Date.now() / 1000),
        body,
        secrets,
      })
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Tollgate-Webhooks/1', ...headers },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(ctx.webhooks.timeoutMs),
      })
      statusCode = res.status
      responseBody = await readCapped(res, 1024)
    } catch (err) {
      error = err instanceof Error ? err.message.slice(0, 500) : String(err)
    }
  }
  const latencyMs = Math.round(performance.now() - started)
  const ok = statusCode !== undefined && statusCode >= 200 && statusCode < 300
  const retries = ctx.webhooks.retrySchedule
  const finished = new Date()
  return ctx.db.transaction(async (tx) => {
    await tx
      .insert(webhookAttempts)
      .values({ deliveryId, attempt, statusCode, error, latencyMs, responseBody })
    if (ok) {
      await tx
        .update(webhookDeliveries)
        .set({
          status: 'succeeded',
          attempts: attempt,
          lastStatusCode: statusCode,
          deliveredAt: finished,
          lockedUntil: null,
        })
        .where(eq(webhookDeliveries.id, deliveryId))
      await tx
        .update(webhookEndpoints)
        .set({ failingSince: null })
        .where(eq(webhookEndpoints.id, delivery.endpointId))
      return { kind: 'succeeded', statusCode: statusCode as number }
    }
    if (attempt > retries.length || !endpoint?.enabled) {
      await tx
        .update(webhookDeliveries)
        .set({ status: 'failed', attempts: attempt, lastStatusCode: statusCode, lockedUntil: null })
        .where(eq(webhookDeliveries.id, deliveryId))
      await tx
        .update(webhookEndpoints)
        .set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, now())` })
        .where(eq(webhookEndpoints.id, delivery.endpointId))
      return { kind: 'failed', statusCode, error }
    }
    // exponential schedule with ±20 % jitter, so receivers recovering from an outage are not hit all at once
    const delay = (retries[attempt - 1] as number) * (0.8 + Math.random() * 0.4)
    const at = new Date(finished.getTime() + delay)
    await tx
      .update(webhookDeliveries)
      .set({ attempts: attempt, lastStatusCode: statusCode, nextAttemptAt: at, lockedUntil: null })
      .where(eq(webhookDeliveries.id, deliveryId))
    return { kind: 'retry', at, attempt, statusCode, error }
  })
}

/** Pending deliveries that are due and unclaimed: what the queue must (re)wake, e.g. after Redis lost its jobs. */
export async function dueDeliveries(ctx: { db: Db }, now = new Date(), limit = 1000) {
  return ctx.db
    .select({
      id: webhookDeliveries.id,
      attempts: webhookDeliveries.attempts,
      nextAttemptAt: webhookDeliveries.nextAttemptAt,
    })
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.status, 'pending'),
        lt(webhookDeliveries.nextAttemptAt, new Date(now.getTime() + 1)),
        sql`(${webhookDeliveries.lockedUntil} is null or ${webhookDeliveries.lockedUntil} < ${now.toISOString()})`,
      ),
    )
    .limit(limit)
}

/** Sends a delivery again with a fresh retry schedule, whatever became of it. */
export async function redeliverWebhook(ctx: { db: Db }, merchantId: string, deliveryId: string) {
  const [row] = await ctx.db
    .update(webhookDeliveries)
    .set({ status: 'pending', attempts: 0, nextAttemptAt: new Date(), lockedUntil: null })
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.merchantId, merchantId)))
    .returning()
  if (!row) throw notFound('webhook delivery')
  return row
}

/** An endpoint's deliveries, newest first, with their attempts. */
export async function listWebhookDeliveries(
  ctx: { db: Db },
  merchantId: string,
  endpointId: string,
  params: { first?: number | null; after?: string | null },
) {
  await ownEndpoint(ctx, merchantId, endpointId)
  const first = params.first ?? 20
  if (!Number.isInteger(first) || first < 1 || first > 100)
    throw invalidInput('first', 'first must be 1 to 100')
  const rows = await ctx.db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.endpointId, endpointId),
        params.after ? lt(webhookDeliveries.id, params.after) : undefined,
      ),
    )
    .orderBy(desc(webhookDeliveries.id))
    .limit(first + 1)
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first }
}

export async function listWebhookAttempts(ctx: { db: Db }, deliveryId: string) {
  return ctx.db
    .select()
    .from(webhookAttempts)
    .where(eq(webhookAttempts.deliveryId, deliveryId))
    .orderBy(webhookAttempts.id)
}
