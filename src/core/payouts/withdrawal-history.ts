import { asc, inArray } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { outboundTxs, withdrawalEvents } from '../../db/schema/index.ts'

export type WithdrawalEventRow = typeof withdrawalEvents.$inferSelect

/**
 * The status histories of many withdrawals in one statement (for a page of them), each oldest first. Every id
 * asked for has an entry; ids repeated are read once.
 *
 * @example
 * const byWithdrawal = await listWithdrawalEventsFor({ db }, page.map((w) => w.id))
 * byWithdrawal.get(page[0].id)?.[0]?.type // 'withdrawal.requested'
 */
export async function listWithdrawalEventsFor(
  ctx: { db: Db },
  withdrawalIds: readonly string[],
): Promise<Map<string, WithdrawalEventRow[]>> {
  const byWithdrawal = new Map<string, WithdrawalEventRow[]>(withdrawalIds.map((id) => [id, []]))
  if (byWithdrawal.size === 0) return byWithdrawal
  const rows = await ctx.db
    .select()
    .from(withdrawalEvents)
    .where(inArray(withdrawalEvents.withdrawalId, [...byWithdrawal.keys()]))
    .orderBy(asc(withdrawalEvents.withdrawalId), asc(withdrawalEvents.seq))
  for (const row of rows) byWithdrawal.get(row.withdrawalId)?.push(row)
  return byWithdrawal
}

/**
 * The hashes of many outbound transactions in one statement (the transactions paying a page of withdrawals);
 * null for one not signed yet or not found.
 *
 * @example
 * const hashes = await outboundTxHashesFor({ db }, page.flatMap((w) => w.outboundTxId ?? []))
 */
export async function outboundTxHashesFor(
  ctx: { db: Db },
  outboundTxIds: readonly string[],
): Promise<Map<string, string | null>> {
  const hashes = new Map<string, string | null>(outboundTxIds.map((id) => [id, null]))
  if (hashes.size === 0) return hashes
  const rows = await ctx.db
    .select({ id: outboundTxs.id, hash: outboundTxs.hash })
    .from(outboundTxs)
    .where(inArray(outboundTxs.id, [...hashes.keys()]))
  for (const row of rows) hashes.set(row.id, row.hash)
  return hashes
}
