import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { payments } from '../../db/schema/index.ts'
import { TollgateError } from '../errors.ts'
import type { PaymentChange } from '../payments/refresh.ts'
import { type ReviewDecision, rejectPayment, releasePayment } from './review.ts'

/**
 * An operator's release or rejection of a held payment, for any merchant: the merchant is the payment's own,
 * then it is {@link releasePayment} or {@link rejectPayment} with their checks (a held payment, a note) and
 * audit. An unknown payment is `NOT_FOUND`.
 *
 * @example
 * const { merchantId, changes } = await reviewHeldPayment({ db }, 'pay_…', 'reject', { actor: { cli: true }, note: 'sender on the SDN list' })
 */
export async function reviewHeldPayment(
  ctx: { db: Db; now?: () => Date },
  paymentId: string,
  action: 'release' | 'reject',
  decision: ReviewDecision,
): Promise<{ merchantId: string; changes: PaymentChange[] }> {
  const [payment] = await ctx.db
    .select({ merchantId: payments.merchantId })
    .from(payments)
    .where(eq(payments.id, paymentId))
  if (!payment) throw new TollgateError('NOT_FOUND', 'payment not found', 'id')
  const decide = action === 'release' ? releasePayment : rejectPayment
  const changes = await decide(ctx, payment.merchantId, paymentId, decision)
  return { merchantId: payment.merchantId, changes }
}
