import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { type WithdrawalStatus, withdrawalEvents, withdrawals } from '../../db/schema/index.ts'
import { followRefund } from './refund-progress.ts'
import { noteWithdrawalChange } from './withdrawal-changes.ts'

export type WithdrawalRow = typeof withdrawals.$inferSelect

/**
 * Moves a withdrawal to `to` and records the event, inside the caller's transaction. Returns undefined (and
 * changes nothing) when the withdrawal is no longer in one of the `from` statuses, so concurrent steps cannot
 * both move it.
 */
export async function transitionWithdrawal(
  tx: Tx,
  id: string,
  from: readonly WithdrawalStatus[],
  to: WithdrawalStatus,
  changes: Partial<
    Pick<WithdrawalRow, 'outboundTxId' | 'networkFee' | 'failureReason' | 'approvedByKey' | 'amountSent'>
  > = {},
  data?: Record<string, unknown>,
  /** The event's type when it is not `withdrawal.<new status>` (e.g. `withdrawal.held`). */
  type?: string,
): Promise<WithdrawalRow | undefined> {
  const [row] = await tx
    .update(withdrawals)
    .set({ ...changes, status: to, eventSeq: sql`${withdrawals.eventSeq} + 1`, updatedAt: new Date() })
    .where(
      and(
        eq(withdrawals.id, id),
        sql`${withdrawals.status} in (${sql.join(
          from.map((s) => sql`${s}`),
          sql`, `,
        )})`,
      ),
    )
    .returning()
  if (!row) return undefined
  const eventType = type ?? `withdrawal.${to.toLowerCase()}`
  await tx.insert(withdrawalEvents).values({
    withdrawalId: id,
    merchantId: row.merchantId,
    seq: row.eventSeq,
    type: eventType,
    fromStatus: from.length === 1 ? from[0] : null,
    toStatus: to,
    data: data ?? null,
  })
  noteWithdrawalChange({ withdrawalId: id, merchantId: row.merchantId, seq: row.eventSeq, type: eventType })
  await followRefund(tx, row)
  return row
}
