import { and, asc, desc, eq, inArray, lt, type SQL, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import {
  kytChecks,
  type PaymentStatus,
  paymentEvents,
  payments,
  refunds,
  transfers,
} from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { pageSize, toPage } from '../pages.ts'

export type PaymentRow = typeof payments.$inferSelect

/** The longest text a payment filter compares: no stored id, order id, address or hash is longer. */
const maxFilterText = 256

/**
 * Whether `text` could equal a stored id, order id, address or transaction hash: at most 256 characters and no
 * control characters (Postgres refuses NUL in text). Text that cannot matches nothing, rather than failing.
 *
 * @example
 * matchable('pay_0123') // true
 * matchable('a\u0000b') // false
 */
export function matchable(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
  return text.length <= maxFilterText && !/[\u0000-\u001f\u007f]/.test(text)
}

/**
 * A merchant's payment, or undefined for an unknown id, another merchant's payment, or an id no payment can have.
 *
 * @example
 * const payment = await getPayment({ db }, merchantId, 'pay_…')
 */
export async function getPayment(
  ctx: { db: Db },
  merchantId: string,
  id: string,
): Promise<PaymentRow | undefined> {
  if (!matchable(id)) return undefined
  const [row] = await ctx.db
    .select()
    .from(payments)
    .where(and(eq(payments.id, id), eq(payments.merchantId, merchantId)))
    .limit(1)
  return row
}

export type PaymentFilter = {
  status?: PaymentStatus | null
  chain?: string | null
  orderId?: string | null
  /** Only payments in an exception (see `paymentException`): what needs the merchant's decision. */
  exception?: boolean | null
  /**
   * The payment's deposit address, exactly as stored or in any form a configured chain's driver normalizes to it
   * (an EVM address in any letter case finds its checksummed form).
   */
  address?: string | null
  /** A transaction that paid into the payment (wrong-network deposits to its address included). */
  txHash?: string | null
}

/**
 * The forms of `address` a payment can hold: as given, and as each configured chain's driver normalizes it (as
 * given or in lower case: an EVM address with a wrong checksum is still found).
 */
function addressForms(chains: ChainRegistry | undefined, address: string): string[] {
  const forms = new Set([address])
  for (const chain of chains?.values() ?? [])
    for (const candidate of new Set([address, address.toLowerCase()])) {
      try {
        const checked = chain.driver.validateAddress(candidate)
        if (checked.ok) forms.add(checked.normalized)
      } catch {
        // a driver that throws on odd input: that form is simply not one of its addresses
      }
    }
  return [...forms]
}

/**
 * The payments a transaction paid into, as SQL on `payments.id`. Hashes are stored as the chains write them (lower
 * case hex), so the lower-case form is asked too; with the chains known, the lookup goes through the transfers'
 * (chain, hash) index instead of reading every transfer.
 */
function paidByTransaction(chains: ChainRegistry | undefined, txHash: string): SQL {
  const hashes = [...new Set([txHash, txHash.toLowerCase()])]
  const names = [...(chains?.keys() ?? [])]
  const where = [inArray(transfers.txHash, hashes)]
  if (names.length > 0) where.push(inArray(transfers.chain, names))
  return sql`${payments.id} in (select coalesce(${transfers.paymentId}, ${transfers.misdirectedPaymentId})
    from ${transfers} where ${and(...where)})`
}

/**
 * The payments `paymentException` calls exceptions, as SQL: underpaid, rejected or canceled-but-paid without a
 * decision; completed with more confirmed than due and no overpayment refund; closed by a refund with confirmed
 * funds (those `refundableOf` counts) above what its live refunds of them return.
 */
const inException = sql`(
  (${payments.resolution} is null and (${payments.status} in ('UNDERPAID', 'REJECTED')
    or (${payments.status} = 'CANCELED' and ${payments.amountReceived} > 0)))
  or (${payments.status} = 'COMPLETED' and ${payments.amountConfirmed} > ${payments.amountDue}
    and not exists (select 1 from ${refunds} where ${refunds.paymentId} = ${payments.id}
      and ${refunds.overpayment} and ${refunds.status} not in ('FAILED', 'CANCELED')))
  or (${payments.resolution} = 'REFUNDED' and ${payments.status} <> 'COMPLETED'
    and (select coalesce(sum(${transfers.amount}), 0) from ${transfers}
      left join ${kytChecks} on ${kytChecks.subjectType} = 'transfer' and ${kytChecks.subjectId} = ${transfers.id}
      where ${transfers.paymentId} = ${payments.id} and ${transfers.status} = 'confirmed'
        and (${kytChecks.state} is null or ${kytChecks.state} not in ('pending', 'held')))
    > (select coalesce(sum(${refunds.amount}), 0) from ${refunds} where ${refunds.paymentId} = ${payments.id}
      and ${refunds.source} = 'UNCREDITED' and ${refunds.status} not in ('FAILED', 'CANCELED')))
)`

/**
 * A page of a merchant's payments, newest first, by keyset on the time-ordered id. Text filters that no stored
 * value can equal (see `matchable`) match nothing. `ctx.chains` (the configured chains) lets `address` find the
 * forms drivers normalize to, and `txHash` use the transfers' index.
 *
 * @example
 * const { rows, hasNextPage } = await listPayments({ db }, merchantId, { first: 20 })
 * const paidBy = await listPayments({ db, chains }, merchantId, { filter: { txHash: '0xabc…' } })
 */
export async function listPayments(
  ctx: { db: Db; chains?: ChainRegistry },
  merchantId: string,
  params: { filter?: PaymentFilter | null; first?: number | null; after?: string | null },
): Promise<{ rows: PaymentRow[]; hasNextPage: boolean }> {
  const first = pageSize(params.first)
  const filter = params.filter ?? {}
  const texts = [filter.chain, filter.orderId, filter.address, filter.txHash]
  if (texts.some((text) => typeof text === 'string' && !matchable(text)))
    return { rows: [], hasNextPage: false }
  const conditions: SQL[] = [eq(payments.merchantId, merchantId)]
  if (params.after) conditions.push(lt(payments.id, params.after))
  if (filter.status) conditions.push(eq(payments.status, filter.status))
  if (filter.chain) conditions.push(eq(payments.chain, filter.chain))
  if (filter.orderId) conditions.push(eq(payments.orderId, filter.orderId))
  if (filter.exception) conditions.push(inException)
  if (filter.address) conditions.push(inArray(payments.address, addressForms(ctx.chains, filter.address)))
  if (filter.txHash) conditions.push(paidByTransaction(ctx.chains, filter.txHash))
  const rows = await ctx.db
    .select()
    .from(payments)
    .where(and(...conditions))
    .orderBy(desc(payments.id))
    .limit(first + 1)
  return toPage(rows, first)
}

export type PaymentEventRow = typeof paymentEvents.$inferSelect

/** The status history of a payment, oldest first. */
export async function listPaymentEvents(ctx: { db: Db }, paymentId: string): Promise<PaymentEventRow[]> {
  return (await listPaymentEventsFor(ctx, [paymentId])).get(paymentId) ?? []
}

/**
 * The status histories of many payments in one statement (for a page of them), each oldest first. Every id
 * asked for has an entry; ids repeated are read once.
 *
 * @example
 * const byPayment = await listPaymentEventsFor({ db }, page.map((p) => p.id))
 * byPayment.get(page[0].id)?.[0]?.type // 'payment.created'
 */
export async function listPaymentEventsFor(
  ctx: { db: Db },
  paymentIds: readonly string[],
): Promise<Map<string, PaymentEventRow[]>> {
  const byPayment = new Map<string, PaymentEventRow[]>(paymentIds.map((id) => [id, []]))
  if (byPayment.size === 0) return byPayment
  const rows = await ctx.db
    .select()
    .from(paymentEvents)
    .where(inArray(paymentEvents.paymentId, [...byPayment.keys()]))
    .orderBy(asc(paymentEvents.paymentId), asc(paymentEvents.seq))
  for (const row of rows) byPayment.get(row.paymentId)?.push(row)
  return byPayment
}
