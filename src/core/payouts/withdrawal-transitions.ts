import { and, eq, inArray, type SQL, sql } from 'drizzle-orm'
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

/** One withdrawal's move in `transitionWithdrawals`: where to, the columns set with it, the event's data. */
export type WithdrawalMove = {
  id: string
  to: WithdrawalStatus
  outboundTxId?: string
  amountSent?: bigint
  networkFee?: bigint
  failureReason?: string
  data?: Record<string, unknown>
}

/** Rows per bulk statement: well inside Postgres' parameter limit with a few parameters per row. */
const rowsPerStatement = 200

/** The columns a move may set, and how a value is written in the statement's per-row `case`. */
const movableColumns = {
  outboundTxId: { column: withdrawals.outboundTxId, value: (v: unknown) => sql`${v as string}` },
  amountSent: { column: withdrawals.amountSent, value: (v: unknown) => sql`${String(v)}::numeric` },
  networkFee: { column: withdrawals.networkFee, value: (v: unknown) => sql`${String(v)}::numeric` },
  failureReason: { column: withdrawals.failureReason, value: (v: unknown) => sql`${v as string}` },
} as const

/**
 * What `transitionWithdrawal` does, for many withdrawals in bulk statements: per target status and chunk one update
 * (the columns set per row) and one insert of their events; then each moved one is noted for live readers and its
 * refund follows it. A withdrawal no longer in one of the `from` statuses is left as it is and not answered, as
 * one by one. Runs inside the caller's database transaction.
 *
 * @example
 * const moved = await transitionWithdrawals(tx, ['QUEUED'], [{ id, to: 'BATCHED', outboundTxId }])
 */
export async function transitionWithdrawals(
  tx: Tx,
  from: readonly WithdrawalStatus[],
  moves: readonly WithdrawalMove[],
): Promise<WithdrawalRow[]> {
  const out: WithdrawalRow[] = []
  const byTarget = new Map<WithdrawalStatus, WithdrawalMove[]>()
  for (const m of moves) byTarget.set(m.to, [...(byTarget.get(m.to) ?? []), m])
  for (const [to, all] of byTarget)
    for (let i = 0; i < all.length; i += rowsPerStatement) {
      const chunk = all.slice(i, i + rowsPerStatement)
      const set: Record<string, SQL> = {}
      for (const [key, { column, value }] of Object.entries(movableColumns)) {
        const given = chunk.filter((m) => m[key as keyof typeof movableColumns] !== undefined)
        if (given.length === 0) continue
        set[key] = sql`case ${withdrawals.id} ${sql.join(
          given.map((m) => sql`when ${m.id} then ${value(m[key as keyof typeof movableColumns])}`),
          sql` `,
        )} else ${column} end`
      }
      const rows = await tx
        .update(withdrawals)
        .set({ ...set, status: to, eventSeq: sql`${withdrawals.eventSeq} + 1`, updatedAt: new Date() })
        .where(
          and(
            inArray(
              withdrawals.id,
              chunk.map((m) => m.id),
            ),
            inArray(withdrawals.status, [...from]),
          ),
        )
        .returning()
      if (rows.length === 0) continue
      const dataOf = new Map(chunk.map((m) => [m.id, m.data ?? null]))
      const type = `withdrawal.${to.toLowerCase()}`
      await tx.insert(withdrawalEvents).values(
        rows.map((r) => ({
          withdrawalId: r.id,
          merchantId: r.merchantId,
          seq: r.eventSeq,
          type,
          fromStatus: from.length === 1 ? from[0] : null,
          toStatus: to,
          data: dataOf.get(r.id) ?? null,
        })),
      )
      for (const r of rows) {
        noteWithdrawalChange({ withdrawalId: r.id, merchantId: r.merchantId, seq: r.eventSeq, type })
        if (r.refundId) await followRefund(tx, r)
      }
      out.push(...rows)
    }
  return out
}
