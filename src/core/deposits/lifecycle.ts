import type { Transfer } from '@tollgate/sdk'
import { and, eq, inArray, or } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import {
  chainCursors,
  type DepositStatus,
  depositEvents,
  deposits,
  kytChecks,
  merchants,
  transfers,
} from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { newId } from '../ids.ts'
import { syncDepositCredit } from '../ledger/postings.ts'
import { merchantConfirmationChoices } from '../payments/confirmation-policy.ts'
import { requiredConfirmations } from '../payments/confirmation-tiers.ts'
import type { CustomerAddressRow } from './addresses.ts'

/** A deposit's status moved (or it was first seen): what subscribers and the webhook pump hear of. */
export type DepositChange = {
  depositId: string
  merchantId: string
  customerId: string
  status: DepositStatus
  type: string
}

/** A stored transfer into a customer address, as the scanner found and stored it. */
export type CustomerTransfer = {
  transferId: string
  transfer: Pick<Transfer, 'txHash' | 'index' | 'asset' | 'amount'> & { block?: Transfer['block'] }
  address: Pick<CustomerAddressRow, 'id' | 'merchantId' | 'customerId'>
  /** It arrived on a sibling chain of the one the address was given for: held for the merchant's decision. */
  wrongNetwork?: boolean
}

const eventType = (status: DepositStatus) => `deposit.${status.toLowerCase()}`

/**
 * Writes a deposit's next status, its event (the webhook outbox, numbered per deposit) and its credit in the
 * caller's transaction.
 */
async function moveDeposit(
  tx: Tx,
  row: { id: string; merchantId: string; customerId: string; eventSeq: number },
  status: DepositStatus,
  data: Record<string, unknown>,
  set: Partial<typeof deposits.$inferInsert>,
  now: Date,
): Promise<DepositChange> {
  const seq = row.eventSeq + 1
  await tx
    .update(deposits)
    .set({ ...set, status, eventSeq: seq, updatedAt: now })
    .where(eq(deposits.id, row.id))
  await tx.insert(depositEvents).values({
    depositId: row.id,
    merchantId: row.merchantId,
    seq,
    type: eventType(status),
    status,
    data,
    createdAt: now,
  })
  return {
    depositId: row.id,
    merchantId: row.merchantId,
    customerId: row.customerId,
    status,
    type: eventType(status),
  }
}

/**
 * Creates the deposit of each new transfer into a customer address (once per transfer: a transfer seen again
 * keeps its deposit, which `settleDeposits` moves on), with its `deposit.seen` event. The confirmations it
 * needs come from the merchant's ladder for the chain and asset, by its amount.
 *
 * @example
 * const changes = await openDeposits(tx, chain, found, now)
 */
export async function openDeposits(
  tx: Tx,
  chain: LoadedChain,
  found: readonly CustomerTransfer[],
  now: Date,
): Promise<DepositChange[]> {
  if (found.length === 0) return []
  const choices = new Map<string, Awaited<ReturnType<typeof merchantConfirmationChoices>>>()
  for (const m of new Set(found.map((f) => f.address.merchantId)))
    choices.set(m, await merchantConfirmationChoices({ db: tx as unknown as Db }, m))
  const rows = found.flatMap(({ transferId, transfer: t, address, wrongNetwork }) => {
    const asset = chain.driver.assets.find((a) => a.id === t.asset)
    if (!asset) return []
    const choice = choices.get(address.merchantId)?.[chain.name]?.[asset.id]
    return [
      {
        id: newId('dep'),
        merchantId: address.merchantId,
        customerId: address.customerId,
        customerAddressId: address.id,
        transferId,
        chain: chain.name,
        asset: t.asset,
        amount: t.amount,
        txHash: t.txHash,
        index: t.index,
        blockHeight: t.block?.height ?? null,
        wrongNetwork: wrongNetwork ?? false,
        confirmationsRequired: requiredConfirmations(
          chain,
          { asset, amountDue: t.amount, priced: null },
          choice,
          undefined,
          now,
        ),
        eventSeq: 1,
        createdAt: now,
        updatedAt: now,
      },
    ]
  })
  if (rows.length === 0) return []
  const inserted = await tx
    .insert(deposits)
    .values(rows)
    .onConflictDoNothing({ target: deposits.transferId })
    .returning({
      id: deposits.id,
      merchantId: deposits.merchantId,
      customerId: deposits.customerId,
      amount: deposits.amount,
      asset: deposits.asset,
      txHash: deposits.txHash,
      wrongNetwork: deposits.wrongNetwork,
    })
  if (inserted.length === 0) return []
  await tx.insert(depositEvents).values(
    inserted.map((d) => ({
      depositId: d.id,
      merchantId: d.merchantId,
      seq: 1,
      type: 'deposit.seen',
      status: 'SEEN' as const,
      data: {
        amount: d.amount.toString(),
        asset: d.asset,
        txHash: d.txHash,
        ...(d.wrongNetwork ? { wrongNetwork: true } : {}),
      },
      createdAt: now,
    })),
  )
  return inserted.map((d) => ({
    depositId: d.id,
    merchantId: d.merchantId,
    customerId: d.customerId,
    status: 'SEEN' as const,
    type: 'deposit.seen',
  }))
}

/** The smallest deposit the merchant credits for a chain's asset (base units), if they set one. */
async function minimumsOf(tx: Tx, merchantIds: readonly string[]) {
  if (merchantIds.length === 0) return new Map<string, Record<string, Record<string, string>>>()
  const rows = await tx
    .select({ id: merchants.id, minimums: merchants.depositMinimums })
    .from(merchants)
    .where(inArray(merchants.id, [...merchantIds]))
  return new Map(rows.map((r) => [r.id, r.minimums ?? {}]))
}

/**
 * What a deposit is now, from its transfer and its screening: `REVERTED` when a reorg took its block away;
 * `SEEN` below its depth or while its screening is undecided; at its depth `CONFIRMED` when screening allows it
 * (or screening is off), `HELD` while screening holds it, `REJECTED` when an admin rejected it. A wrong-network
 * deposit is also `HELD` at its depth until the merchant releases it (`REJECTED` once they reject it).
 */
function statusOf(
  transfer: { status: string; blockHeight: bigint | null },
  check: string | null,
  confirmationsRequired: number,
  tip: bigint,
  network: { wrongNetwork: boolean; decision: string | null },
): DepositStatus {
  if (transfer.status === 'orphaned' || transfer.status === 'dropped' || transfer.blockHeight === null)
    return 'REVERTED'
  if (network.decision === 'rejected') return 'REJECTED'
  // an undecided screening keeps it SEEN, like a payment PROCESSING: HELD is news only when screening holds it
  if (tip - transfer.blockHeight + 1n < BigInt(confirmationsRequired) || check === 'pending') return 'SEEN'
  if (check === 'rejected') return 'REJECTED'
  // a wrong-network deposit waits for the merchant's release as well as screening's
  if (network.wrongNetwork && network.decision !== 'released') return 'HELD'
  return check === null || check === 'clear' || check === 'released' ? 'CONFIRMED' : 'HELD'
}

/**
 * Moves the chain's deposits to what their transfers and screenings say at `tip`: the open ones (SEEN, HELD) and
 * those whose transfers the caller just touched (`transferIds`: found again after a reorg, orphaned by one,
 * decided by screening). A deposit reaching CONFIRMED is credited to the merchant's balance (or, below the
 * merchant's minimum for its asset, booked as held, never credited); one a reorg reverts is taken back out.
 * Each status change writes its event in the same transaction. Runs with every stored range and rollback.
 *
 * @example
 * const changes = await settleDeposits(tx, chain, last.height, { transferIds })
 */
export async function settleDeposits(
  tx: Tx,
  chain: LoadedChain,
  tip: bigint,
  options: { transferIds?: readonly string[]; now?: Date } = {},
): Promise<DepositChange[]> {
  const now = options.now ?? new Date()
  const touched = options.transferIds ?? []
  const rows = await tx
    .select({
      id: deposits.id,
      merchantId: deposits.merchantId,
      customerId: deposits.customerId,
      asset: deposits.asset,
      amount: deposits.amount,
      status: deposits.status,
      eventSeq: deposits.eventSeq,
      belowMinimum: deposits.belowMinimum,
      confirmedAt: deposits.confirmedAt,
      confirmationsRequired: deposits.confirmationsRequired,
      wrongNetwork: deposits.wrongNetwork,
      decision: deposits.decision,
      transferId: deposits.transferId,
      transferStatus: transfers.status,
      blockHeight: transfers.blockHeight,
      txHash: transfers.txHash,
      check: kytChecks.state,
    })
    .from(deposits)
    .innerJoin(transfers, eq(transfers.id, deposits.transferId))
    .leftJoin(
      kytChecks,
      and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, deposits.transferId)),
    )
    .where(
      and(
        eq(deposits.chain, chain.name),
        touched.length > 0
          ? or(inArray(deposits.status, ['SEEN', 'HELD']), inArray(deposits.transferId, [...touched]))
          : inArray(deposits.status, ['SEEN', 'HELD']),
      ),
    )
    .orderBy(deposits.id)
    .for('update', { of: deposits })
  const minimums = await minimumsOf(tx, [...new Set(rows.map((r) => r.merchantId))])
  const changes: DepositChange[] = []
  for (const r of rows) {
    const status = statusOf(
      { status: r.transferStatus, blockHeight: r.blockHeight },
      r.check,
      r.confirmationsRequired,
      tip,
      r,
    )
    const confirmed = status === 'CONFIRMED'
    const minimum = minimums.get(r.merchantId)?.[chain.name]?.[r.asset]
    // judged when it first confirms: a minimum changed later does not take back what was credited, nor move a
    // deposit a reorg took away and gave back to the other account (its ledger references are per account)
    const belowMinimum =
      confirmed && r.status !== 'CONFIRMED' && r.confirmedAt === null
        ? minimum !== undefined && r.amount < BigInt(minimum)
        : r.belowMinimum
    const target = confirmed ? r.amount : 0n
    if (confirmed && r.transferStatus === 'seen')
      await tx.update(transfers).set({ status: 'confirmed' }).where(eq(transfers.id, r.transferId))
    await syncDepositCredit(tx, {
      depositId: r.id,
      merchantId: r.merchantId,
      chain: chain.name,
      asset: r.asset,
      target,
      belowMinimum,
    })
    if (status === r.status) continue
    const credited = confirmed && !belowMinimum ? r.amount : 0n
    const data = {
      from: r.status,
      amount: r.amount.toString(),
      asset: r.asset,
      txHash: r.txHash,
      ...(confirmed ? { credited: credited.toString(), belowMinimum } : {}),
      ...(r.check && r.check !== 'clear' ? { screening: r.check } : {}),
      ...(r.wrongNetwork ? { wrongNetwork: true, decision: r.decision } : {}),
    }
    changes.push(
      await moveDeposit(
        tx,
        r,
        status,
        data,
        {
          belowMinimum,
          credited,
          blockHeight: r.blockHeight,
          ...(confirmed ? { confirmedAt: now } : {}),
        },
        now,
      ),
    )
  }
  return changes
}

/**
 * Settles the deposits of the given transfers in the caller's transaction, at the chain's stored cursor (after a
 * screening decision or an admin's review); nothing before the chain's first scan.
 *
 * @example
 * const changes = await settleAtCursor(tx, chain, [transferId], now)
 */
export async function settleAtCursor(
  tx: Tx,
  chain: LoadedChain,
  transferIds: readonly string[],
  now?: Date,
): Promise<DepositChange[]> {
  const [cursor] = await tx
    .select({ height: chainCursors.height })
    .from(chainCursors)
    .where(eq(chainCursors.chain, chain.name))
  return cursor ? settleDeposits(tx, chain, cursor.height, { transferIds, now }) : []
}

/**
 * `settleAtCursor` in a transaction of its own.
 *
 * @example
 * const changes = await settleDepositsOf({ db }, chain, [transferId])
 */
export async function settleDepositsOf(
  ctx: { db: Db; now?: () => Date },
  chain: LoadedChain,
  transferIds: readonly string[],
): Promise<DepositChange[]> {
  if (transferIds.length === 0) return []
  return ctx.db.transaction((tx) => settleAtCursor(tx, chain, transferIds, ctx.now?.()))
}
