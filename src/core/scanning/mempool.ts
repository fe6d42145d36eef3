import type { MempoolFate, PendingTransfer } from '@tollgate/sdk'
import { and, eq, inArray, isNotNull, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { payments, transfers } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { openTransferChecks } from '../compliance/checks.ts'
import { type PaymentChange, recordPaymentNotice, refreshPayments } from '../payments/refresh.ts'
import { screeningOf, transferRow } from './deposits.ts'
import type { WatchSet } from './watch-set.ts'

/** The events a pending deposit's end announces, by its fate. */
const fateEvent = {
  replaced: 'payment.replaced',
  double_spent: 'payment.double_spent',
  dropped: 'payment.dropped',
} as const

type Gone = Exclude<MempoolFate, { state: 'pending' } | { state: 'mined' }>

/**
 * Follows the chain's mempool, where its driver can read it (`ChainDriver.mempool`), under the scan lease:
 *
 * - what became of the deposits it showed before: replaced (an RBF bump), double-spent or dropped ones end
 *   `dropped` with their fate, and their payments hear `payment.replaced` / `payment.double_spent` /
 *   `payment.dropped` and go back to waiting; mined ones are left to the block scan;
 * - what it shows now: new deposits into watched addresses in the payment's asset are stored `pending` (no block)
 *   once per `(txHash, index)`, with the inputs they spend, a `payment.detected` event and, with screening on, a
 *   pending screening; a dropped one seen again is pending again.
 *
 * Each step commits with the payment updates it causes; pending deposits move a payment's status (PROCESSING at 0
 * confirmations) but are never credited unless the payment requires no confirmation.
 *
 * @example
 * const { changes, touched } = await followMempool({ db, screen: true }, chain, watch, new Date())
 */
export async function followMempool(
  ctx: { db: Db; screen?: boolean },
  chain: LoadedChain,
  watch: WatchSet,
  now: Date,
  signal?: AbortSignal,
): Promise<{ changes: PaymentChange[]; touched: PaymentChange[] }> {
  const changes: PaymentChange[] = []
  const touched: PaymentChange[] = []
  const mempool = chain.driver.mempool
  if (!mempool) return { changes, touched }
  // what became of what was shown: asked first, so a replacement is judged after the one it replaced has ended
  const shown = await ctx.db
    .select({ txHash: transfers.txHash, to: transfers.toAddress, spends: transfers.spends })
    .from(transfers)
    .where(
      and(eq(transfers.chain, chain.name), eq(transfers.status, 'pending'), isNotNull(transfers.paymentId)),
    )
  if (shown.length > 0) {
    const byTx = new Map<string, { txHash: string; spends: string[]; to: string[] }>()
    for (const t of shown) {
      const entry = byTx.get(t.txHash) ?? { txHash: t.txHash, spends: [...(t.spends ?? [])], to: [] }
      entry.to.push(t.to)
      byTx.set(t.txHash, entry)
    }
    const fates = await mempool.fate([...byTx.values()], signal)
    const gone = [...fates].filter(
      (e): e is [string, Gone] => e[1].state !== 'pending' && e[1].state !== 'mined',
    )
    if (gone.length > 0) changes.push(...(await endPending(ctx.db, chain, gone, now, touched)))
  }
  const found = await mempool.pending(new Set(watch.byKey.keys()), signal)
  if (found.length > 0) changes.push(...(await recordPending(ctx, chain, watch, found, now, touched)))
  return { changes, touched }
}

/** Ends the pending deposits of transactions that left the mempool unmined, and re-weighs their payments. */
async function endPending(
  db: Db,
  chain: LoadedChain,
  gone: readonly [string, Gone][],
  now: Date,
  touched: PaymentChange[],
) {
  return db.transaction(async (tx) => {
    const changes: PaymentChange[] = []
    const ended = new Set<string>()
    for (const [txHash, fate] of gone) {
      const by = fate.state === 'dropped' ? null : fate.by
      const rows = await tx
        .update(transfers)
        .set({ status: 'dropped', fate: fate.state, fateBy: by })
        .where(
          and(eq(transfers.chain, chain.name), eq(transfers.txHash, txHash), eq(transfers.status, 'pending')),
        )
        .returning({ paymentId: transfers.paymentId, amount: transfers.amount, index: transfers.index })
      for (const t of rows) {
        if (!t.paymentId) continue
        ended.add(t.paymentId)
        const notice = await recordPaymentNotice(
          tx,
          t.paymentId,
          fateEvent[fate.state],
          { txHash, index: t.index, amount: t.amount.toString(), by },
          now,
        )
        if (notice) changes.push(notice)
      }
    }
    changes.push(...(await refreshPayments(tx, { paymentIds: [...ended], now, touched })))
    return changes
  })
}

/** Stores new pending deposits (once each) and re-weighs their payments. */
async function recordPending(
  ctx: { db: Db; screen?: boolean },
  chain: LoadedChain,
  watch: WatchSet,
  found: readonly PendingTransfer[],
  now: Date,
  touched: PaymentChange[],
) {
  const candidates = found.flatMap((t) => {
    const paymentId = watch.byKey.get(t.to)
    return paymentId ? [{ t, paymentId }] : []
  })
  if (candidates.length === 0) return []
  return ctx.db.transaction(async (tx) => {
    const owners = await tx
      .select({ id: payments.id, asset: payments.asset, merchantId: payments.merchantId })
      .from(payments)
      .where(inArray(payments.id, [...new Set(candidates.map((c) => c.paymentId))]))
    const byId = new Map(owners.map((p) => [p.id, p]))
    // a payment is paid in its own asset only, as in a block
    const deposits = candidates.flatMap((c) => {
      const p = byId.get(c.paymentId)
      return p && p.asset === c.t.asset ? [{ ...c, merchantId: p.merchantId }] : []
    })
    if (deposits.length === 0) return []
    const stored = await tx
      .insert(transfers)
      .values(
        deposits.map(({ t, paymentId }) => ({
          ...transferRow(chain, t),
          paymentId,
          spends: [...t.spends],
        })),
      )
      // in a block already (the scan got there first): nothing to do; left the mempool and back: pending again
      .onConflictDoUpdate({
        target: [transfers.chain, transfers.txHash, transfers.index],
        set: {
          status: sql`case when ${transfers.status} = 'dropped' then 'pending' else ${transfers.status} end`,
          fate: sql`case when ${transfers.status} = 'dropped' then null else ${transfers.fate} end`,
          fateBy: sql`case when ${transfers.status} = 'dropped' then null else ${transfers.fateBy} end`,
        },
      })
      .returning({
        id: transfers.id,
        txHash: transfers.txHash,
        index: transfers.index,
        fresh: sql<boolean>`xmax = 0`,
        status: transfers.status,
      })
    const fresh = new Map(stored.filter((r) => r.fresh).map((r) => [`${r.txHash}:${r.index}`, r.id]))
    const revived = stored.filter((r) => !r.fresh && r.status === 'pending')
    if (fresh.size === 0 && revived.length === 0) return []
    const news = deposits.filter(({ t }) => fresh.has(`${t.txHash}:${t.index}`))
    if (ctx.screen)
      await openTransferChecks(
        tx,
        chain,
        news.map(({ t, paymentId, merchantId }) =>
          screeningOf(t, fresh.get(`${t.txHash}:${t.index}`) as string, paymentId, merchantId),
        ),
      )
    const changes: PaymentChange[] = []
    for (const { t, paymentId } of news) {
      const notice = await recordPaymentNotice(
        tx,
        paymentId,
        'payment.detected',
        { txHash: t.txHash, index: t.index, amount: t.amount.toString(), confirmations: 0 },
        now,
      )
      if (notice) changes.push(notice)
    }
    const ids = new Set([
      ...news.map((d) => d.paymentId),
      ...deposits
        .filter(({ t }) => revived.some((r) => r.txHash === t.txHash && r.index === t.index))
        .map((d) => d.paymentId),
    ])
    changes.push(...(await refreshPayments(tx, { paymentIds: [...ids], now, touched })))
    return changes
  })
}
