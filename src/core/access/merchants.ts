import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { merchants } from '../../db/schema/index.ts'
import { invalidInput } from '../errors.ts'
import { newId } from '../ids.ts'
import { createApiKey } from './api-keys.ts'
import { type AuditActor, recordAudit } from './audit.ts'

/**
 * Creates a merchant and its first API key (all scopes). The key is in the result and nowhere else.
 *
 * @example
 * const { merchant, apiKey } = await createMerchant({ db }, { name: 'Acme' })
 */
export async function createMerchant(ctx: { db: Db }, params: { name: string }) {
  const name = params.name.trim()
  if (name.length === 0 || name.length > 200) throw invalidInput('name', 'name must be 1 to 200 characters')
  const id = newId('mer')
  const [merchant] = await ctx.db.insert(merchants).values({ id, name }).returning()
  const apiKey = await createApiKey(ctx, { merchantId: id, name: 'default' })
  return { merchant: merchant!, apiKey }
}

export async function getMerchant(ctx: { db: Db }, id: string) {
  const [row] = await ctx.db.select().from(merchants).where(eq(merchants.id, id)).limit(1)
  return row
}

/** Who bears a refund's network fee (see `merchants.refundFee`). */
export type RefundFeePolicy = 'MERCHANT' | 'DEDUCTED'

/**
 * Sets who bears the network fee of the merchant's refunds from now on: `MERCHANT` (the buyer receives the whole
 * refund) or `DEDUCTED` (taken out of refunds of a chain's native asset). Audited.
 *
 * @example
 * await setRefundFee(ctx, merchantId, 'DEDUCTED', { keyId })
 */
export async function setRefundFee(
  ctx: { db: Db },
  merchantId: string,
  policy: RefundFeePolicy,
  actor: AuditActor,
): Promise<void> {
  if (policy !== 'MERCHANT' && policy !== 'DEDUCTED')
    throw invalidInput('refundFee', 'refundFee is MERCHANT or DEDUCTED')
  await ctx.db.transaction(async (tx) => {
    await tx.update(merchants).set({ refundFee: policy }).where(eq(merchants.id, merchantId))
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'refund.policy_set',
      target: { type: 'merchant', id: merchantId },
      data: { refundFee: policy },
    })
  })
}
