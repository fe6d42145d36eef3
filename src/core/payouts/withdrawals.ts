import { createHash } from 'node:crypto'
import type { AssetInfo } from '@tollgate/sdk'
import { and, asc, desc, eq, lt, type SQL } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { outboundTxs, type WithdrawalStatus, withdrawalEvents, withdrawals } from '../../db/schema/index.ts'
import type { ChainRegistry, LoadedChain } from '../../plugins/registry.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { checkIdempotencyKey } from '../access/idempotency.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import type { Compliance } from '../compliance/checks.ts'
import { checkFreeText, TollgateError } from '../errors.ts'
import { newId } from '../ids.ts'
import { availableBalance, lockBalance } from '../ledger/balances.ts'
import { postWithdrawalRelease, postWithdrawalReserve } from '../ledger/postings.ts'
import { parseAmount } from '../money.ts'
import { pageSize, toPage } from '../pages.ts'
import { addApproval, approvalsRequired } from './approvals.ts'
import { type DestinationContext, screenDestination } from './destinations.ts'
import { noteWithdrawalChange } from './withdrawal-changes.ts'
import {
  canceledWhileHeldNote,
  type DestinationScreening,
  decideWithdrawalCheck,
  recordWithdrawalScreening,
  refuseWithdrawal,
  screenedStatus,
  screenWithdrawalRequest,
} from './withdrawal-screening.ts'
import { transitionWithdrawal, type WithdrawalRow } from './withdrawal-transitions.ts'

export type WithdrawalsContext = DestinationContext & { compliance?: Compliance }

export type RequestWithdrawalInput = {
  chain: string
  asset: string
  to: string
  amount: string
  idempotencyKey: string
}

/**
 * A payout destination as the chain's driver normalizes it, refused with `INVALID_ADDRESS` when it is not an
 * address of the chain and with `INVALID_AMOUNT` when `amount` is below the smallest output the chain relays
 * to it (undefined: not known yet, e.g. a whole refund's; its caller checks it once it is).
 *
 * @example
 * const to = payoutDestination(chain, asset, '0xAb58…', 25_000_000n)
 */
export function payoutDestination(
  chain: LoadedChain,
  asset: AssetInfo,
  to: unknown,
  amount: bigint | undefined,
): string {
  if (!chain.driver.payouts)
    throw new TollgateError('PAYOUTS_UNSUPPORTED', `the ${chain.name} driver cannot send funds`, 'chain')
  if (typeof to !== 'string' || to.length === 0 || to.length > 200)
    throw new TollgateError('INVALID_ADDRESS', 'to must be an address of the chain', 'to')
  const address = chain.driver.validateAddress(to)
  if (!address.ok)
    throw new TollgateError('INVALID_ADDRESS', `not a valid ${chain.name} address: ${address.reason}`, 'to')
  const minimum = chain.driver.payouts.minOutput?.(address.normalized, asset) ?? 0n
  if (amount !== undefined && amount < minimum)
    throw new TollgateError(
      'INVALID_AMOUNT',
      `amount is below the smallest output this chain relays to that address (${minimum} base units)`,
      'amount',
    )
  return address.normalized
}

function validate(ctx: WithdrawalsContext, input: RequestWithdrawalInput) {
  const chain = resolveChain(ctx.chains, input.chain)
  const asset = resolveAsset(chain, input.asset)
  if (!chain.driver.payouts)
    throw new TollgateError('PAYOUTS_UNSUPPORTED', `the ${chain.name} driver cannot send funds`, 'chain')
  if (typeof input.to !== 'string' || input.to.length === 0 || input.to.length > 200)
    throw new TollgateError('INVALID_ADDRESS', 'to must be an address of the chain', 'to')
  const amount = parseAmount(input.amount, asset.decimals)
  const to = payoutDestination(chain, asset, input.to, amount)
  const key = checkIdempotencyKey(input.idempotencyKey)
  const requestHash = createHash('sha256')
    .update(JSON.stringify([chain.name, asset.id, to, amount.toString()]))
    .digest('hex')
  return { chain, asset, to, amount, key, requestHash }
}

type Payout = { chain: LoadedChain; asset: AssetInfo; to: string; amount: bigint }

/**
 * Statements of one database transaction sent together: the driver pipelines them over the transaction's
 * connection, where they run in the order given (a lock taken by the first holds for the ones after it). The
 * first failure is thrown once every one has finished, so nothing still runs on a transaction rolling back.
 */
async function together<T extends readonly unknown[]>(
  statements: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const done = await Promise.allSettled(statements)
  for (const d of done) if (d.status === 'rejected') throw d.reason
  return done.map((d) => (d as PromiseFulfilledResult<unknown>).value) as never
}

/**
 * Everything a payout's destination must pass before anything is reserved, asked outside any transaction (the
 * driver and the KYT providers may be slow): the driver's destination check, then screening. A destination the
 * policy refuses is recorded and refused (`KYT_BLOCKED`); otherwise the status the withdrawal starts in.
 *
 * @example
 * const screened = await screenPayout(ctx, merchantId, { chain, asset, to, amount }, key, 'QUEUED')
 */
export async function screenPayout(
  ctx: WithdrawalsContext,
  merchantId: string,
  v: Payout,
  idempotencyKey: string,
  otherwise: WithdrawalStatus,
  /** The destination check, when the caller started it already (side by side with its own reads). */
  destinationChecked?: Promise<void>,
): Promise<{ status: WithdrawalStatus; kyt: DestinationScreening | undefined }> {
  await (destinationChecked ?? screenDestination(ctx, v.chain, v.asset, v.to, v.amount))
  const kyt = await screenWithdrawalRequest(ctx, merchantId, v)
  if (kyt?.action === 'refuse') return refuseWithdrawal(ctx.db, merchantId, idempotencyKey, v, kyt)
  return { status: screenedStatus(kyt, otherwise), kyt }
}

/** The status a payout of `amount` starts in: held for an admin above the chain's approval threshold. */
export function approvalStatus(chain: LoadedChain, asset: AssetInfo, amount: bigint): WithdrawalStatus {
  const threshold = chain.settings.payouts.approvalAbove.get(asset.id)
  return threshold !== undefined && amount > threshold ? 'AWAITING_APPROVAL' : 'QUEUED'
}

/**
 * Writes a screened withdrawal, its first event, its reserve and its screening, in the caller's transaction
 * (which checked that what it reserves is there).
 */
export async function insertWithdrawal(
  tx: Tx,
  merchantId: string,
  v: Payout & { key: string; requestHash: string },
  screened: { status: WithdrawalStatus; kyt: DestinationScreening | undefined },
  extra: Partial<Pick<WithdrawalRow, 'requestedByKey' | 'refundId' | 'fundedFrom' | 'feeFromAmount'>> = {},
): Promise<WithdrawalRow> {
  const id = newId('wd')
  // one round trip: the row, its event and its reserve are sent together (the event after its row: they are
  // sent in the order they are asked for, and its foreign key would refuse it otherwise)
  const [[withdrawal]] = await together([
    tx
      .insert(withdrawals)
      .values({
        id,
        merchantId,
        chain: v.chain.name,
        asset: v.asset.id,
        toAddress: v.to,
        amount: v.amount,
        status: screened.status,
        idempotencyKey: v.key,
        requestHash: v.requestHash,
        ...extra,
      })
      .returning(),
    tx.insert(withdrawalEvents).values({
      withdrawalId: id,
      merchantId,
      seq: 1,
      type: 'withdrawal.requested',
      fromStatus: null,
      toStatus: screened.status,
    }),
    postWithdrawalReserve(tx, {
      id,
      merchantId,
      chain: v.chain.name,
      asset: v.asset.id,
      amount: v.amount,
      fundedFrom: extra.fundedFrom,
    }),
  ] as const)
  const row = withdrawal as WithdrawalRow
  noteWithdrawalChange({ withdrawalId: row.id, merchantId, seq: 1, type: 'withdrawal.requested' })
  return screened.kyt ? recordWithdrawalScreening(tx, row, v, screened.kyt) : row
}

/**
 * Validates a withdrawal, refuses destinations it would never arrive at (the gateway's own addresses, burn
 * addresses, contracts that refuse it: see `screenDestination`), checks and reserves the merchant's balance,
 * and queues it (or holds it for an admin's approval above the chain's threshold). The same idempotency key
 * and parameters return the same withdrawal; the same key with other parameters is refused. Any refusal
 * reserves nothing. `requestedBy` is the API key asking; it may not approve its own request.
 *
 * @example
 * const { withdrawal } = await requestWithdrawal(ctx, merchantId, { chain: 'ethereum', asset: 'USDC', to: '0x…', amount: '25', idempotencyKey: 'payout-7' }, { keyId })
 */
export async function requestWithdrawal(
  ctx: WithdrawalsContext,
  merchantId: string,
  input: RequestWithdrawalInput,
  requestedBy?: { keyId: string },
): Promise<{ withdrawal: WithdrawalRow; replayed: boolean }> {
  const v = validate(ctx, input)
  const replayOf = async (db: Db | Tx) => {
    const [existing] = await db
      .select()
      .from(withdrawals)
      .where(and(eq(withdrawals.merchantId, merchantId), eq(withdrawals.idempotencyKey, v.key)))
    if (!existing) return undefined
    if (existing.requestHash !== v.requestHash)
      throw new TollgateError(
        'IDEMPOTENCY_KEY_REUSED',
        'this idempotencyKey was used with different parameters',
        'idempotencyKey',
      )
    return { withdrawal: existing, replayed: true }
  }
  // the destination is checked while the row of a request sent again is looked for; a replay is answered from
  // its row whatever the check says (not screened again)
  const destinationChecked = screenDestination(ctx, v.chain, v.asset, v.to, v.amount)
  destinationChecked.catch(() => undefined)
  const earlier = await replayOf(ctx.db)
  if (earlier) return earlier
  // before the transaction: the driver and the KYT providers may be asked, and no balance lock is held meanwhile
  const screened = await screenPayout(
    ctx,
    merchantId,
    v,
    v.key,
    approvalStatus(v.chain, v.asset, v.amount),
    destinationChecked,
  )
  return ctx.db
    .transaction(async (tx) => {
      // the lock is held (awaited alone: nothing may read before it) before the replay and the balance are read,
      // together, under it
      await lockBalance(tx, merchantId, v.chain.name, v.asset.id)
      const [replay, available] = await together([
        replayOf(tx),
        availableBalance(tx, merchantId, v.chain.name, v.asset.id),
      ] as const)
      if (replay) return replay
      if (available < v.amount)
        throw new TollgateError(
          'INSUFFICIENT_BALANCE',
          'the available balance does not cover this amount',
          'amount',
        )
      const withdrawal = await insertWithdrawal(tx, merchantId, v, screened, {
        requestedByKey: requestedBy?.keyId ?? null,
      })
      return { withdrawal, replayed: false }
    })
    .catch(async (err) => {
      // the same key at the same moment for another chain or asset (which takes another balance lock): the first
      // one's row decides, as if it had come first
      if (!isUniqueViolation(err, 'withdrawals_merchant_idempotency_uq')) throw err
      const replay = await replayOf(ctx.db)
      if (!replay) throw err
      return replay
    })
}

/**
 * Cancels a withdrawal that has not been picked for sending (SCREENING, QUEUED or AWAITING_APPROVAL) and releases its
 * reserve; later ones are on their way to the chain and can no longer be stopped. A held screening of it is
 * rejected by whoever canceled (`actor`; `system:cancel` when none is given), so it leaves the review queue.
 *
 * @example
 * await cancelWithdrawal(ctx, merchantId, 'wd_…', { keyId: 'key_…' })
 */
export async function cancelWithdrawal(
  ctx: { db: Db },
  merchantId: string,
  id: string,
  actor?: AuditActor,
): Promise<WithdrawalRow> {
  return ctx.db.transaction(async (tx) => {
    const current = await getWithdrawalIn(tx, merchantId, id)
    const row = await transitionWithdrawal(
      tx,
      current.id,
      ['SCREENING', 'QUEUED', 'AWAITING_APPROVAL'],
      'CANCELED',
    )
    if (!row)
      throw new TollgateError(
        'INVALID_STATE',
        `a ${current.status} withdrawal can no longer be canceled`,
        'id',
      )
    await postWithdrawalRelease(tx, row)
    await decideWithdrawalCheck(tx, row.id, {
      release: false,
      by: actor ?? 'system:cancel',
      note: canceledWhileHeldNote,
    })
    return row
  })
}

/** Who decides a held withdrawal, and why (kept in the audit log). */
export type WithdrawalDecision = {
  approve: boolean
  /** The admin key deciding; an approval by the key that requested the withdrawal is refused. */
  keyId: string
  /** The API request it came in, for the audit log. */
  requestId?: string
  reason?: string | null
}

/**
 * An admin's approval (or rejection) of a withdrawal held for approval, recorded in the withdrawal's approvals
 * and in the audit log in the same transaction (`withdrawal.approved` / `withdrawal.rejected`, with the approvals
 * so far, the approvals required and the reason if given). Above the chain's `approvalAbove` threshold it needs
 * `approvalsRequired` distinct keys (see `approvalsRequired`; a context without chains: one): each approval short
 * of them writes a `withdrawal.approval_added` event and leaves it AWAITING_APPROVAL, the last one queues it. A
 * rejection cancels it and releases its reserve. The key that requested a withdrawal cannot approve it
 * (`SELF_APPROVAL`), and a key decides once (`ALREADY_DECIDED`). Decisions on one withdrawal are serialized by
 * its row lock.
 *
 * @example
 * await decideWithdrawal(ctx, merchantId, 'wd_…', { approve: true, keyId: 'key_…', requestId, reason: 'invoice 42' })
 */
export async function decideWithdrawal(
  ctx: { db: Db; chains?: ChainRegistry },
  merchantId: string,
  id: string,
  decision: WithdrawalDecision,
): Promise<WithdrawalRow> {
  const reason = checkFreeText('reason', decision.reason, 500)
  return ctx.db.transaction(async (tx) => {
    const current = await getWithdrawalIn(tx, merchantId, id, true)
    if (decision.approve && current.requestedByKey !== null && current.requestedByKey === decision.keyId)
      throw new TollgateError(
        'SELF_APPROVAL',
        'the key that requested this withdrawal cannot approve it; another admin key must',
        'id',
      )
    if (current.status !== 'AWAITING_APPROVAL')
      throw new TollgateError(
        'INVALID_STATE',
        `a ${current.status} withdrawal is not awaiting approval`,
        'id',
      )
    const required = approvalsRequired(ctx.chains, current)
    const { approvals } = await addApproval(tx, current, {
      approve: decision.approve,
      keyId: decision.keyId,
      reason: reason ?? null,
    })
    const tally = { approvals, required }
    const row = !decision.approve
      ? await transitionWithdrawal(tx, current.id, ['AWAITING_APPROVAL'], 'CANCELED', { approvedByKey: null })
      : approvals >= required
        ? await transitionWithdrawal(tx, current.id, ['AWAITING_APPROVAL'], 'QUEUED', {
            approvedByKey: decision.keyId,
          })
        : await transitionWithdrawal(
            tx,
            current.id,
            ['AWAITING_APPROVAL'],
            'AWAITING_APPROVAL',
            {},
            { ...tally, keyId: decision.keyId },
            'withdrawal.approval_added',
          )
    // the row is locked and was AWAITING_APPROVAL
    if (!row) throw new TollgateError('INVALID_STATE', 'this withdrawal is not awaiting approval', 'id')
    if (!decision.approve) await postWithdrawalRelease(tx, row)
    // decided (queued at the quorum, or canceled): its held screening, if any, is decided with it
    if (row.status !== 'AWAITING_APPROVAL')
      await decideWithdrawalCheck(tx, row.id, {
        release: decision.approve,
        by: { keyId: decision.keyId },
        note: reason ?? null,
      })
    await recordAudit(tx, {
      merchantId,
      actor: { keyId: decision.keyId, requestId: decision.requestId },
      action: decision.approve ? 'withdrawal.approved' : 'withdrawal.rejected',
      target: { type: 'withdrawal', id: row.id },
      data: { ...tally, ...(reason ? { reason } : {}) },
    })
    return row
  })
}

async function getWithdrawalIn(
  db: Db | Tx,
  merchantId: string,
  id: string,
  forUpdate = false,
): Promise<WithdrawalRow> {
  const query = db
    .select()
    .from(withdrawals)
    .where(and(eq(withdrawals.id, id), eq(withdrawals.merchantId, merchantId)))
  const [row] = forUpdate ? await query.for('update') : await query
  if (!row) throw new TollgateError('NOT_FOUND', 'withdrawal not found', 'id')
  return row
}

/**
 * One of the merchant's withdrawals; undefined for an unknown id or another merchant's.
 *
 * @example
 * const w = await getWithdrawal({ db }, merchantId, 'wd_…')
 */
export async function getWithdrawal(
  ctx: { db: Db },
  merchantId: string,
  id: string,
): Promise<WithdrawalRow | undefined> {
  return getWithdrawalIn(ctx.db, merchantId, id).catch((err) => {
    if (err instanceof TollgateError) return undefined
    throw err
  })
}

/**
 * The merchant's withdrawals, newest first (keyset pagination by id).
 *
 * @example
 * const { rows, hasNextPage } = await listWithdrawals({ db }, merchantId, { first: 20 })
 */
export async function listWithdrawals(
  ctx: { db: Db },
  merchantId: string,
  params: { first?: number | null; after?: string | null; status?: WithdrawalStatus | null },
): Promise<{ rows: WithdrawalRow[]; hasNextPage: boolean }> {
  const first = pageSize(params.first)
  const conditions: SQL[] = [eq(withdrawals.merchantId, merchantId)]
  if (params.after) conditions.push(lt(withdrawals.id, params.after))
  if (params.status) conditions.push(eq(withdrawals.status, params.status))
  const rows = await ctx.db
    .select()
    .from(withdrawals)
    .where(and(...conditions))
    .orderBy(desc(withdrawals.id))
    .limit(first + 1)
  return toPage(rows, first)
}

/** A withdrawal's status history, oldest first. */
export async function listWithdrawalEvents(ctx: { db: Db }, withdrawalId: string) {
  return ctx.db
    .select()
    .from(withdrawalEvents)
    .where(eq(withdrawalEvents.withdrawalId, withdrawalId))
    .orderBy(asc(withdrawalEvents.seq))
}

/**
 * The hash of the transaction that pays a withdrawal, once it is signed (null before).
 *
 * @example
 * await withdrawalTxHash({ db }, withdrawal) // '0x…'
 */
export async function withdrawalTxHash(ctx: { db: Db }, w: Pick<WithdrawalRow, 'outboundTxId'>) {
  if (!w.outboundTxId) return null
  const [tx] = await ctx.db
    .select({ hash: outboundTxs.hash })
    .from(outboundTxs)
    .where(eq(outboundTxs.id, w.outboundTxId))
  return tx?.hash ?? null
}

/** Why a QUEUED withdrawal has not gone out yet (the treasury short of funds, the last build error); else null. */
export function waitingReason(w: Pick<WithdrawalRow, 'status' | 'lastError'>): string | null {
  return w.status === 'QUEUED' ? w.lastError : null
}
