import type { KytPolicyConfig } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { merchants } from '../../db/schema/index.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { notFound } from '../errors.ts'
import { checkKytPolicy } from './policy.ts'

/**
 * A merchant's overrides of the gateway's KYT policy, as stored (null: none, the gateway's policy applies).
 * An unknown merchant is `NOT_FOUND`.
 *
 * @example
 * await merchantKytPolicy({ db }, 'mer_…') // { deposits: { review: 'credit' } }
 */
export async function merchantKytPolicy(
  ctx: { db: Db },
  merchantId: string,
): Promise<KytPolicyConfig | null> {
  const [row] = await ctx.db
    .select({ kytPolicy: merchants.kytPolicy })
    .from(merchants)
    .where(eq(merchants.id, merchantId))
  if (!row) throw notFound('merchant')
  return (row.kytPolicy as KytPolicyConfig | null) ?? null
}

/**
 * Sets a merchant's KYT policy overrides (`null` clears them), checked first (`checkKytPolicy`: an unknown key
 * or action is `INVALID_INPUT` naming the field, and nothing is stored). The change and its audit entry
 * (`kyt.policy_set`, with the new and the previous overrides) commit together. Answers the stored overrides.
 *
 * @example
 * await setMerchantKytPolicy({ db }, 'mer_…', { failMode: 'open' }, { cli: true })
 */
export async function setMerchantKytPolicy(
  ctx: { db: Db },
  merchantId: string,
  overrides: unknown,
  actor: AuditActor,
): Promise<KytPolicyConfig | null> {
  const policy = overrides === null ? null : checkKytPolicy(overrides, 'merchant')
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .select({ kytPolicy: merchants.kytPolicy })
      .from(merchants)
      .where(eq(merchants.id, merchantId))
      .for('update')
    if (!row) throw notFound('merchant')
    await tx.update(merchants).set({ kytPolicy: policy }).where(eq(merchants.id, merchantId))
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'kyt.policy_set',
      target: { type: 'merchant', id: merchantId },
      data: { policy, previous: row.kytPolicy ?? null },
    })
    return policy
  })
}
