import { and, asc, eq, lt, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { withdrawalApprovals, withdrawals } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { actorNames } from '../access/actor-names.ts'
import { TollgateError } from '../errors.ts'
import { postWithdrawalRelease } from '../ledger/postings.ts'
import { decideWithdrawalCheck } from './withdrawal-screening.ts'
import { transitionWithdrawal, type WithdrawalRow } from './withdrawal-transitions.ts'

export type WithdrawalApprovalRow = typeof withdrawalApprovals.$inferSelect

/** Why a withdrawal left AWAITING_APPROVAL without a decision (its `failureReason`). */
export const approvalExpiredReason = 'approval expired'

/** Who a held screening's rejection is written by when its withdrawal's approval expired (`decidedBy`). */
export const approvalExpiryActor = 'system:approval-expiry'

/**
 * How many distinct admin keys must approve a withdrawal: the chain's `approvalsRequired` for its asset when its
 * amount is above the chain's `approvalAbove` threshold, else 1 (a withdrawal held by screening only). A chain
 * not configured (or a context without chains): 1.
 *
 * @example
 * approvalsRequired(ctx.chains, withdrawal) // 2
 */
export function approvalsRequired(
  chains: ChainRegistry | undefined,
  w: Pick<WithdrawalRow, 'chain' | 'asset' | 'amount'>,
): number {
  const payouts = chains?.get(w.chain)?.settings.payouts
  const threshold = payouts?.approvalAbove.get(w.asset)
  if (threshold === undefined || w.amount <= threshold) return 1
  return payouts?.approvalsRequired?.get(w.asset) ?? 1
}

/**
 * The name a decider is known by as they decide, kept with their decision: a console user's (`user:<id>`, a
 * member of the merchant) display name, else the merchant's API key's name; null when neither is known.
 *
 * @example
 * await deciderName(tx, merchantId, 'user:usr_…') // 'Ada Lovelace'
 */
export async function deciderName(tx: Tx, merchantId: string, keyId: string): Promise<string | null> {
  return (await actorNames(tx, merchantId, [keyId])).get(keyId) ?? null
}

/**
 * Records one admin key's decision on a withdrawal the caller locked (it must be AWAITING_APPROVAL), with the
 * decider's name as it is now (a console user's display name, else the key's name; see {@link deciderName}).
 * A key decides once: a second decision of the same key is refused (`ALREADY_DECIDED`)
 * and writes nothing. Answers the approvals the withdrawal has, this one included.
 */
export async function addApproval(
  tx: Tx,
  w: Pick<WithdrawalRow, 'id' | 'merchantId'>,
  decision: { approve: boolean; keyId: string; reason: string | null },
): Promise<{ approvals: number }> {
  const [earlier] = await tx
    .select({ approve: withdrawalApprovals.approve })
    .from(withdrawalApprovals)
    .where(and(eq(withdrawalApprovals.withdrawalId, w.id), eq(withdrawalApprovals.keyId, decision.keyId)))
  const already = () =>
    new TollgateError(
      'ALREADY_DECIDED',
      `this key already ${earlier?.approve === false ? 'rejected' : 'approved'} this withdrawal; another admin key must decide`,
      'id',
    )
  if (earlier) throw already()
  const name = await deciderName(tx, w.merchantId, decision.keyId)
  await tx
    .insert(withdrawalApprovals)
    .values({
      withdrawalId: w.id,
      keyId: decision.keyId,
      keyName: name ?? decision.keyId,
      approve: decision.approve,
      reason: decision.reason,
    })
    .catch((err: unknown) => {
      // the caller holds the withdrawal's lock, so this is only a guard
      if (isUniqueViolation(err, 'withdrawal_approvals_withdrawal_id_key_id_pk')) throw already()
      throw err
    })
  const [count] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(withdrawalApprovals)
    .where(and(eq(withdrawalApprovals.withdrawalId, w.id), eq(withdrawalApprovals.approve, true)))
  return { approvals: count?.n ?? 0 }
}

/**
 * The decisions on a withdrawal, oldest first.
 *
 * @example
 * const decisions = await listWithdrawalApprovals({ db }, 'wd_…')
 */
export async function listWithdrawalApprovals(
  ctx: { db: Db },
  withdrawalId: string,
): Promise<WithdrawalApprovalRow[]> {
  return ctx.db
    .select()
    .from(withdrawalApprovals)
    .where(eq(withdrawalApprovals.withdrawalId, withdrawalId))
    .orderBy(asc(withdrawalApprovals.createdAt), asc(withdrawalApprovals.keyId))
}

/**
 * Cancels withdrawals that awaited approval longer than their chain's `approvalExpiresAfterMs` since they were
 * requested (`failureReason` 'approval expired', a `withdrawal.canceled` event) and releases their reserves, at
 * most `limit` per call, each in its own transaction (a withdrawal being decided at that moment is skipped and
 * looked at again next time). Answers how many it canceled; call again until 0.
 *
 * @example
 * while ((await expireStaleApprovals(ctx)) > 0) {}
 */
export async function expireStaleApprovals(
  ctx: { db: Db; chains: ChainRegistry },
  now: Date = new Date(),
  limit = 100,
): Promise<number> {
  let canceled = 0
  for (const chain of ctx.chains.values()) {
    const ms = chain.settings.payouts.approvalExpiresAfterMs ?? 0
    if (ms <= 0) continue
    const cutoff = new Date(now.getTime() - ms)
    const due = await ctx.db
      .select({ id: withdrawals.id })
      .from(withdrawals)
      .where(
        and(
          eq(withdrawals.chain, chain.name),
          eq(withdrawals.status, 'AWAITING_APPROVAL'),
          lt(withdrawals.createdAt, cutoff),
        ),
      )
      .orderBy(asc(withdrawals.createdAt))
      .limit(limit - canceled)
    for (const { id } of due) {
      const done = await ctx.db.transaction(async (tx) => {
        const [locked] = await tx
          .select({ id: withdrawals.id })
          .from(withdrawals)
          .where(and(eq(withdrawals.id, id), eq(withdrawals.status, 'AWAITING_APPROVAL')))
          .for('update', { skipLocked: true })
        if (!locked) return false
        const row = await transitionWithdrawal(
          tx,
          id,
          ['AWAITING_APPROVAL'],
          'CANCELED',
          { failureReason: approvalExpiredReason },
          { reason: approvalExpiredReason },
        )
        if (!row) return false
        await postWithdrawalRelease(tx, row)
        // nobody decided it: a held screening of it is rejected by the expiry, and leaves the review queue
        await decideWithdrawalCheck(tx, id, {
          release: false,
          by: approvalExpiryActor,
          note: approvalExpiredReason,
          now,
        })
        return true
      })
      if (done) canceled++
    }
    if (canceled >= limit) break
  }
  return canceled
}
