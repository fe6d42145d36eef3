import { and, asc, eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { withdrawals } from '../db/schema/index.ts'
import type { LoadedChain } from '../plugins/registry.ts'
import { resolveAsset } from './chains.ts'
import { freshChangeAddress, isUtxoChain, lockCoins, spendableCoins } from './coins.ts'
import { crashPoint } from './crash-points.ts'
import { ensureSenderNonce, insertOutbound, storedTransfer, takeNonce } from './outbound-create.ts'
import { roleWallet } from './wallet-roles.ts'
import { transitionWithdrawal, type WithdrawalRow } from './withdrawals.ts'

export type PayoutContext = { db: Db; xpubFor(accountPath: string): string }

/** Which queued withdrawals go out now: per asset, the oldest first, unless a batch window is still open. */
function pickBatches(queued: WithdrawalRow[], chain: LoadedChain, now: number): WithdrawalRow[][] {
  const { mode, maxBatch, windowMs } = chain.settings.payouts
  const byAsset = new Map<string, WithdrawalRow[]>()
  for (const w of queued) byAsset.set(w.asset, [...(byAsset.get(w.asset) ?? []), w])
  const out: WithdrawalRow[][] = []
  for (const group of byAsset.values()) {
    const oldest = group[0] as WithdrawalRow
    const windowOpen =
      mode === 'batch' && group.length < maxBatch && oldest.createdAt.getTime() + windowMs > now
    if (!windowOpen) out.push(group.slice(0, maxBatch))
  }
  return out
}

/**
 * Turns queued withdrawals into outbound transactions from the treasury: per (chain, asset) up to `maxBatch`
 * at a time, `maxOutputs` outputs per transaction, nonces taken from the database in the same transaction that
 * stores the unsigned transactions and marks the withdrawals BATCHED. A crash anywhere leaves either all of that
 * or none of it.
 *
 * @example
 * const made = await batchWithdrawals(ctx, chain) // number of outbound transactions built
 */
export async function batchWithdrawals(
  ctx: PayoutContext,
  chain: LoadedChain,
  now = Date.now(),
): Promise<number> {
  const payouts = chain.driver.payouts
  if (!payouts) return 0
  const treasury = roleWallet(ctx, chain, 'treasury')
  await ensureSenderNonce(ctx, chain, treasury.address)
  const built = await ctx.db.transaction(async (tx) => {
    const queued = await tx
      .select()
      .from(withdrawals)
      .where(and(eq(withdrawals.chain, chain.name), eq(withdrawals.status, 'QUEUED')))
      .orderBy(asc(withdrawals.createdAt), asc(withdrawals.id))
      .limit(chain.settings.payouts.maxBatch * 4)
      .for('update', { skipLocked: true })
    let built = 0
    for (const batch of pickBatches(queued, chain, now)) {
      const asset = resolveAsset(chain, (batch[0] as WithdrawalRow).asset)
      for (let i = 0; i < batch.length; i += chain.driver.maxOutputs) {
        const group = batch.slice(i, i + chain.driver.maxOutputs)
        const nonce = await takeNonce(tx, chain, treasury.address)
        const outputs = group.map((w) => ({ to: w.toAddress, amount: w.amount }))
        // UTXO chains: the treasury's coins pay, change goes to a fresh internal address of the treasury
        const utxo = isUtxoChain(chain)
        const change = utxo ? await freshChangeAddress(ctx, tx, chain) : undefined
        const inputs = utxo ? await spendableCoins(tx, chain, 'treasury') : undefined
        const unsigned = await payouts.build({ from: treasury, asset, outputs, nonce, inputs, change })
        const id = await insertOutbound(tx, chain, {
          purpose: 'withdrawal',
          from: treasury,
          asset: asset.id,
          nonce,
          unsigned,
          request: { ...storedTransfer({ outputs }), ...(change ? { change } : {}) },
        })
        await lockCoins(tx, chain, unsigned.spends ?? [], id)
        for (const w of group)
          await transitionWithdrawal(tx, w.id, ['QUEUED'], 'BATCHED', { outboundTxId: id })
        built++
      }
    }
    return built
  })
  if (built > 0) crashPoint('outbound:built')
  return built
}
