import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import {
  depositEvents,
  invoiceEvents,
  invoices,
  multisigEvents,
  multisigProposals,
  outboundTxs,
  paymentEvents,
  payments,
  refundEvents,
  refunds,
  webhookDeliveries,
  webhookEndpoints,
  withdrawalEvents,
  withdrawals,
} from '../../db/schema/index.ts'
import { depositViews } from '../deposits/queries.ts'
import { newId } from '../ids.ts'
import type { WebhookContext } from './events.ts'
import {
  depositJson,
  invoiceJson,
  multisigJson,
  paymentJson,
  refundJson,
  withdrawalJson,
} from './payloads.ts'

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

/** An outbox table: its events, the objects they are about (as webhooks carry them), and marking them sent. */
type Outbox = {
  take(tx: Tx, limit: number): Promise<OutboxEvent[]>
  objects(ctx: WebhookContext, tx: Tx, ids: readonly string[]): Promise<Array<[string, unknown]>>
  markDispatched(tx: Tx, events: readonly OutboxEvent[]): Promise<unknown>
}

/** `(id, seq) in (…)`: one statement per outbox, whatever the batch size. */
const pairs = (events: readonly OutboxEvent[]) =>
  sql.join(
    events.map((e) => sql`(${e.objectId}, ${e.seq}::int)`),
    sql`, `,
  )

const paymentOutbox: Outbox = {
  take: async (tx, limit) =>
    (
      await tx
        .select()
        .from(paymentEvents)
        .where(sql`not ${paymentEvents.dispatched}`)
        .orderBy(paymentEvents.createdAt)
        .limit(limit)
        .for('update', { skipLocked: true })
    ).map((e) => ({ ...e, objectId: e.paymentId })),
  objects: async (ctx, tx, ids) =>
    (
      await tx
        .select()
        .from(payments)
        .where(inArray(payments.id, [...ids]))
    ).map((p) => [p.id, paymentJson(ctx.chains, p)]),
  markDispatched: (tx, events) =>
    tx
      .update(paymentEvents)
      .set({ dispatched: true })
      .where(sql`(${paymentEvents.paymentId}, ${paymentEvents.seq}) in (${pairs(events)})`),
}

const withdrawalOutbox: Outbox = {
  take: async (tx, limit) =>
    (
      await tx
        .select()
        .from(withdrawalEvents)
        .where(sql`not ${withdrawalEvents.dispatched}`)
        .orderBy(withdrawalEvents.createdAt)
        .limit(limit)
        .for('update', { skipLocked: true })
    ).map((e) => ({ ...e, objectId: e.withdrawalId })),
  objects: async (ctx, tx, ids) =>
    (
      await tx
        .select({ withdrawal: withdrawals, hash: outboundTxs.hash })
        .from(withdrawals)
        .leftJoin(outboundTxs, eq(outboundTxs.id, withdrawals.outboundTxId))
        .where(inArray(withdrawals.id, [...ids]))
    ).map((r) => [r.withdrawal.id, withdrawalJson(ctx.chains, r.withdrawal, r.hash)]),
  markDispatched: (tx, events) =>
    tx
      .update(withdrawalEvents)
      .set({ dispatched: true })
      .where(sql`(${withdrawalEvents.withdrawalId}, ${withdrawalEvents.seq}) in (${pairs(events)})`),
}

const invoiceOutbox: Outbox = {
  take: async (tx, limit) =>
    (
      await tx
        .select()
        .from(invoiceEvents)
        .where(sql`not ${invoiceEvents.dispatched}`)
        .orderBy(invoiceEvents.createdAt)
        .limit(limit)
        .for('update', { skipLocked: true })
    ).map((e) => ({ ...e, objectId: e.invoiceId })),
  objects: async (_ctx, tx, ids) => {
    const rows = await tx
      .select()
      .from(invoices)
      .where(inArray(invoices.id, [...ids]))
    const chosen = await tx
      .select({ id: payments.id, invoiceId: payments.invoiceId })
      .from(payments)
      .where(inArray(payments.invoiceId, [...ids]))
      .orderBy(payments.id)
    return rows.map((i) => [
      i.id,
      invoiceJson(
        i,
        chosen.filter((p) => p.invoiceId === i.id).map((p) => p.id),
      ),
    ])
  },
  markDispatched: (tx, events) =>
    tx
      .update(invoiceEvents)
      .set({ dispatched: true })
      .where(sql`(${invoiceEvents.invoiceId}, ${invoiceEvents.seq}) in (${pairs(events)})`),
}

const refundOutbox: Outbox = {
  take: async (tx, limit) =>
    (
      await tx
        .select()
        .from(refundEvents)
        .where(sql`not ${refundEvents.dispatched}`)
        .orderBy(refundEvents.createdAt)
        .limit(limit)
        .for('update', { skipLocked: true })
    ).map((e) => ({ ...e, objectId: e.refundId })),
  objects: async (ctx, tx, ids) =>
    (
      await tx
        .select({
          refund: refunds,
          hash: outboundTxs.hash,
          amountSent: withdrawals.amountSent,
          amount: withdrawals.amount,
          networkFee: withdrawals.networkFee,
          outboundTxId: withdrawals.outboundTxId,
        })
        .from(refunds)
        .leftJoin(withdrawals, eq(withdrawals.id, refunds.withdrawalId))
        .leftJoin(outboundTxs, eq(outboundTxs.id, withdrawals.outboundTxId))
        .where(inArray(refunds.id, [...ids]))
    ).map((r) => [
      r.refund.id,
      refundJson(
        ctx.chains,
        r.refund,
        r.outboundTxId
          ? { hash: r.hash, amountSent: r.amountSent ?? r.amount, networkFee: r.networkFee }
          : null,
      ),
    ]),
  markDispatched: (tx, events) =>
    tx
      .update(refundEvents)
      .set({ dispatched: true })
      .where(sql`(${refundEvents.refundId}, ${refundEvents.seq}) in (${pairs(events)})`),
}

const multisigOutbox: Outbox = {
  take: async (tx, limit) =>
    (
      await tx
        .select()
        .from(multisigEvents)
        .where(sql`not ${multisigEvents.dispatched}`)
        .orderBy(multisigEvents.createdAt)
        .limit(limit)
        .for('update', { skipLocked: true })
    ).map((e) => ({ ...e, objectId: e.proposalId })),
  objects: async (ctx, tx, ids) =>
    (
      await tx
        .select({ proposal: multisigProposals, hash: outboundTxs.hash })
        .from(multisigProposals)
        .leftJoin(outboundTxs, eq(outboundTxs.id, multisigProposals.outboundTxId))
        .where(inArray(multisigProposals.id, [...ids]))
    ).map((r) => [r.proposal.id, multisigJson(ctx.chains, r.proposal, r.hash)]),
  markDispatched: (tx, events) =>
    tx
      .update(multisigEvents)
      .set({ dispatched: true })
      .where(sql`(${multisigEvents.proposalId}, ${multisigEvents.seq}) in (${pairs(events)})`),
}

const depositOutbox: Outbox = {
  take: async (tx, limit) =>
    (
      await tx
        .select()
        .from(depositEvents)
        .where(sql`not ${depositEvents.dispatched}`)
        .orderBy(depositEvents.createdAt)
        .limit(limit)
        .for('update', { skipLocked: true })
    ).map((e) => ({ ...e, objectId: e.depositId })),
  objects: async (ctx, tx, ids) =>
    (await depositViews({ db: tx }, ids)).map((d) => [d.id, depositJson(ctx.chains, d)]),
  markDispatched: (tx, events) =>
    tx
      .update(depositEvents)
      .set({ dispatched: true })
      .where(sql`(${depositEvents.depositId}, ${depositEvents.seq}) in (${pairs(events)})`),
}

const outboxes = [paymentOutbox, withdrawalOutbox, invoiceOutbox, refundOutbox, multisigOutbox, depositOutbox]

/**
 * Turns undispatched payment, withdrawal, invoice, refund, multisig and deposit events (the outboxes, written with each status change) into
 * deliveries for every enabled endpoint of the merchant that wants the type, and marks them dispatched, in one
 * transaction. Returns the new delivery ids.
 */
export async function dispatchWebhookEvents(
  ctx: WebhookContext,
  limit = 500,
): Promise<Array<{ id: string; nextAttemptAt: Date }>> {
  return ctx.db.transaction(async (tx) => {
    const taken: OutboxEvent[][] = []
    for (const outbox of outboxes) taken.push(await outbox.take(tx, limit))
    const events = taken.flat()
    if (events.length === 0) return []
    const endpoints = await endpointsOf(
      tx,
      events.map((e) => e.merchantId),
    )
    const data = new Map<string, unknown>()
    if (endpoints.length > 0)
      for (const [i, outbox] of outboxes.entries()) {
        const ids = [...new Set((taken[i] ?? []).map((e) => e.objectId))]
        if (ids.length > 0)
          for (const [id, object] of await outbox.objects(ctx, tx, ids)) data.set(id, object)
      }
    const rows = deliveriesFor(events, endpoints, data)
    const inserted = rows.length
      ? await tx
          .insert(webhookDeliveries)
          .values(rows)
          .onConflictDoNothing()
          .returning({ id: webhookDeliveries.id, nextAttemptAt: webhookDeliveries.nextAttemptAt })
      : []
    for (const [i, outbox] of outboxes.entries())
      if (taken[i]?.length) await outbox.markDispatched(tx, taken[i])
    return inserted
  })
}
