import { and, eq, isNotNull, or, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ledgerPostings, payments, transfers } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { merchantAvailable, misdirectedHeld, syncMisdirectedHolding } from '../ledger/postings.ts'
import { type PaymentChange, recordPaymentNotice } from '../payments/refresh.ts'
import { type Deposit, transferRow, upsertTransfers } from './deposits.ts'

/**
 * Stores wrong-network deposits once per `(chain, txHash, index)`, like any deposit (a rescan or a reorg revives
 * and moves one, never doubles it), on the chain they arrived on with `paymentId` left null: they never count
 * toward the payment. The payment whose address it reached gets a `payment.misdirected` event the first time
 * each one is seen.
 *
 * @example
 * const changes = await recordMisdirected(tx, chains.get('bsc')!, misdirected, now)
 */
export async function recordMisdirected(
  tx: Tx,
  chain: LoadedChain,
  found: readonly Deposit[],
  now: Date,
): Promise<PaymentChange[]> {
  if (found.length === 0) return []
  const stored = await upsertTransfers(
    tx,
    found.map(({ transfer: t, paymentId }) => ({
      ...transferRow(chain, t),
      paymentId: null,
      misdirectedPaymentId: paymentId,
    })),
  )
  const fresh = new Set(stored.filter((r) => r.fresh).map((r) => `${r.txHash}:${r.index}`))
  const changes: PaymentChange[] = []
  for (const { transfer: t, paymentId } of found) {
    if (!fresh.has(`${t.txHash}:${t.index}`)) continue
    const asset = chain.driver.assets.find((a) => a.id === t.asset)
    const change = await recordPaymentNotice(
      tx,
      paymentId,
      'payment.misdirected',
      {
        chain: chain.name,
        asset: asset?.symbol ?? t.asset,
        assetId: t.asset,
        amount: t.amount.toString(),
        txHash: t.txHash,
        index: t.index,
        blockHeight: t.block.height.toString(),
      },
      now,
    )
    if (change) changes.push(change)
  }
  return changes
}

/**
 * Confirms the chain's wrong-network deposits that are deep enough at `tip` and books what the deposit wallets
 * now hold for them: owed under `gateway:misdirected`, or credited to the merchant's balance on this chain when
 * the chain sets `creditMisdirected` (and screening is off); one a reorg orphaned is taken back out of the ledger. Runs with every
 * stored range and every rollback, so the ledger follows the chain as it does for payments.
 *
 * @example
 * await settleMisdirected(tx, chain, last.height)
 */
export async function settleMisdirected(
  tx: Tx,
  chain: LoadedChain,
  tip: bigint,
  options: { screen?: boolean } = {},
): Promise<void> {
  // nothing is credited unscreened: with screening on, wrong-network deposits are always held
  const credit = (chain.settings.creditMisdirected ?? false) && !options.screen
  const rows = await tx
    .select({
      id: transfers.id,
      asset: transfers.asset,
      amount: transfers.amount,
      status: transfers.status,
      blockHeight: transfers.blockHeight,
      merchantId: payments.merchantId,
    })
    .from(transfers)
    .innerJoin(payments, eq(payments.id, transfers.misdirectedPaymentId))
    .where(
      and(
        eq(transfers.chain, chain.name),
        isNotNull(transfers.misdirectedPaymentId),
        // orphaned ones only while the ledger still books them: each is taken back once, then left alone
        or(
          eq(transfers.status, 'seen'),
          and(
            eq(transfers.status, 'orphaned'),
            sql`(select coalesce(sum(${ledgerPostings.amount}), 0) from ${ledgerPostings}
                  where ${ledgerPostings.refType} = 'misdirected'
                    and ${ledgerPostings.account} in (${misdirectedHeld}, ${merchantAvailable})
                    and ${ledgerPostings.refId} like ${transfers.id} || '#%') <> 0`,
          ),
        ),
      ),
    )
    .orderBy(transfers.id)
    .for('update', { of: transfers })
  for (const r of rows) {
    const depth =
      chain.driver.assets.find((a) => a.id === r.asset)?.confirmations ?? chain.driver.confirmations
    const deep = r.status === 'seen' && r.blockHeight !== null && tip - r.blockHeight + 1n >= BigInt(depth)
    if (deep) await tx.update(transfers).set({ status: 'confirmed' }).where(eq(transfers.id, r.id))
    await syncMisdirectedHolding(tx, {
      transferId: r.id,
      merchantId: r.merchantId,
      chain: chain.name,
      asset: r.asset,
      target: deep ? r.amount : 0n,
      credit,
    })
  }
}
