import { timingSafeEqual } from 'node:crypto'
import { asc, eq, inArray, or } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { chainCursors, payments, transfers } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { assetById, resolveChain } from '../chains.ts'
import type { PaymentRow } from './queries.ts'

/**
 * A payment by id for a checkout page holding its client secret; undefined when either does not match
 * (the same answer, so a wrong secret reveals nothing).
 *
 * @example
 * const payment = await getPaymentForCheckout({ db }, id, clientSecret)
 */
export async function getPaymentForCheckout(
  ctx: { db: Db },
  id: string,
  clientSecret: string,
): Promise<PaymentRow | undefined> {
  const [row] = await ctx.db.select().from(payments).where(eq(payments.id, id)).limit(1)
  if (!row) return undefined
  const a = Buffer.from(row.clientSecret)
  const b = Buffer.from(clientSecret)
  return a.length === b.length && timingSafeEqual(a, b) ? row : undefined
}

export type TransferView = {
  /** The chain it arrived on: the payment's, or another one for a wrong-network deposit. */
  chain: string
  asset: string
  /** Arrived on another chain than the payment's (see `recordMisdirected`): never counts toward the payment. */
  misdirected: boolean
  /** Why a pending deposit was dropped, and by which transaction (see `followMempool`). */
  fate: 'replaced' | 'double_spent' | 'dropped' | null
  fateBy: string | null
  txHash: string
  index: number
  amount: bigint
  blockHeight: bigint | null
  status: 'pending' | 'seen' | 'confirmed' | 'orphaned' | 'dropped'
  late: boolean
  confirmations: number
}

/**
 * A payment's transfers with their confirmation depth against the scanner's verified height, oldest first.
 *
 * @example
 * const transfers = await listPaymentTransfers({ db }, payment)
 */
export async function listPaymentTransfers(
  ctx: { db: Db },
  payment: Pick<PaymentRow, 'id'>,
): Promise<TransferView[]> {
  return (await listPaymentTransfersFor(ctx, [payment.id])).get(payment.id) ?? []
}

/**
 * The transfers of many payments in one statement (for a page of them), each payment's oldest first, with
 * their confirmation depth against their chain's verified height. Every id asked for has an entry, empty when
 * nothing arrived; ids repeated are read once.
 *
 * @example
 * const byPayment = await listPaymentTransfersFor({ db }, page.map((p) => p.id))
 * byPayment.get(page[0].id) // TransferView[]
 */
export async function listPaymentTransfersFor(
  ctx: { db: Db },
  paymentIds: readonly string[],
): Promise<Map<string, TransferView[]>> {
  const byPayment = new Map<string, TransferView[]>(paymentIds.map((id) => [id, []]))
  if (byPayment.size === 0) return byPayment
  const rows = await ctx.db
    .select({ transfer: transfers, cursorHeight: chainCursors.height })
    .from(transfers)
    // a deposit is on its payment's chain, so the transfer's chain names the cursor to count depth against
    .leftJoin(chainCursors, eq(chainCursors.chain, transfers.chain))
    .where(
      or(
        inArray(transfers.paymentId, [...byPayment.keys()]),
        inArray(transfers.misdirectedPaymentId, [...byPayment.keys()]),
      ),
    )
    // ids are time-ordered: they break ties between transfers recorded in one transaction
    .orderBy(asc(transfers.createdAt), asc(transfers.id))
  for (const { transfer: t, cursorHeight } of rows)
    byPayment.get((t.paymentId ?? t.misdirectedPaymentId) as string)?.push({
      chain: t.chain,
      asset: t.asset,
      misdirected: t.paymentId === null,
      fate: t.fate,
      fateBy: t.fateBy,
      txHash: t.txHash,
      index: t.index,
      amount: t.amount,
      blockHeight: t.blockHeight,
      status: t.status,
      late: t.late,
      confirmations:
        t.status !== 'orphaned' &&
        cursorHeight !== null &&
        t.blockHeight !== null &&
        cursorHeight >= t.blockHeight
          ? Number(cursorHeight - t.blockHeight + 1n)
          : 0,
    })
  return byPayment
}

/** What is still to pay (0 once enough arrived). */
export function amountRemaining(p: Pick<PaymentRow, 'amountDue' | 'amountReceived'>): bigint {
  return p.amountDue > p.amountReceived ? p.amountDue - p.amountReceived : 0n
}

/** What arrived beyond the amount due. */
export function overpaidAmount(p: Pick<PaymentRow, 'amountDue' | 'amountReceived'>): bigint {
  return p.amountReceived > p.amountDue ? p.amountReceived - p.amountDue : 0n
}

/** The amount a wallet URI should ask for: what remains, or the whole amount once nothing does. */
export function amountToRequest(p: Pick<PaymentRow, 'amountDue' | 'amountReceived'>): bigint {
  return amountRemaining(p) || p.amountDue
}

/** Depth of the least-confirmed live deposit (0 before any), capped at the required depth. */
export function paymentConfirmations(transfers: readonly TransferView[], required: number): number {
  const live = transfers.filter((t) => t.status !== 'orphaned' && t.status !== 'dropped' && !t.misdirected)
  if (live.length === 0) return 0
  return Math.min(required, ...live.map((t) => t.confirmations))
}

/** Whether any live deposit arrived after the deadline. */
export function arrivedLate(transfers: readonly TransferView[]): boolean {
  return transfers.some((t) => t.late && t.status !== 'orphaned' && t.status !== 'dropped' && !t.misdirected)
}

/**
 * Why the payment's latest deposit to leave the mempool unmined left it (replaced, double-spent or dropped), or
 * null: what the checkout tells the buyer while the payment waits again.
 *
 * @example
 * droppedDeposit(transfers) // 'double_spent'
 */
export function droppedDeposit(transfers: readonly TransferView[]): TransferView['fate'] {
  const gone = transfers.filter((t) => t.status === 'dropped' && !t.misdirected)
  return gone.at(-1)?.fate ?? null
}

/**
 * What the mempool shows on its way to the payment: its deposits broadcast but not in a block yet (not part of
 * `amountReceived`, never credited before their confirmations unless the payment requires none).
 *
 * @example
 * amountPending(await listPaymentTransfers({ db }, payment)) // 250000n
 */
export function amountPending(transfers: readonly TransferView[]): bigint {
  return transfers.reduce((sum, t) => (t.status === 'pending' && !t.misdirected ? sum + t.amount : sum), 0n)
}

/**
 * The wallet URI (EIP-681, BIP21, `tron:`) for what is still to pay on a payment, as its chain's driver writes it.
 *
 * @example
 * paymentUriOf(ctx.chains, payment) // 'ethereum:0x…@1?value=5e16'
 */
export function paymentUriOf(chains: ChainRegistry, p: PaymentRow): string {
  const chain = resolveChain(chains, p.chain)
  const asset = assetById(chains, p.chain, p.asset)
  return chain.driver.paymentUri({ address: p.address, asset, amount: amountToRequest(p) })
}
