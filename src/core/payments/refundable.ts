import { and, eq, notInArray, or, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { kytChecks, refunds, transfers } from '../../db/schema/index.ts'
import type { PaymentRow } from './queries.ts'

/** What may still be returned to a payment's buyer, in the payment asset's base units. */
export type Refundable = {
  /**
   * Funds that reached the payment, at the required depth, and were never credited to anyone (an underpaid,
   * canceled or rejected payment's; a completed payment's rejected deposits), less what refunds took from them.
   * Deposits still awaiting screening or held for review are not refundable until decided.
   */
  uncredited: bigint
  /** What the payment credited the merchant, less refunds from the balance. */
  credited: bigint
  /** Of that, what was paid above the amount due, less refunds of it. */
  overpaid: bigint
}

/** Refund statuses that no longer take money: what they held went back. */
export const endedRefundStatuses = ['FAILED', 'CANCELED'] as const

/**
 * What a payment may still refund, from its transfers and its refunds so far. Callers that act on it hold the
 * payment's row lock (refunds of one payment are serialized by it).
 *
 * @example
 * const { uncredited, credited, overpaid } = await refundableOf(db, payment)
 */
export async function refundableOf(
  db: Db | Tx,
  p: Pick<PaymentRow, 'id' | 'status' | 'amountConfirmed' | 'amountDue'>,
): Promise<Refundable> {
  const [arrived] = await db
    .select({ total: sql<string>`coalesce(sum(${transfers.amount}), 0)` })
    .from(transfers)
    .leftJoin(kytChecks, and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, transfers.id)))
    .where(
      and(
        eq(transfers.paymentId, p.id),
        eq(transfers.status, 'confirmed'),
        or(sql`${kytChecks.state} is null`, notInArray(kytChecks.state, ['pending', 'held'])),
      ),
    )
  const taken = await db
    .select({
      source: refunds.source,
      overpayment: refunds.overpayment,
      total: sql<string>`sum(${refunds.amount})`,
    })
    .from(refunds)
    .where(and(eq(refunds.paymentId, p.id), notInArray(refunds.status, [...endedRefundStatuses])))
    .groupBy(refunds.source, refunds.overpayment)
  const sum = (match: (r: (typeof taken)[number]) => boolean) =>
    taken.filter(match).reduce((s, r) => s + BigInt(r.total), 0n)
  const credited = p.status === 'COMPLETED' ? p.amountConfirmed : 0n
  const fromBalance = sum((r) => r.source === 'BALANCE')
  const positive = (n: bigint) => (n > 0n ? n : 0n)
  const creditedLeft = positive(credited - fromBalance)
  const excess = positive(credited - p.amountDue - sum((r) => r.source === 'BALANCE' && r.overpayment))
  return {
    uncredited: positive(BigInt(arrived?.total ?? '0') - credited - sum((r) => r.source === 'UNCREDITED')),
    credited: creditedLeft,
    overpaid: excess < creditedLeft ? excess : creditedLeft,
  }
}

/** Why a payment needs the merchant's decision; null when it needs none. */
export type PaymentException =
  | 'UNDERPAID'
  | 'OVERPAID'
  | 'PAID_AFTER_CANCEL'
  | 'PAID_AFTER_REFUND'
  | 'REJECTED'

/**
 * The exception a payment is in: funds short of the price after its deadline, funds above it, funds sent to a
 * canceled payment or after its funds were refunded, or a deposit screening rejected. Accepting or refunding
 * resolves it.
 *
 * @example
 * paymentException(payment, await refundableOf(db, payment)) // 'UNDERPAID'
 */
export function paymentException(
  p: Pick<PaymentRow, 'status' | 'resolution' | 'amountReceived'>,
  refundable: Refundable,
): PaymentException | null {
  if (p.status === 'COMPLETED') return refundable.overpaid > 0n ? 'OVERPAID' : null
  if (p.resolution === 'REFUNDED') return refundable.uncredited > 0n ? 'PAID_AFTER_REFUND' : null
  if (p.resolution !== null) return null
  if (p.status === 'UNDERPAID') return 'UNDERPAID'
  if (p.status === 'REJECTED') return 'REJECTED'
  if (p.status === 'CANCELED' && p.amountReceived > 0n) return 'PAID_AFTER_CANCEL'
  return null
}
