import type { AppContext } from '../context.ts'
import { expireDuePayments } from '../core/payments/expiry.ts'
import { expireDueInvoices } from '../core/payments/invoice-expiry.ts'
import { requoteInvoices } from '../core/payments/invoice-requote.ts'
import { requoteExpiredLocks } from '../core/payments/requote.ts'
import { expireStaleApprovals } from '../core/payouts/approvals.ts'
import { collectWithdrawalChanges } from '../core/payouts/withdrawal-changes.ts'

/**
 * Expires every payment whose deadline passed, in batches, and quotes again the fiat-priced ones whose rate lock
 * ran out unpaid (invoices too); cancels withdrawals that awaited approval longer than their chain's
 * `approvalExpiresAfterMs` (releasing their reserves); announces the changes.
 */
export async function processExpiry(
  ctx: AppContext,
): Promise<{ expired: number; requoted: number; approvalsExpired: number }> {
  let expired = 0
  for (;;) {
    const changes = await expireDuePayments(ctx)
    if (changes.length === 0) break
    ctx.bus.publish(changes)
    expired += changes.length
  }
  for (;;) {
    const round = await expireDueInvoices(ctx)
    if (round.changes.length > 0) ctx.bus.publish(round.changes)
    expired += round.invoices
    if (round.invoices === 0) break
  }
  let requoted = 0
  for (const requote of [requoteExpiredLocks, requoteInvoices])
    for (;;) {
      const round = await requote(ctx)
      if (round.changes.length > 0) ctx.bus.publish(round.changes)
      requoted += round.requoted
      if (round.requoted === 0) break
    }
  let approvalsExpired = 0
  for (;;) {
    const { result, changes } = await collectWithdrawalChanges(() => expireStaleApprovals(ctx))
    if (changes.length > 0) ctx.bus.publishWithdrawals(changes)
    approvalsExpired += result
    if (result === 0) break
  }
  return { expired, requoted, approvalsExpired }
}
