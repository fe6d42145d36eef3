import type { AppContext } from '../context.ts'
import { expireDuePayments } from '../core/payments/expiry.ts'

/** Expires every payment whose deadline passed, in batches, and announces the changes. */
export async function processExpiry(ctx: AppContext): Promise<{ expired: number }> {
  let expired = 0
  for (;;) {
    const changes = await expireDuePayments(ctx)
    if (changes.length === 0) return { expired }
    ctx.bus.publish(changes)
    expired += changes.length
  }
}
