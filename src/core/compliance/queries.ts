import { and, asc, desc, eq, gt, gte, inArray, lt, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { deposits, type KytState, kytChecks } from '../../db/schema/index.ts'
import { pageSize, toPage } from '../pages.ts'
import type { KytCheckRow } from './checks.ts'

export type KytCheckFilter = {
  state?: KytState | null
  paymentId?: string | null
  withdrawalId?: string | null
  first?: number | null
  after?: string | null
}

/**
 * A page of the merchant's screenings, newest first (keyset pagination by id), optionally by state or subject.
 *
 * @example
 * const { rows, hasNextPage } = await listKytChecks({ db }, merchantId, { state: 'held', first: 50 })
 */
export async function listKytChecks(
  ctx: { db: Db },
  merchantId: string,
  filter: KytCheckFilter,
): Promise<{ rows: KytCheckRow[]; hasNextPage: boolean }> {
  const first = pageSize(filter.first, 50)
  const where: SQL[] = [eq(kytChecks.merchantId, merchantId)]
  if (filter.after) where.push(lt(kytChecks.id, filter.after))
  if (filter.state) where.push(eq(kytChecks.state, filter.state))
  if (filter.paymentId) where.push(eq(kytChecks.paymentId, filter.paymentId))
  if (filter.withdrawalId)
    where.push(eq(kytChecks.subjectType, 'withdrawal'), eq(kytChecks.subjectId, filter.withdrawalId))
  const rows = await ctx.db
    .select()
    .from(kytChecks)
    .where(and(...where))
    .orderBy(desc(kytChecks.id))
    .limit(first + 1)
  return toPage(rows, first)
}

/**
 * The screenings of several payments (their deposits'), oldest first, for a batched field resolver.
 *
 * @example
 * const byPayment = await checksOfPayments(db, ['pay_…'])
 */
export async function checksOfPayments(
  db: Db,
  paymentIds: readonly string[],
): Promise<Map<string, KytCheckRow[]>> {
  const out = new Map<string, KytCheckRow[]>(paymentIds.map((id) => [id, []]))
  if (paymentIds.length === 0) return out
  const rows = await db
    .select()
    .from(kytChecks)
    .where(inArray(kytChecks.paymentId, [...paymentIds]))
    .orderBy(asc(kytChecks.createdAt), asc(kytChecks.id))
  for (const r of rows) out.get(r.paymentId as string)?.push(r)
  return out
}

/**
 * The screening of each of several withdrawals (at most one each), for a batched field resolver.
 *
 * @example
 * const byWithdrawal = await checksOfWithdrawals(db, ['wd_…'])
 */
export async function checksOfWithdrawals(db: Db, ids: readonly string[]): Promise<Map<string, KytCheckRow>> {
  if (ids.length === 0) return new Map()
  const rows = await db
    .select()
    .from(kytChecks)
    .where(and(eq(kytChecks.subjectType, 'withdrawal'), inArray(kytChecks.subjectId, [...ids])))
  return new Map(rows.map((r) => [r.subjectId, r]))
}

/**
 * The customer deposit each of several screened transfers is (a check's `subjectId` when its `subjectType` is
 * `transfer`), with the deposit's merchant; a transfer that is no customer deposit (a payment's) is absent. For
 * a batched field resolver.
 *
 * @example
 * const byTransfer = await depositsOfTransfers(db, ['tr_…']) // Map { 'tr_…' => { id: 'dep_…', merchantId } }
 */
export async function depositsOfTransfers(
  db: Db,
  transferIds: readonly string[],
): Promise<Map<string, { id: string; merchantId: string }>> {
  if (transferIds.length === 0) return new Map()
  const rows = await db
    .select({ transferId: deposits.transferId, id: deposits.id, merchantId: deposits.merchantId })
    .from(deposits)
    .where(inArray(deposits.transferId, [...new Set(transferIds)]))
  return new Map(rows.map((r) => [r.transferId, { id: r.id, merchantId: r.merchantId }]))
}

/**
 * Every screening opened in `[from, to)`, in the order they were opened (ids are time-ordered), in pages of
 * `pageSize` — what the report walks without holding them all.
 *
 * @example
 * for await (const page of checksBetween(db, { from, to })) …
 */
export async function* checksBetween(
  db: Db,
  range: { from: Date; to: Date; merchantId?: string },
  pageSize = 1000,
): AsyncGenerator<KytCheckRow[]> {
  let after: string | undefined
  for (;;) {
    const where: SQL[] = [gte(kytChecks.createdAt, range.from), lt(kytChecks.createdAt, range.to)]
    if (range.merchantId) where.push(eq(kytChecks.merchantId, range.merchantId))
    if (after) where.push(gt(kytChecks.id, after))
    const rows = await db
      .select()
      .from(kytChecks)
      .where(and(...where))
      .orderBy(asc(kytChecks.id))
      .limit(pageSize)
    if (rows.length > 0) yield rows
    if (rows.length < pageSize) return
    after = (rows.at(-1) as KytCheckRow).id
  }
}

/**
 * Whether a payment's deposits may be collected: `allowed` (every one screened clear or released, or screening
 * off), `waiting` (one still undecided or held), `rejected` (one rejected: its funds stay for a refund). A sweep,
 * which takes the address's whole balance, asks this right before it moves anything.
 *
 * @example
 * if ((await depositScreening(db, sweep.paymentId)) !== 'allowed') return 'waiting'
 */
export async function depositScreening(
  db: Db,
  paymentId: string,
): Promise<'allowed' | 'waiting' | 'rejected'> {
  const rows = await db
    .select({ state: kytChecks.state })
    .from(kytChecks)
    .where(and(eq(kytChecks.paymentId, paymentId), inArray(kytChecks.state, ['pending', 'held', 'rejected'])))
  if (rows.some((r) => r.state === 'rejected')) return 'rejected'
  return rows.length > 0 ? 'waiting' : 'allowed'
}
