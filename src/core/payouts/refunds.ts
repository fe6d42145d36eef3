import { createHash, timingSafeEqual } from 'node:crypto'
import { and, desc, eq, lt, type SQL } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import {
  merchants,
  type RefundRow,
  type RefundSource,
  type RefundStatus,
  refundEvents,
  refunds,
  withdrawals,
} from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { checkIdempotencyKey } from '../access/idempotency.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { checkFreeText, invalidInput, TollgateError } from '../errors.ts'
import { newId, randomSecret } from '../ids.ts'
import { availableBalance, lockBalance } from '../ledger/balances.ts'
import { postRefundHold, postWithdrawalRelease } from '../ledger/postings.ts'
import { parseAmount } from '../money.ts'
import { pageSize, toPage } from '../pages.ts'
import type { PaymentRow } from '../payments/queries.ts'
import type { PaymentChange } from '../payments/refresh.ts'
import { type Refundable, refundableOf } from '../payments/refundable.ts'
import { lockPaymentOf, markRefunded, reopenUnrefunded } from '../payments/resolution.ts'
import { canceledWhileHeldNote, decideWithdrawalCheck } from './withdrawal-screening.ts'
import { transitionWithdrawal } from './withdrawal-transitions.ts'
import {
  approvalStatus,
  insertWithdrawal,
  payoutDestination,
  screenPayout,
  type WithdrawalsContext,
} from './withdrawals.ts'

export type RefundsContext = WithdrawalsContext & { now?: () => Date }

export type RefundPaymentInput = {
  paymentId: string
  /** A decimal amount of the payment's asset; omitted: everything still refundable from the source. */
  amount?: string | null
  /** Refund what was paid above the amount due (from the balance); `amount` must then be omitted. */
  overpayment?: boolean | null
  /** The buyer's address; omitted: the refund gets a link where the buyer enters it. */
  to?: string | null
  /** Default: the payment's uncredited funds unless it is COMPLETED, then the merchant's balance. */
  source?: RefundSource | null
  reason?: string | null
  idempotencyKey: string
}

/** The statuses a payment's uncredited funds can be refunded in: it is over, or they are not its payment. */
const closedStatuses = new Set(['UNDERPAID', 'EXPIRED', 'REJECTED', 'CANCELED', 'COMPLETED'])

type Checked = {
  payment: PaymentRow
  chain: LoadedChain
  asset: ReturnType<typeof resolveAsset>
  source: RefundSource
  overpayment: boolean
  requested: bigint | undefined
  to: string | undefined
  key: string
  reason: string | undefined
  requestHash: string
}

async function check(ctx: RefundsContext, merchantId: string, input: RefundPaymentInput): Promise<Checked> {
  const key = checkIdempotencyKey(input.idempotencyKey)
  const reason = checkFreeText('reason', input.reason, 500)
  if (typeof input.paymentId !== 'string' || input.paymentId.length > 100)
    throw new TollgateError('NOT_FOUND', 'payment not found', 'paymentId')
  const payment = await ctx.db
    .transaction((tx) => lockPaymentOf(tx, merchantId, input.paymentId))
    .catch((err) => {
      if (err instanceof TollgateError) throw new TollgateError(err.code, err.message, 'paymentId')
      throw err
    })
  const chain = resolveChain(ctx.chains, payment.chain)
  const asset = resolveAsset(chain, payment.asset)
  const overpayment = input.overpayment === true
  const source: RefundSource =
    input.source ?? (overpayment || payment.status === 'COMPLETED' ? 'BALANCE' : 'UNCREDITED')
  if (source !== 'BALANCE' && source !== 'UNCREDITED')
    throw invalidInput('source', 'source is BALANCE or UNCREDITED')
  if (overpayment && input.amount != null)
    throw invalidInput('amount', 'an overpayment refund returns the excess: leave amount out')
  if (overpayment && source !== 'BALANCE')
    throw invalidInput('source', 'an overpayment was credited: it is refunded from the BALANCE')
  const requested = input.amount == null ? undefined : parseAmount(input.amount, asset.decimals)
  if (requested !== undefined && requested <= 0n)
    throw new TollgateError('INVALID_AMOUNT', 'amount must be more than zero', 'amount')
  const to = input.to == null ? undefined : payoutDestination(chain, asset, input.to, requested)
  const requestHash = createHash('sha256')
    .update(
      JSON.stringify([
        payment.id,
        source,
        overpayment,
        requested?.toString() ?? null,
        to ?? null,
        reason ?? null,
      ]),
    )
    .digest('hex')
  return { payment, chain, asset, source, overpayment, requested, to, key, reason, requestHash }
}

/** The amount a refund takes from what is refundable, refused when it asks for more than there is. */
function amountOf(c: Checked, refundable: Refundable): bigint {
  const { payment, source } = c
  if (source === 'BALANCE' && payment.status !== 'COMPLETED')
    throw new TollgateError(
      'INVALID_STATE',
      `a ${payment.status} payment credited nothing: refund its UNCREDITED funds instead`,
      'source',
    )
  if (source === 'UNCREDITED' && !closedStatuses.has(payment.status) && payment.resolution !== 'REFUNDED')
    throw new TollgateError(
      'INVALID_STATE',
      `a ${payment.status} payment may still be paid: wait for it to end, or cancel it, before refunding its funds`,
      'paymentId',
    )
  const available = c.overpayment
    ? refundable.overpaid
    : source === 'BALANCE'
      ? refundable.credited
      : refundable.uncredited
  const amount = c.requested ?? available
  if (available === 0n)
    throw new TollgateError(
      'NOTHING_TO_REFUND',
      c.overpayment
        ? 'this payment has no overpayment left to refund'
        : `this payment has no ${source === 'BALANCE' ? 'credited' : 'uncredited, confirmed'} funds left to refund`,
      c.requested === undefined ? 'paymentId' : 'amount',
    )
  if (amount > available)
    throw new TollgateError(
      'AMOUNT_NOT_REFUNDABLE',
      `at most ${available} base units of this payment can be refunded from ${source === 'BALANCE' ? 'the balance' : 'its uncredited funds'}`,
      'amount',
    )
  return amount
}

async function replayOf(db: Db | Tx, merchantId: string, key: string, requestHash: string) {
  const [existing] = await db
    .select()
    .from(refunds)
    .where(and(eq(refunds.merchantId, merchantId), eq(refunds.idempotencyKey, key)))
  if (!existing) return undefined
  if (existing.requestHash !== requestHash)
    throw new TollgateError(
      'IDEMPOTENCY_KEY_REUSED',
      'this idempotencyKey was used with different parameters',
      'idempotencyKey',
    )
  return existing
}

/**
 * The idempotency key of a refund's payout. `·` is outside the printable ASCII merchants' keys are made of
 * (checkIdempotencyKey): no withdrawal the merchant requests can take it before the buyer claims the link.
 */
const payoutKey = (refundId: string) => `refund·${refundId}`

/**
 * Refunds a payment's buyer: from the merchant's balance (a completed payment, part of it or its overpayment) or
 * from the payment's own funds that were never credited (an underpaid, expired, canceled or rejected payment's;
 * such a refund closes the payment: later funds never complete it). Paid by a withdrawal from the treasury, with
 * the withdrawals' screening, approval threshold, batching and crash safety. Without `to`, the refund waits for
 * the buyer to enter an address on its link's page (`linkSecret`), its amount held meanwhile. The merchant's
 * `refundFee` setting says whether the fee comes out of the refund (native assets only). The same key and
 * parameters answer the same refund; the same key with others is refused. Audited.
 *
 * @example
 * const { refund } = await refundPayment(ctx, merchantId, { paymentId: 'pay_…', idempotencyKey: 'rf-1' }, { keyId })
 */
export async function refundPayment(
  ctx: RefundsContext,
  merchantId: string,
  input: RefundPaymentInput,
  actor: AuditActor,
): Promise<{ refund: RefundRow; replayed: boolean; changes: PaymentChange[] }> {
  const c = await check(ctx, merchantId, input)
  const earlier = await replayOf(ctx.db, merchantId, c.key, c.requestHash)
  if (earlier) return { refund: earlier, replayed: true, changes: [] }
  const now = ctx.now?.() ?? new Date()
  // asked before the transaction (no lock held meanwhile), then checked again under the payment's lock
  const amount = amountOf(c, await refundableOf(ctx.db, c.payment))
  // a whole refund's amount is known only now: its destination's smallest output is checked against it here
  if (c.to && c.requested === undefined) payoutDestination(c.chain, c.asset, c.to, amount)
  const id = newId('rf')
  const screened = c.to
    ? await screenPayout(
        ctx,
        merchantId,
        { chain: c.chain, asset: c.asset, to: c.to, amount },
        payoutKey(id),
        approvalStatus(c.chain, c.asset, amount),
      )
    : undefined
  const [merchant] = await ctx.db
    .select({ refundFee: merchants.refundFee })
    .from(merchants)
    .where(eq(merchants.id, merchantId))
  // a fee is paid in the native asset: only a refund of it can carry its own fee
  const feePaidBy = merchant?.refundFee === 'DEDUCTED' && c.asset.native ? 'BUYER' : 'MERCHANT'
  return ctx.db
    .transaction(async (tx) => {
      const payment = await lockPaymentOf(tx, merchantId, c.payment.id)
      const replay = await replayOf(tx, merchantId, c.key, c.requestHash)
      if (replay) return { refund: replay, replayed: true, changes: [] }
      const now_ = amountOf({ ...c, payment, requested: amount }, await refundableOf(tx, payment))
      if (c.source === 'BALANCE') {
        await lockBalance(tx, merchantId, c.chain.name, c.asset.id)
        if ((await availableBalance(tx, merchantId, c.chain.name, c.asset.id)) < now_)
          throw new TollgateError(
            'INSUFFICIENT_BALANCE',
            'the available balance does not cover this refund (it was withdrawn or refunded already)',
            'amount',
          )
      }
      const [refund] = await tx
        .insert(refunds)
        .values({
          id,
          merchantId,
          paymentId: payment.id,
          chain: c.chain.name,
          asset: c.asset.id,
          amount: now_,
          source: c.source,
          overpayment: c.overpayment,
          feePaidBy,
          toAddress: c.to ?? null,
          status: c.to ? 'PENDING' : 'AWAITING_ADDRESS',
          linkSecret: c.to ? null : `rfs_${randomSecret()}`,
          reason: c.reason ?? null,
          idempotencyKey: c.key,
          requestHash: c.requestHash,
          requestedByKey: 'keyId' in actor ? actor.keyId : null,
          createdAt: now,
          updatedAt: now,
        })
        .returning()
      let row = refund as RefundRow
      await tx.insert(refundEvents).values({
        refundId: row.id,
        merchantId,
        seq: 1,
        type: 'refund.created',
        status: row.status,
        data: {},
        createdAt: now,
      })
      if (c.to && screened) row = await payRefund(tx, row, c.chain, c.asset, c.to, screened)
      else await postRefundHold(tx, row, 'hold')
      await recordAudit(tx, {
        merchantId,
        actor,
        action: 'refund.created',
        target: { type: 'refund', id: row.id },
        data: {
          paymentId: payment.id,
          amount: now_.toString(),
          source: c.source,
          ...(c.reason ? { reason: c.reason } : {}),
        },
      })
      const closed = c.source === 'UNCREDITED' ? await markRefunded(tx, payment, now) : undefined
      return { refund: row, replayed: false, changes: closed ? [closed] : [] }
    })
    .catch(async (err) => {
      if (!isUniqueViolation(err, 'refunds_merchant_idempotency_uq')) throw err
      const replay = await replayOf(ctx.db, merchantId, c.key, c.requestHash)
      if (!replay) throw err
      return { refund: replay, replayed: true, changes: [] }
    })
}

/** Creates the withdrawal that pays a refund whose destination is known, in the caller's transaction. */
async function payRefund(
  tx: Tx,
  refund: RefundRow,
  chain: LoadedChain,
  asset: ReturnType<typeof resolveAsset>,
  to: string,
  screened: Awaited<ReturnType<typeof screenPayout>>,
): Promise<RefundRow> {
  const withdrawal = await insertWithdrawal(
    tx,
    refund.merchantId,
    {
      chain,
      asset,
      to,
      amount: refund.amount,
      key: payoutKey(refund.id),
      requestHash: createHash('sha256').update(refund.id).digest('hex'),
    },
    screened,
    {
      refundId: refund.id,
      fundedFrom: refund.source === 'UNCREDITED' ? 'uncredited' : 'balance',
      feeFromAmount: refund.feePaidBy === 'BUYER',
      requestedByKey: refund.requestedByKey,
    },
  )
  const [row] = await tx
    .update(refunds)
    .set({ withdrawalId: withdrawal.id, toAddress: to, updatedAt: new Date() })
    .where(eq(refunds.id, refund.id))
    .returning()
  return row as RefundRow
}

/** Compares a link's secret in constant time; any mismatch (or none set) is false. */
function secretMatches(stored: string | null, given: unknown): boolean {
  if (!stored || typeof given !== 'string' || given.length !== stored.length) return false
  return timingSafeEqual(Buffer.from(stored), Buffer.from(given))
}

/**
 * A refund as its link shows it, for the holder of its secret; undefined for an unknown id or a wrong secret
 * (the same answer: the page tells nothing to a guesser).
 *
 * @example
 * const refund = await refundForLink({ db }, 'rf_…', 'rfs_…')
 */
export async function refundForLink(
  ctx: { db: Db },
  id: string,
  secret: unknown,
): Promise<RefundRow | undefined> {
  if (typeof id !== 'string' || id.length > 100) return undefined
  const [row] = await ctx.db.select().from(refunds).where(eq(refunds.id, id))
  return row && secretMatches(row.linkSecret, secret) ? row : undefined
}

/**
 * The buyer's answer on a refund link: the address to send the refund to, validated by the chain's driver and
 * screened like any payout destination. A link is used once (`REFUND_LINK_USED` after); a destination refused
 * by screening leaves it open for another address.
 *
 * @example
 * const refund = await claimRefund(ctx, 'rf_…', 'rfs_…', 'bc1q…')
 */
export async function claimRefund(
  ctx: RefundsContext,
  id: string,
  secret: unknown,
  to: unknown,
): Promise<RefundRow> {
  const found = await refundForLink(ctx, id, secret)
  if (!found) throw new TollgateError('NOT_FOUND', 'refund not found', 'id')
  if (found.status !== 'AWAITING_ADDRESS')
    throw new TollgateError('REFUND_LINK_USED', 'this refund link was already used', 'id')
  const chain = resolveChain(ctx.chains, found.chain)
  const asset = resolveAsset(chain, found.asset)
  const address = payoutDestination(chain, asset, to, found.amount)
  const screened = await screenPayout(
    ctx,
    found.merchantId,
    { chain, asset, to: address, amount: found.amount },
    payoutKey(found.id),
    approvalStatus(chain, asset, found.amount),
  )
  return ctx.db.transaction(async (tx) => {
    const [refund] = await tx.select().from(refunds).where(eq(refunds.id, found.id)).for('update')
    if (refund?.status !== 'AWAITING_ADDRESS')
      throw new TollgateError('REFUND_LINK_USED', 'this refund link was already used', 'id')
    await postRefundHold(tx, refund, 'release')
    const paid = await payRefund(tx, refund, chain, asset, address, screened)
    return moveRefund(tx, paid, 'PENDING', 'refund.claimed', { to: address })
  })
}

async function moveRefund(
  tx: Tx,
  refund: RefundRow,
  status: RefundStatus,
  type: string,
  data: Record<string, unknown> = {},
): Promise<RefundRow> {
  const [row] = await tx
    .update(refunds)
    .set({ status, eventSeq: refund.eventSeq + 1, updatedAt: new Date() })
    .where(eq(refunds.id, refund.id))
    .returning()
  await tx.insert(refundEvents).values({
    refundId: refund.id,
    merchantId: refund.merchantId,
    seq: refund.eventSeq + 1,
    type,
    status,
    data,
  })
  return row as RefundRow
}

/**
 * Cancels a refund that has not been picked for sending: an unclaimed link's hold, or a payout still screening,
 * queued or awaiting approval. What it held goes back where it came from (the balance, or the payment's
 * uncredited funds, refundable again). Audited.
 *
 * @example
 * await cancelRefund(ctx, merchantId, 'rf_…', { keyId })
 */
export async function cancelRefund(
  ctx: { db: Db },
  merchantId: string,
  id: string,
  actor: AuditActor,
): Promise<RefundRow> {
  if (typeof id !== 'string' || id.length > 100)
    throw new TollgateError('NOT_FOUND', 'refund not found', 'id')
  return ctx.db.transaction(async (tx) => {
    const [seen] = await tx
      .select({ withdrawalId: refunds.withdrawalId })
      .from(refunds)
      .where(and(eq(refunds.id, id), eq(refunds.merchantId, merchantId)))
    if (!seen) throw new TollgateError('NOT_FOUND', 'refund not found', 'id')
    // the withdrawal first, then the refund: the order a payout step moving the withdrawal takes them in
    if (seen.withdrawalId)
      await tx
        .select({ id: withdrawals.id })
        .from(withdrawals)
        .where(eq(withdrawals.id, seen.withdrawalId))
        .for('update')
    const [refund] = await tx.select().from(refunds).where(eq(refunds.id, id)).for('update')
    if (!refund) throw new TollgateError('NOT_FOUND', 'refund not found', 'id')
    if (refund.status === 'AWAITING_ADDRESS') await postRefundHold(tx, refund, 'release')
    else if (refund.status === 'PENDING' && refund.withdrawalId) {
      // marked first: the withdrawal's cancel then finds nothing to report to it
      await tx.update(refunds).set({ status: 'CANCELED' }).where(eq(refunds.id, refund.id))
      const w = await transitionWithdrawal(
        tx,
        refund.withdrawalId,
        ['SCREENING', 'QUEUED', 'AWAITING_APPROVAL'],
        'CANCELED',
      )
      if (!w)
        throw new TollgateError(
          'INVALID_STATE',
          'this refund is on its way to the chain and can no longer be canceled',
          'id',
        )
      await postWithdrawalRelease(tx, w)
      await decideWithdrawalCheck(tx, w.id, { release: false, by: actor, note: canceledWhileHeldNote })
    } else
      throw new TollgateError('INVALID_STATE', `a ${refund.status} refund can no longer be canceled`, 'id')
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'refund.canceled',
      target: { type: 'refund', id: refund.id },
    })
    const canceled = await moveRefund(tx, refund, 'CANCELED', 'refund.canceled')
    if (refund.source === 'UNCREDITED')
      await reopenUnrefunded(tx, refund.paymentId, { refundCanceled: refund.id })
    return canceled
  })
}

/**
 * One of the merchant's refunds; undefined for an unknown id or another merchant's.
 *
 * @example
 * const refund = await getRefund({ db }, merchantId, 'rf_…')
 */
export async function getRefund(
  ctx: { db: Db },
  merchantId: string,
  id: string,
): Promise<RefundRow | undefined> {
  if (typeof id !== 'string' || id.length > 100) return undefined
  const [row] = await ctx.db
    .select()
    .from(refunds)
    .where(and(eq(refunds.id, id), eq(refunds.merchantId, merchantId)))
  return row
}

/**
 * The merchant's refunds, newest first (keyset by id), optionally of one payment.
 *
 * @example
 * const { rows, hasNextPage } = await listRefunds({ db }, merchantId, { first: 20, paymentId })
 */
export async function listRefunds(
  ctx: { db: Db },
  merchantId: string,
  params: { first?: number | null; after?: string | null; paymentId?: string | null },
): Promise<{ rows: RefundRow[]; hasNextPage: boolean }> {
  const first = pageSize(params.first)
  const conditions: SQL[] = [eq(refunds.merchantId, merchantId)]
  if (params.after) conditions.push(lt(refunds.id, params.after))
  if (params.paymentId) conditions.push(eq(refunds.paymentId, params.paymentId))
  const rows = await ctx.db
    .select()
    .from(refunds)
    .where(and(...conditions))
    .orderBy(desc(refunds.id))
    .limit(first + 1)
  return toPage(rows, first)
}

/**
 * What a refund's buyer receives: the amount, less the fee when it came out of it (known once built).
 *
 * @example
 * await refundAmountSent({ db }, refund) // 990_000n
 */
export async function refundAmountSent(ctx: { db: Db }, r: Pick<RefundRow, 'withdrawalId' | 'amount'>) {
  if (!r.withdrawalId) return null
  const [w] = await ctx.db
    .select({ amountSent: withdrawals.amountSent, amount: withdrawals.amount, status: withdrawals.status })
    .from(withdrawals)
    .where(eq(withdrawals.id, r.withdrawalId))
  if (!w || ['SCREENING', 'AWAITING_APPROVAL', 'QUEUED'].includes(w.status)) return null
  return w.amountSent ?? w.amount
}
