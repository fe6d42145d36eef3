import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { type RefundStatus, refundEvents, refunds, type WithdrawalStatus } from '../../db/schema/index.ts'
import { reopenUnrefunded } from '../payments/resolution.ts'

/** What a refund's withdrawal moving to a status means for the refund; undefined: no news for it. */
const refundStatusOf: Partial<Record<WithdrawalStatus, RefundStatus>> = {
  BROADCAST: 'SENT',
  CONFIRMED: 'CONFIRMED',
  FAILED: 'FAILED',
  // an approver rejected it, or it was canceled with its withdrawal: the refund did not happen
  CANCELED: 'FAILED',
}

/**
 * Moves a refund along with the withdrawal paying it, in the transaction that moved the withdrawal, and writes
 * its `refund.*` event (the webhooks' outbox). A refund the merchant canceled stays canceled.
 *
 * @example
 * await followRefund(tx, withdrawal)
 */
export async function followRefund(
  tx: Tx,
  w: {
    refundId: string | null
    status: WithdrawalStatus
    failureReason: string | null
    networkFee: bigint | null
  },
): Promise<void> {
  const to = w.refundId ? refundStatusOf[w.status] : undefined
  if (!w.refundId || !to) return
  const [row] = await tx
    .update(refunds)
    .set({
      status: to,
      eventSeq: sql`${refunds.eventSeq} + 1`,
      updatedAt: new Date(),
      ...(to === 'FAILED' ? { failureReason: w.failureReason ?? 'its payout was canceled or rejected' } : {}),
    })
    .where(
      and(
        eq(refunds.id, w.refundId),
        inArray(refunds.status, to === 'SENT' ? ['PENDING'] : ['PENDING', 'SENT']),
      ),
    )
    .returning()
  if (!row) return
  await tx.insert(refundEvents).values({
    refundId: row.id,
    merchantId: row.merchantId,
    seq: row.eventSeq,
    type: `refund.${to.toLowerCase()}`,
    status: to,
    data: to === 'FAILED' ? { reason: row.failureReason } : {},
  })
  // nothing went back to the buyer: a payment its uncredited funds closed is open again (and they refundable)
  if (to === 'FAILED' && row.source === 'UNCREDITED')
    await reopenUnrefunded(tx, row.paymentId, { refundFailed: row.id })
}
