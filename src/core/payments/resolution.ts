import { and, eq, notInArray, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { paymentEvents, payments, refunds, transfers } from '../../db/schema/index.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { TollgateError } from '../errors.ts'
import type { PaymentRow } from './queries.ts'
import { type PaymentChange, refreshPayments } from './refresh.ts'
import { endedRefundStatuses } from './refundable.ts'

type ResolutionContext = { db: Db; now?: () => Date }

/**
 * The merchant's payment, locked for the caller's transaction; `NOT_FOUND` for an unknown id or another
 * merchant's (the same answer: nothing tells one from the other). An invoice's method is settled through its
 * invoice, so it is refused here.
 */
export async function lockPaymentOf(tx: Tx, merchantId: string, id: string): Promise<PaymentRow> {
  if (typeof id !== 'string' || id.length > 100)
    throw new TollgateError('NOT_FOUND', 'payment not found', 'id')
  const [row] = await tx
    .select()
    .from(payments)
    .where(and(eq(payments.id, id), eq(payments.merchantId, merchantId)))
    .for('update')
  if (!row) throw new TollgateError('NOT_FOUND', 'payment not found', 'id')
  return row
}

/**
 * Runs a merchant's decision on one of its payments in a transaction holding the payment's lock. An invoice's method
 * is decided through its invoice, so it is refused here.
 */
function decideOn<T>(
  ctx: ResolutionContext,
  merchantId: string,
  id: string,
  verb: string,
  run: (tx: Tx, p: PaymentRow, now: Date) => Promise<T>,
): Promise<T> {
  const now = ctx.now?.() ?? new Date()
  return ctx.db.transaction(async (tx) => {
    const p = await lockPaymentOf(tx, merchantId, id)
    if (p.invoiceId)
      throw new TollgateError('INVALID_STATE', `a method of an invoice is not ${verb} on its own`, 'id')
    return run(tx, p, now)
  })
}

/**
 * Writes a merchant's decision on a payment in the caller's transaction (it holds the row lock): the changed
 * columns, the next event (`type`, the status after it) and the change to announce after commit.
 */
async function recordDecision(
  tx: Tx,
  p: PaymentRow,
  /** `resolution: null` takes a decision back. */
  decision: { status?: 'CANCELED'; resolution?: 'ACCEPTED' | 'REFUNDED' | null },
  type: string,
  data: Record<string, unknown>,
  now: Date,
): Promise<{ row: PaymentRow; change: PaymentChange }> {
  const seq = p.eventSeq + 1
  const to = decision.status ?? p.status
  const [row] = await tx
    .update(payments)
    .set({
      ...(decision.status ? { status: decision.status } : {}),
      ...(decision.resolution !== undefined
        ? { resolution: decision.resolution, resolvedAt: decision.resolution ? now : null }
        : {}),
      eventSeq: seq,
      updatedAt: now,
    })
    .where(eq(payments.id, p.id))
    .returning()
  await tx.insert(paymentEvents).values({
    paymentId: p.id,
    merchantId: p.merchantId,
    seq,
    type,
    fromStatus: p.status,
    toStatus: to,
    data,
    createdAt: now,
  })
  return {
    row: row as PaymentRow,
    change: { paymentId: p.id, merchantId: p.merchantId, seq, type, from: p.status, to },
  }
}

/**
 * Cancels a payment nobody has paid yet (PENDING, nothing seen, not even in a mempool): its checkout stops
 * taking money. Its address stays watched through the monitoring window, and funds sent anyway make it an
 * exception (`PAID_AFTER_CANCEL`, `payment.exception`) to refund or accept, never lost. Audited.
 *
 * @example
 * const { payment, changes } = await cancelPayment(ctx, merchantId, 'pay_…', { keyId, requestId })
 */
export async function cancelPayment(
  ctx: ResolutionContext,
  merchantId: string,
  id: string,
  actor: AuditActor,
): Promise<{ payment: PaymentRow; changes: PaymentChange[] }> {
  return decideOn(ctx, merchantId, id, 'canceled', async (tx, p, now) => {
    const [seen] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(transfers)
      .where(and(eq(transfers.paymentId, p.id), notInArray(transfers.status, ['orphaned', 'dropped'])))
    if (p.status !== 'PENDING' || (seen?.n ?? 0) > 0)
      throw new TollgateError(
        'INVALID_STATE',
        `only a PENDING payment nothing was sent to can be canceled; this one is ${p.status}${(seen?.n ?? 0) > 0 ? ' with a deposit on its way' : ''}`,
        'id',
      )
    const { row, change } = await recordDecision(tx, p, { status: 'CANCELED' }, 'payment.canceled', {}, now)
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'payment.canceled',
      target: { type: 'payment', id: p.id },
    })
    return { payment: row, changes: [change] }
  })
}

/**
 * Accepts what arrived at an underpaid, canceled or late payment as payment in full: it completes on those funds
 * once they are confirmed and screening allowed them, and they are credited to the merchant (later funds too).
 * Refused while the payment is open (it may still be paid), when it is already completed, and when part of its
 * funds was refunded. Audited.
 *
 * @example
 * const { payment, changes } = await acceptPayment(ctx, merchantId, 'pay_…', { keyId, requestId })
 */
export async function acceptPayment(
  ctx: ResolutionContext,
  merchantId: string,
  id: string,
  actor: AuditActor,
): Promise<{ payment: PaymentRow; changes: PaymentChange[] }> {
  return decideOn(ctx, merchantId, id, 'accepted', async (tx, p, now) => {
    if (!['UNDERPAID', 'CANCELED', 'EXPIRED', 'REJECTED'].includes(p.status) || p.resolution === 'ACCEPTED')
      throw new TollgateError(
        'INVALID_STATE',
        `a ${p.status} payment has nothing to accept${p.status === 'PARTIALLY_PAID' ? ' until its deadline passes' : ''}`,
        'id',
      )
    const [refunded] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(refunds)
      .where(and(eq(refunds.paymentId, p.id), notInArray(refunds.status, [...endedRefundStatuses])))
    if ((refunded?.n ?? 0) > 0)
      throw new TollgateError(
        'INVALID_STATE',
        'part of this payment’s funds was refunded: it cannot be accepted',
        'id',
      )
    if (p.amountReceived === 0n)
      throw new TollgateError('INVALID_STATE', 'nothing arrived at this payment yet', 'id')
    const { change: resolved } = await recordDecision(
      tx,
      p,
      { resolution: 'ACCEPTED' },
      'payment.resolved',
      { resolution: 'ACCEPTED', amountReceived: p.amountReceived.toString() },
      now,
    )
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'payment.accepted',
      target: { type: 'payment', id: p.id },
      data: { status: p.status, amountReceived: p.amountReceived.toString() },
    })
    const changes = await refreshPayments(tx, { paymentIds: [p.id], now })
    const [row] = await tx.select().from(payments).where(eq(payments.id, p.id))
    return { payment: row as PaymentRow, changes: [resolved, ...changes] }
  })
}

/**
 * Marks a payment closed by a refund of its uncredited funds, in the caller's transaction (it holds the row
 * lock): later funds never complete it. A completed or accepted payment keeps its resolution.
 */
export async function markRefunded(tx: Tx, p: PaymentRow, now: Date): Promise<PaymentChange | undefined> {
  if (p.status === 'COMPLETED' || p.resolution !== null) return undefined
  const { change } = await recordDecision(
    tx,
    p,
    { resolution: 'REFUNDED' },
    'payment.resolved',
    { resolution: 'REFUNDED' },
    now,
  )
  return change
}

/**
 * Opens again a payment closed by a refund of its uncredited funds once no such refund is left that may still
 * return them (the only one was canceled, or its payout failed): nothing was refunded, so it is not REFUNDED and
 * its funds are no exception "paid after a refund". Its status stays until its next refresh weighs it (a deposit
 * or a confirmation). In the caller's transaction.
 *
 * @example
 * await reopenUnrefunded(tx, paymentId, { refundCanceled: 'rf_…' })
 */
export async function reopenUnrefunded(
  tx: Tx,
  paymentId: string,
  why: Record<string, unknown>,
): Promise<PaymentChange[]> {
  const [live] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(refunds)
    .where(
      and(
        eq(refunds.paymentId, paymentId),
        eq(refunds.source, 'UNCREDITED'),
        notInArray(refunds.status, [...endedRefundStatuses]),
      ),
    )
  if ((live?.n ?? 0) > 0) return []
  const [p] = await tx
    .select()
    .from(payments)
    .where(and(eq(payments.id, paymentId), eq(payments.resolution, 'REFUNDED')))
    .for('update')
  if (!p) return []
  const now = new Date()
  const { change } = await recordDecision(
    tx,
    p,
    { resolution: null },
    'payment.resolved',
    { resolution: null, ...why },
    now,
  )
  return [change]
}
