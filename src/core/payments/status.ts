import type { PaymentStatus } from '../../db/schema/index.ts'

export type PaymentTotals = {
  amountDue: bigint
  amountTolerance: bigint
  /** Sum of the payment's transfers that are not orphaned. */
  received: bigint
  /** Sum of those transfers at or past the required depth. */
  confirmed: bigint
  expiresAt: Date
  now: Date
}

/**
 * The status the amounts imply. A payment is paid once what arrived covers the amount due less the tolerance,
 * and completed once that much is confirmed; the deadline only matters while not enough has arrived, so funds
 * that come late still complete the payment.
 *
 * @example
 * deriveStatus({ amountDue: 10n, amountTolerance: 0n, received: 4n, confirmed: 0n, expiresAt, now }) // 'PARTIALLY_PAID'
 */
export function deriveStatus(t: PaymentTotals): PaymentStatus {
  const threshold = t.amountDue - t.amountTolerance
  if (t.confirmed >= threshold) return 'COMPLETED'
  if (t.received >= threshold) return 'PROCESSING'
  const expired = t.now.getTime() >= t.expiresAt.getTime()
  if (t.received > 0n) return expired ? 'UNDERPAID' : 'PARTIALLY_PAID'
  return expired ? 'EXPIRED' : 'PENDING'
}

const progress: Record<PaymentStatus, number> = {
  PENDING: 0,
  EXPIRED: 0,
  PARTIALLY_PAID: 1,
  UNDERPAID: 1,
  PROCESSING: 2,
  HELD: 2,
  REJECTED: 2,
  COMPLETED: 3,
  CANCELED: 0,
}

/**
 * The event a status change emits: `payment.rejected` when an admin rejected its held funds, `payment.reverted`
 * when the payment lost ground (a reorg took funds away), `payment.released` when it leaves a hold forward,
 * otherwise `payment.<new status>` (an invoice's: the same with `invoice.`).
 *
 * @example
 * transitionEvent('COMPLETED', 'PROCESSING') // 'payment.reverted'
 */
export function transitionEvent(
  from: PaymentStatus,
  to: PaymentStatus,
  object: 'payment' | 'invoice' = 'payment',
): string {
  if (to === 'REJECTED') return `${object}.rejected`
  if (to === 'HELD') return `${object}.held`
  if (progress[to] < progress[from]) return `${object}.reverted`
  // leaving a hold forward is an admin's release (or a fail-closed hold the providers since answered)
  if (from === 'HELD') return `${object}.released`
  return `${object}.${to.toLowerCase()}`
}
