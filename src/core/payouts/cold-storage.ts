import type { Db } from '../../db/client.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can, resolveAsset } from '../chains.ts'
import { transactionUnlessRolledBack } from '../rollback.ts'
import { insertOutbound, storedTransfer } from './built-tx.ts'
import { coldMoveOpen, moveCoinExcessToCold, withdrawalsStillOwed } from './cold-storage-coins.ts'
import { ensureSenderNonce, takeNonce } from './nonces.ts'
import { roleWallet } from './wallet-roles.ts'

/**
 * Sends what the treasury holds above its float (and above what queued and in-flight withdrawals still need) to
 * the configured cold address, one transfer per asset at a time. The ledger moves the amount from treasury to
 * cold when the transfer confirms. Returns the number of transfers built. UTXO chains: see `moveCoinExcessToCold`.
 *
 * @example
 * await moveExcessToCold(ctx, chain) // with cold: { address: '0xCold…', float: { USDT: '10000' } }
 */
export async function moveExcessToCold(
  ctx: { db: Db; xpubFor(accountPath: string): string },
  chain: LoadedChain,
): Promise<number> {
  const cold = chain.settings.cold
  const payouts = chain.driver.payouts
  if (!cold || !payouts) return 0
  // UTXO chains have no per-address balance: the treasury is the coins the core tracks
  if (can(chain, 'coins')) return moveCoinExcessToCold(ctx, chain)
  const treasury = roleWallet(ctx, chain, 'treasury')
  await ensureSenderNonce(ctx, chain, treasury.address)
  let built = 0
  for (const [assetId, float] of cold.float) {
    const asset = resolveAsset(chain, assetId)
    // checked and built under the treasury's nonce row lock: two passes cannot both move the same excess
    // nothing to move: `rollback` gives back the nonce taken above with the rest
    const made = await transactionUnlessRolledBack(ctx.db, async (tx, rollback) => {
      const nonce = await takeNonce(tx, chain, treasury.address)
      if (await coldMoveOpen(tx, chain, assetId)) return rollback()
      // a withdrawal still being screened is owed as much as a queued one
      const owed = await withdrawalsStillOwed(tx, chain, assetId, { sent: true })
      const held = await payouts.balance(treasury.address, asset)
      const room = held - owed - float
      let amount = room
      let unsigned = await payouts.build({
        from: treasury,
        asset,
        outputs: [{ to: cold.address, amount }],
        nonce,
      })
      if (asset.native) {
        // the transfer's own fee comes out of the treasury too: what leaves must fit above the float with it
        amount = room - unsigned.maxFee
        if (amount > 0n)
          unsigned = await payouts.build({
            from: treasury,
            asset,
            outputs: [{ to: cold.address, amount }],
            nonce,
          })
      }
      if (amount <= 0n || amount < (cold.minMove.get(assetId) ?? 1n)) return rollback()
      await insertOutbound(tx, chain, {
        purpose: 'cold',
        from: treasury,
        asset: asset.id,
        nonce,
        unsigned,
        request: storedTransfer({ outputs: [{ to: cold.address, amount }] }),
      })
      return 1
    })
    built += made ?? 0
  }
  return built
}
