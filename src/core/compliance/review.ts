import { and, eq, type SQL } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { kytChecks, payments } from '../../db/schema/index.ts'
import { type AuditActor, actorName, recordAudit } from '../access/audit.ts'
import { checkFreeText, invalidInput, TollgateError } from '../errors.ts'
import { type PaymentChange, refreshPayments } from '../payments/refresh.ts'
import { kytData, noticeIfCompleted } from './checks.ts'

/** An admin's decision on a held payment: who, and why (required: it is what an auditor reads). */
export type ReviewDecision = { actor: AuditActor; note: string }

/** The reviewer's note: required (it is what an auditor reads), at most 1000 characters of plain text. */
export function checkNote(note: unknown): string {
  const text = checkFreeText('note', note, 1000)
  if (text === undefined) throw invalidInput('note', 'a note saying why is required')
  return text
}

/**
 * Writes a decision on the held checks `subject` selects (released or rejected, who, when, the note) in the
 * caller's transaction; answers the checks decided (none: nothing of it was held). Every way a held screening is
 * decided goes through here: a payment's or a deposit's review, and the approval or end of a held withdrawal.
 * `actor` is who decided, or how it is written when no actor stands for it (`system:approval-expiry`); `note`
 * is null only where the decision had no reason given (a withdrawal approved without one).
 *
 * @example
 * const decided = await decideHeldChecks(tx, eq(kytChecks.paymentId, id), true, actor, note, now)
 */
export function decideHeldChecks(
  tx: Tx,
  subject: SQL | undefined,
  release: boolean,
  actor: AuditActor | string,
  note: string | null,
  now: Date,
) {
  const decidedBy = typeof actor === 'string' ? actor : actorName(actor)
  return tx
    .update(kytChecks)
    .set({ state: release ? 'released' : 'rejected', decidedBy, decidedAt: now, note })
    .where(and(subject, eq(kytChecks.state, 'held')))
    .returning()
}

async function decide(
  ctx: { db: Db; now?: () => Date },
  merchantId: string,
  paymentId: string,
  decision: ReviewDecision,
  release: boolean,
): Promise<PaymentChange[]> {
  const note = checkNote(decision.note)
  const now = ctx.now?.() ?? new Date()
  return ctx.db.transaction(async (tx) => {
    const [payment] = await tx
      .select({ id: payments.id, status: payments.status })
      .from(payments)
      .where(and(eq(payments.id, paymentId), eq(payments.merchantId, merchantId)))
      .for('update')
    if (!payment) throw new TollgateError('NOT_FOUND', 'payment not found', 'id')
    const decided = await decideHeldChecks(
      tx,
      eq(kytChecks.paymentId, paymentId),
      release,
      decision.actor,
      note,
      now,
    )
    if (decided.length === 0)
      throw new TollgateError(
        'INVALID_STATE',
        `no deposit of this ${payment.status} payment is held for review`,
        'id',
      )
    await recordAudit(tx, {
      merchantId,
      actor: decision.actor,
      action: release ? 'payment.released' : 'payment.rejected',
      target: { type: 'payment', id: paymentId },
      data: { note, checks: decided.map((c) => c.id), reasons: [...new Set(decided.map((c) => c.reason))] },
    })
    const changes = await refreshPayments(tx, { paymentIds: [paymentId], now })
    // held deposits of a payment that stayed completed: the decision is news of its own
    if (changes.length === 0) {
      const first = decided[0] as (typeof decided)[number]
      const notice = await noticeIfCompleted(
        tx,
        paymentId,
        release ? 'payment.released' : 'payment.rejected',
        kytData(first, first),
        now,
      )
      if (notice) changes.push(notice)
    }
    return changes
  })
}

/**
 * Releases a payment held by screening: its held deposits count as allowed, so it completes (and is credited
 * and swept) as it would have; `payment.released` is emitted. The decision, its note and who made it are on
 * the payment's checks and in the audit log, committed with the payment's change.
 *
 * @example
 * await releasePayment(ctx, merchantId, 'pay_…', { actor: { keyId, requestId }, note: 'customer verified' })
 */
export function releasePayment(
  ctx: { db: Db; now?: () => Date },
  merchantId: string,
  paymentId: string,
  decision: ReviewDecision,
): Promise<PaymentChange[]> {
  return decide(ctx, merchantId, paymentId, decision, true)
}

/**
 * Rejects a payment held by screening: its held deposits never count (never credited, never swept) and the
 * payment ends `REJECTED` (`payment.rejected`), its funds left for a refund. Audited like a release.
 *
 * @example
 * await rejectPayment(ctx, merchantId, 'pay_…', { actor: { cli: true }, note: 'sender on the SDN list' })
 */
export function rejectPayment(
  ctx: { db: Db; now?: () => Date },
  merchantId: string,
  paymentId: string,
  decision: ReviewDecision,
): Promise<PaymentChange[]> {
  return decide(ctx, merchantId, paymentId, decision, false)
}
