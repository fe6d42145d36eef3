import { and, eq, inArray, ne, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import {
  chainCursors,
  kytChecks,
  type PaymentStatus,
  paymentEvents,
  payments,
  transfers,
} from '../../db/schema/index.ts'
import { syncPaymentCredit } from '../ledger/postings.ts'
import { deriveStatus, transitionEvent } from './status.ts'

/** A committed status change, to announce after the transaction. */
export type PaymentChange = {
  paymentId: string
  merchantId: string
  seq: number
  type: string
  from: PaymentStatus
  to: PaymentStatus
}

/**
 * Recomputes amounts and status of the given payments from their transfers, inside the caller's transaction:
 * the payment row, its `payment_events` row and the ledger postings change together or not at all.
 * `tips` gives chains' verified heights for confirmation depth; missing ones are read from the cursors.
 */
export async function refreshPayments(
  tx: Tx,
  params: { paymentIds: readonly string[]; tips?: ReadonlyMap<string, bigint>; now: Date },
): Promise<PaymentChange[]> {
  if (params.paymentIds.length === 0) return []
  const ids = [...new Set(params.paymentIds)].sort()
  // lock in a fixed order so concurrent refreshers cannot deadlock
  const rows = await tx
    .select()
    .from(payments)
    .where(inArray(payments.id, ids))
    .orderBy(payments.id)
    .for('update')
  // each transfer with its screening, when screening is on (no check: nothing to wait for)
  const live = await tx
    .select({
      paymentId: transfers.paymentId,
      amount: transfers.amount,
      blockHeight: transfers.blockHeight,
      status: transfers.status,
      kyt: kytChecks.state,
      kytReason: kytChecks.reason,
      kytVerdict: kytChecks.verdict,
      kytVersions: kytChecks.versions,
    })
    .from(transfers)
    .leftJoin(kytChecks, and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, transfers.id)))
    .where(and(inArray(transfers.paymentId, ids), ne(transfers.status, 'orphaned')))
  const tips = new Map(params.tips ?? [])
  const unknown = [...new Set(rows.map((r) => r.chain))].filter((c) => !tips.has(c))
  if (unknown.length > 0) {
    // the scanner's cursor is the highest block checked against reorgs: count confirmations up to it only
    const cursors = await tx
      .select({ chain: chainCursors.chain, height: chainCursors.height })
      .from(chainCursors)
      .where(inArray(chainCursors.chain, unknown))
    for (const c of cursors) tips.set(c.chain, c.height)
  }
  const changes: PaymentChange[] = []
  for (const p of rows) {
    const tip = tips.get(p.chain)
    // received: every transfer but rejected ones; confirmed (what may be credited): those screening allowed
    let received = 0n
    let confirmed = 0n
    let held: (typeof live)[number] | undefined
    let rejected: (typeof live)[number] | undefined
    let released: (typeof live)[number] | undefined
    for (const t of live) {
      if (t.paymentId !== p.id) continue
      if (t.kyt === 'rejected') {
        rejected ??= t
        continue
      }
      received += t.amount
      if (t.kyt === 'held') held ??= t
      if (t.kyt === 'released') released ??= t
      const creditable = t.kyt === null || t.kyt === 'clear' || t.kyt === 'released'
      const depth = tip !== undefined && t.blockHeight !== null ? tip - t.blockHeight + 1n : 0n
      if (creditable && depth >= BigInt(p.confirmationsRequired)) confirmed += t.amount
    }
    const derived = deriveStatus({
      amountDue: p.amountDue,
      amountTolerance: p.amountTolerance,
      received,
      confirmed,
      expiresAt: p.expiresAt,
      now: params.now,
    })
    // funds screening allowed that cover the payment complete it, whatever else arrived (a held deposit to a
    // completed payment waits in the review queue and is never collected); otherwise a held deposit makes the
    // payment wait for an admin, and a rejected one ends it
    const status: PaymentStatus =
      derived === 'COMPLETED' ? derived : held ? 'HELD' : rejected ? 'REJECTED' : derived
    // what an event of a hold, a rejection or a release says of the screening behind it
    const screening =
      status === 'HELD' ? held : status === 'REJECTED' ? rejected : p.status === 'HELD' ? released : undefined
    if (tip !== undefined)
      await tx
        .update(transfers)
        .set({ status: 'confirmed' })
        .where(
          and(
            eq(transfers.paymentId, p.id),
            eq(transfers.status, 'seen'),
            sql`${transfers.blockHeight} <= ${(tip - BigInt(p.confirmationsRequired) + 1n).toString()}`,
          ),
        )
    if (status === p.status && received === p.amountReceived && confirmed === p.amountConfirmed) continue
    const seq = status === p.status ? p.eventSeq : p.eventSeq + 1
    await tx
      .update(payments)
      .set({
        status,
        amountReceived: received,
        amountConfirmed: confirmed,
        eventSeq: seq,
        updatedAt: params.now,
        completedAt: status === 'COMPLETED' ? (p.completedAt ?? params.now) : null,
      })
      .where(eq(payments.id, p.id))
    if (status !== p.status) {
      const type = transitionEvent(p.status, status)
      await tx.insert(paymentEvents).values({
        paymentId: p.id,
        merchantId: p.merchantId,
        seq,
        type,
        fromStatus: p.status,
        toStatus: status,
        data: {
          amountReceived: received.toString(),
          amountConfirmed: confirmed.toString(),
          ...(screening
            ? {
                kyt: {
                  reason: screening.kytReason,
                  verdict: screening.kytVerdict,
                  versions: screening.kytVersions,
                },
              }
            : {}),
        },
        createdAt: params.now,
      })
      changes.push({ paymentId: p.id, merchantId: p.merchantId, seq, type, from: p.status, to: status })
    }
    await syncPaymentCredit(tx, {
      paymentId: p.id,
      merchantId: p.merchantId,
      chain: p.chain,
      asset: p.asset,
      target: status === 'COMPLETED' ? confirmed : 0n,
    })
  }
  return changes
}

/** Ids of a chain's payments whose transfers are not all confirmed yet (they need a look at every new tip). */
export async function paymentsAwaitingConfirmations(tx: Tx, chain: string): Promise<string[]> {
  const rows = await tx
    .selectDistinct({ id: transfers.paymentId })
    .from(transfers)
    .where(
      and(eq(transfers.chain, chain), eq(transfers.status, 'seen'), sql`${transfers.paymentId} is not null`),
    )
  return rows.map((r) => r.id as string)
}

/**
 * Records an event of a payment whose status does not change (a deposit held, released or rejected while the
 * payment stays COMPLETED on the funds screening allowed), in the caller's transaction: it is numbered after the
 * payment's last event and goes out as a webhook like any other.
 *
 * @example
 * const change = await recordPaymentNotice(tx, paymentId, 'payment.held', { kyt }, now)
 */
export async function recordPaymentNotice(
  tx: Tx,
  paymentId: string,
  type: string,
  data: Record<string, unknown>,
  now: Date,
): Promise<PaymentChange | undefined> {
  const [p] = await tx
    .update(payments)
    .set({ eventSeq: sql`${payments.eventSeq} + 1`, updatedAt: now })
    .where(eq(payments.id, paymentId))
    .returning({ merchantId: payments.merchantId, status: payments.status, seq: payments.eventSeq })
  if (!p) return undefined
  await tx.insert(paymentEvents).values({
    paymentId,
    merchantId: p.merchantId,
    seq: p.seq,
    type,
    fromStatus: p.status,
    toStatus: p.status,
    data,
    createdAt: now,
  })
  return { paymentId, merchantId: p.merchantId, seq: p.seq, type, from: p.status, to: p.status }
}
