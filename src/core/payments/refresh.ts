import { and, eq, inArray, isNotNull, notInArray, or, sql } from 'drizzle-orm'
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
import { settleInvoices } from './invoice-refresh.ts'
import { methodStatus } from './invoice-status.ts'
import type { PaymentRow } from './queries.ts'
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

type LiveTransfer = {
  paymentId: string | null
  amount: bigint
  status: string
  blockHeight: bigint | null
  kyt: string | null
  kytReason: string | null
  kytVerdict: unknown
  kytVersions: unknown
}

/**
 * A payment's amounts and status from its live transfers: received counts every transfer but rejected ones;
 * confirmed (what may be credited) those screening allowed at the required depth. Funds screening allowed that
 * cover the payment complete it, whatever else arrived (a held deposit to a completed payment waits in the
 * review queue and is never collected); otherwise a held deposit makes the payment wait for an admin, and a
 * rejected one ends it.
 */
function weighPayment(p: PaymentRow, live: readonly LiveTransfer[], tip: bigint | undefined, now: Date) {
  let received = 0n
  /** Unconfirmed deposits the mempool shows: they move the status, not `amountReceived`. */
  let pending = 0n
  let unconfirmedCreditable = 0n
  let confirmed = 0n
  let held: LiveTransfer | undefined
  let rejected: LiveTransfer | undefined
  let released: LiveTransfer | undefined
  for (const t of live) {
    if (t.paymentId !== p.id) continue
    if (t.kyt === 'rejected') {
      rejected ??= t
      continue
    }
    if (t.status === 'pending') pending += t.amount
    else received += t.amount
    if (t.kyt === 'held') held ??= t
    if (t.kyt === 'released') released ??= t
    const creditable = t.kyt === null || t.kyt === 'clear' || t.kyt === 'released'
    // a deposit not in a block yet has depth 0: only a zero-confirmation payment may count it (see below)
    if (t.status === 'pending') {
      if (creditable) unconfirmedCreditable += t.amount
      continue
    }
    const depth = tip !== undefined && t.blockHeight !== null ? tip - t.blockHeight + 1n : 0n
    if (creditable && depth >= BigInt(p.confirmationsRequired)) confirmed += t.amount
  }
  // zero confirmations were chosen for the amount due: more than that waits for a block, whatever the tier said
  if (p.confirmationsRequired === 0 && received + pending <= p.amountDue) confirmed += unconfirmedCreditable
  // accepted by the merchant: whatever arrived is paid in full
  const accepted = p.resolution === 'ACCEPTED'
  const derived = deriveStatus({
    amountDue: accepted ? 1n : p.amountDue,
    amountTolerance: accepted ? 0n : p.amountTolerance,
    received: received + pending,
    confirmed,
    expiresAt: p.expiresAt,
    now,
  })
  // closed by the merchant (canceled, or its funds refunded): later funds never complete it, they are an exception
  const closed = !accepted && (p.status === 'CANCELED' || p.resolution === 'REFUNDED')
  const own: PaymentStatus = closed
    ? p.status
    : derived === 'COMPLETED'
      ? derived
      : held
        ? 'HELD'
        : rejected
          ? 'REJECTED'
          : derived
  /** What an event of a hold, a rejection or a release says of the screening behind it. */
  const screeningOf = (status: PaymentStatus) =>
    status === 'HELD' ? held : status === 'REJECTED' ? rejected : p.status === 'HELD' ? released : undefined
  return { p, received, pending, confirmed, own, closed, screeningOf }
}

/**
 * Recomputes amounts and status of the given payments from their transfers, inside the caller's transaction:
 * the payment row, its `payment_events` row and the ledger postings change together or not at all.
 * `tips` gives chains' verified heights for confirmation depth; missing ones are read from the cursors.
 */
export async function refreshPayments(
  tx: Tx,
  params: {
    paymentIds: readonly string[]
    tips?: ReadonlyMap<string, bigint>
    now: Date
    /**
     * Collects a `payment.updated` signal for each payment whose amounts changed without a status change: no event,
     * no webhook, just what live subscribers need to read it again (an unconfirmed deposit mined, a second part paid).
     */
    touched?: PaymentChange[]
  },
): Promise<PaymentChange[]> {
  if (params.paymentIds.length === 0) return []
  const requested = [...new Set(params.paymentIds)]
  // an invoice's methods are weighed together: lock the siblings too, all in id order so concurrent refreshers
  // cannot deadlock (payments first, then their invoices)
  const rows = await tx
    .select()
    .from(payments)
    .where(
      or(
        inArray(payments.id, requested),
        inArray(
          payments.invoiceId,
          tx
            .select({ id: payments.invoiceId })
            .from(payments)
            .where(and(inArray(payments.id, requested), isNotNull(payments.invoiceId))),
        ),
      ),
    )
    .orderBy(payments.id)
    .for('update')
  const ids = rows.map((r) => r.id)
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
    .where(and(inArray(transfers.paymentId, ids), notInArray(transfers.status, ['orphaned', 'dropped'])))
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
  const weighed = rows.map((p) => weighPayment(p, live, tips.get(p.chain), params.now))
  const invoiceStatus = await settleInvoices(tx, {
    invoiceIds: rows.flatMap((r) => (r.invoiceId ? [r.invoiceId] : [])),
    fresh: new Map(
      weighed.flatMap((w) =>
        w.p.invoiceId
          ? [
              [
                w.p.id,
                {
                  priceAmount: w.p.priceAmount,
                  rate: w.p.rate,
                  amountDue: w.p.amountDue,
                  // an invoice moves with what its methods' mempools show, as a payment does
                  received: w.received + w.pending,
                  confirmed: w.confirmed,
                  ownStatus: w.own,
                },
              ] as const,
            ]
          : [],
      ),
    ),
    now: params.now,
  })
  const changes: PaymentChange[] = []
  for (const { p, received, confirmed, own, closed, screeningOf } of weighed) {
    const tip = tips.get(p.chain)
    const invoice = p.invoiceId ? invoiceStatus.get(p.invoiceId) : undefined
    const status = invoice ? methodStatus(own, invoice, confirmed) : own
    const screening = screeningOf(status)
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
    // money reached a payment the merchant closed: an exception to resolve (refund it, or accept it)
    const exception =
      closed && received > p.amountReceived
        ? p.status === 'CANCELED'
          ? 'PAID_AFTER_CANCEL'
          : 'PAID_AFTER_REFUND'
        : undefined
    const seq = status === p.status && !exception ? p.eventSeq : p.eventSeq + 1
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
    if (exception) {
      await tx.insert(paymentEvents).values({
        paymentId: p.id,
        merchantId: p.merchantId,
        seq,
        type: 'payment.exception',
        fromStatus: p.status,
        toStatus: status,
        data: { exception, amountReceived: received.toString(), amountConfirmed: confirmed.toString() },
        createdAt: params.now,
      })
      changes.push({
        paymentId: p.id,
        merchantId: p.merchantId,
        seq,
        type: 'payment.exception',
        from: p.status,
        to: status,
      })
    } else if (status === p.status)
      params.touched?.push({
        paymentId: p.id,
        merchantId: p.merchantId,
        seq,
        type: 'payment.updated',
        from: status,
        to: status,
      })
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
