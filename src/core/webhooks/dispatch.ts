import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import {
  outboundTxs,
  paymentEvents,
  payments,
  webhookDeliveries,
  webhookEndpoints,
  withdrawalEvents,
  withdrawals,
} from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import type { WebhookContext } from './events.ts'
import { paymentJson, withdrawalJson } from './payloads.ts'

type OutboxEvent = {
  objectId: string
  merchantId: string
  seq: number
  type: string
  createdAt: Date
  data: unknown
}
type Endpoint = typeof webhookEndpoints.$inferSelect

const kytOf = (e: OutboxEvent) => (e.data as { kyt?: unknown } | null)?.kyt

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
          // a KYT hold, release or rejection says why: the verdict, the reason code and the list versions
          ...(kytOf(e) ? { kyt: kytOf(e) } : {}),
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
    // one statement per outbox, whatever the batch size
    const pairs = (events: Array<{ id: string; seq: number }>) =>
      sql.join(
        events.map((e) => sql`(${e.id}, ${e.seq}::int)`),
        sql`, `,
      )
    if (paymentOutbox.length)
      await tx
        .update(paymentEvents)
        .set({ dispatched: true })
        .where(
          sql`(${paymentEvents.paymentId}, ${paymentEvents.seq}) in (${pairs(paymentOutbox.map((e) => ({ id: e.paymentId, seq: e.seq })))})`,
        )
    if (withdrawalOutbox.length)
      await tx
        .update(withdrawalEvents)
        .set({ dispatched: true })
        .where(
          sql`(${withdrawalEvents.withdrawalId}, ${withdrawalEvents.seq}) in (${pairs(withdrawalOutbox.map((e) => ({ id: e.withdrawalId, seq: e.seq })))})`,
        )
    return inserted
  })
}
