import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import {
  chainCursors,
  customerAddresses,
  customers,
  type DepositStatus,
  depositStatuses,
  deposits,
  kytChecks,
} from '../../db/schema/index.ts'
import { invalidInput } from '../errors.ts'
import { pageSize, toPage } from '../pages.ts'
import type { CustomerAddressRow, CustomerRow } from './addresses.ts'
import { checkCustomerId } from './addresses.ts'
import { depositNotFound } from './errors.ts'

export type DepositRow = typeof deposits.$inferSelect

/** A deposit as the API and webhooks show it: with its customer's own id, its address and how deep it is. */
export type DepositView = DepositRow & {
  externalCustomerId: string
  address: string
  /** Blocks on top of it, its own included, at the chain's cursor (0 when reverted or not yet in a block). */
  confirmations: number
  /** Its screening's state (`pending`, `clear`, `held`, `released`, `rejected`); null when screening is off. */
  screening: string | null
}

/**
 * The merchant's customer by the merchant's own id; undefined when there is none (or it is another merchant's).
 *
 * @example
 * const customer = await findCustomer({ db }, merchantId, 'user-42')
 */
export async function findCustomer(
  ctx: { db: Db },
  merchantId: string,
  externalId: string,
): Promise<CustomerRow | undefined> {
  const id = checkCustomerId(externalId)
  const [row] = await ctx.db
    .select()
    .from(customers)
    .where(and(eq(customers.merchantId, merchantId), eq(customers.externalId, id)))
  return row
}

/**
 * A customer's permanent addresses, oldest first (a cross-mode address has one row per chain it receives on).
 *
 * @example
 * const addresses = await customerAddressesOf({ db }, customer.id)
 */
export function customerAddressesOf(ctx: { db: Db }, customerId: string): Promise<CustomerAddressRow[]> {
  return ctx.db
    .select()
    .from(customerAddresses)
    .where(eq(customerAddresses.customerId, customerId))
    .orderBy(asc(customerAddresses.createdAt), asc(customerAddresses.chain))
}

/**
 * What a customer's deposits brought the merchant, per chain and asset: `credited` (confirmed and credited),
 * `pending` (seen or held, not credited yet) and `uncredited` (confirmed below the minimum, or rejected).
 *
 * @example
 * const balance = await customerBalance({ db }, customer.id)
 */
export async function customerBalance(ctx: { db: Db }, customerId: string) {
  const rows = await ctx.db
    .select({
      chain: deposits.chain,
      asset: deposits.asset,
      credited: sql<string>`coalesce(sum(${deposits.credited}), 0)`,
      pending: sql<string>`coalesce(sum(${deposits.amount}) filter (where ${deposits.status} in ('SEEN', 'HELD')), 0)`,
      uncredited: sql<string>`coalesce(sum(${deposits.amount}) filter (where ${deposits.status} = 'REJECTED' or (${deposits.status} = 'CONFIRMED' and ${deposits.belowMinimum})), 0)`,
      count: sql<string>`count(*) filter (where ${deposits.status} <> 'REVERTED')`,
    })
    .from(deposits)
    .where(eq(deposits.customerId, customerId))
    .groupBy(deposits.chain, deposits.asset)
    .orderBy(deposits.chain, deposits.asset)
  return rows.map((r) => ({
    chain: r.chain,
    asset: r.asset,
    credited: BigInt(r.credited),
    pending: BigInt(r.pending),
    uncredited: BigInt(r.uncredited),
    deposits: Number(r.count),
  }))
}

async function viewsOf(db: Db | Tx, rows: readonly DepositRow[]): Promise<DepositView[]> {
  if (rows.length === 0) return []
  const [owners, addresses, checks, cursors] = await Promise.all([
    db
      .select({ id: customers.id, externalId: customers.externalId })
      .from(customers)
      .where(inArray(customers.id, [...new Set(rows.map((r) => r.customerId))])),
    db
      .select({ id: customerAddresses.id, address: customerAddresses.address })
      .from(customerAddresses)
      .where(inArray(customerAddresses.id, [...new Set(rows.map((r) => r.customerAddressId))])),
    db
      .select({ subjectId: kytChecks.subjectId, state: kytChecks.state })
      .from(kytChecks)
      .where(
        and(
          eq(kytChecks.subjectType, 'transfer'),
          inArray(
            kytChecks.subjectId,
            rows.map((r) => r.transferId),
          ),
        ),
      ),
    db
      .select({ chain: chainCursors.chain, height: chainCursors.height })
      .from(chainCursors)
      .where(inArray(chainCursors.chain, [...new Set(rows.map((r) => r.chain))])),
  ])
  const external = new Map(owners.map((o) => [o.id, o.externalId]))
  const addressOf = new Map(addresses.map((a) => [a.id, a.address]))
  const checkOf = new Map(checks.map((c) => [c.subjectId, c.state]))
  const tipOf = new Map(cursors.map((c) => [c.chain, c.height]))
  return rows.map((r) => {
    const tip = tipOf.get(r.chain)
    const depth =
      r.status === 'REVERTED' || r.blockHeight === null || tip === undefined || tip < r.blockHeight
        ? 0
        : Number(tip - r.blockHeight + 1n)
    return {
      ...r,
      externalCustomerId: external.get(r.customerId) ?? '',
      address: addressOf.get(r.customerAddressId) ?? '',
      confirmations: depth,
      screening: checkOf.get(r.transferId) ?? null,
    }
  })
}

/**
 * One of the merchant's deposits by id; `NOT_FOUND` for none (or another merchant's).
 *
 * @example
 * const deposit = await getDeposit({ db }, merchantId, 'dep_…')
 */
export async function getDeposit(ctx: { db: Db }, merchantId: string, id: string): Promise<DepositView> {
  const [row] = await ctx.db
    .select()
    .from(deposits)
    .where(and(eq(deposits.id, id), eq(deposits.merchantId, merchantId)))
  if (!row) throw depositNotFound('deposit')
  return (await viewsOf(ctx.db, [row]))[0] as DepositView
}

/**
 * Deposits by id, any merchant's, as views (what the webhook pump and subscriptions read after a change).
 *
 * @example
 * const views = await depositViews({ db }, ['dep_…'])
 */
export async function depositViews(ctx: { db: Db | Tx }, ids: readonly string[]): Promise<DepositView[]> {
  if (ids.length === 0) return []
  const rows = await ctx.db
    .select()
    .from(deposits)
    .where(inArray(deposits.id, [...ids]))
  return viewsOf(ctx.db, rows)
}

/**
 * The merchant's deposits, newest first, a keyset page at a time: all of them, one customer's (by the
 * merchant's own id: none for an unknown one), or those in one status.
 *
 * @example
 * const { rows, hasNextPage } = await listDeposits({ db }, merchantId, { customerId: 'user-42', first: 20 })
 */
export async function listDeposits(
  ctx: { db: Db },
  merchantId: string,
  options: {
    customerId?: string | null
    status?: string | null
    first?: number | null
    after?: string | null
  },
): Promise<{ rows: DepositView[]; hasNextPage: boolean }> {
  const first = pageSize(options.first)
  if (options.status != null && !(depositStatuses as readonly string[]).includes(options.status))
    throw invalidInput('status', `status is one of ${depositStatuses.join(', ')}`)
  let customerId: string | undefined
  if (options.customerId != null) {
    const customer = await findCustomer(ctx, merchantId, options.customerId)
    if (!customer) return { rows: [], hasNextPage: false }
    customerId = customer.id
  }
  const rows = await ctx.db
    .select()
    .from(deposits)
    .where(
      and(
        eq(deposits.merchantId, merchantId),
        customerId ? eq(deposits.customerId, customerId) : undefined,
        options.status ? eq(deposits.status, options.status as DepositStatus) : undefined,
        options.after ? lt(deposits.id, options.after) : undefined,
      ),
    )
    .orderBy(desc(deposits.id))
    .limit(first + 1)
  const page = toPage(rows, first)
  return { rows: await viewsOf(ctx.db, page.rows), hasNextPage: page.hasNextPage }
}
