import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { outboundTxs } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can } from '../chains.ts'
import { crashPoint } from '../crash-points.ts'
import { transactionUnlessRolledBack } from '../rollback.ts'
import { insertOutbound, storedTransfer } from './built-tx.ts'
import { collectDepositCoins, freshChangeAddress, lockCoins, spendableCoins } from './coins.ts'
import { roleWallet } from './wallet-roles.ts'

/** Most deposit coins one consolidation spends (keeps the transaction far below standardness limits). */
const maxInputs = 200

/**
 * UTXO chains' sweep: every deposit coin of completed payments spent into one treasury output, one
 * consolidation at a time per chain. It waits while the fee would be more than `sweeps.maxFeeShareBps` of what
 * it moves (fees fall; deposits add up), so it runs when fees are low relative to the value, or as soon as the
 * deposits are large enough to justify the fee. The ledger moves the amount from deposits to the treasury when
 * the consolidation confirms.
 *
 * @example
 * await consolidateDeposits(ctx, bitcoin) // 1 when a consolidation was built
 */
export async function consolidateDeposits(
  ctx: { db: Db; xpubFor(accountPath: string): string },
  chain: LoadedChain,
): Promise<number> {
  const payouts = chain.driver.payouts
  if (!payouts || !can(chain, 'coins') || !chain.settings.sweeps.enabled) return 0
  await collectDepositCoins(ctx, chain)
  const [open] = await ctx.db
    .select({ n: sql<number>`count(*)::int` })
    .from(outboundTxs)
    .where(
      and(
        eq(outboundTxs.chain, chain.name),
        eq(outboundTxs.purpose, 'sweep'),
        inArray(outboundTxs.status, ['built', 'signed', 'broadcast']),
      ),
    )
  if ((open?.n ?? 0) > 0) return 0
  const inputs = await spendableCoins(ctx.db, chain, 'deposit', maxInputs)
  if (inputs.length === 0) return 0
  const total = inputs.reduce((sum, c) => sum + c.amount, 0n)
  const treasury = roleWallet(ctx, chain, 'treasury')
  const outputs = [{ to: treasury.address, amount: total }]
  const asset = chain.driver.nativeAsset
  const built = await transactionUnlessRolledBack(ctx.db, async (tx, rollback) => {
    const change = await freshChangeAddress(ctx, tx, chain)
    const unsigned = await payouts.build({ from: treasury, asset, outputs, inputs, change, sweepAll: true })
    // waiting for cheaper fees: rolled back, so the change address taken above is given back with the rest
    if (unsigned.maxFee * 10_000n > total * BigInt(chain.settings.sweeps.maxFeeShareBps)) return rollback()
    const id = await insertOutbound(tx, chain, {
      purpose: 'sweep',
      from: treasury,
      asset: asset.id,
      nonce: undefined,
      unsigned,
      request: { ...storedTransfer({ outputs, sweepAll: true }), change },
    })
    await lockCoins(tx, chain, unsigned.spends ?? [], id)
    return true
  })
  if (built) crashPoint('outbound:built')
  return built ? 1 : 0
}
