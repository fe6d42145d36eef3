import type { AppContext } from '../context.ts'
import { resolveChain } from '../core/chains.ts'
import { moveExcessToCold } from '../core/cold-storage.ts'
import { consolidateDeposits } from '../core/consolidate.ts'
import { advanceOutbound } from '../core/outbound.ts'
import { batchWithdrawals } from '../core/payout-batches.ts'
import { advanceSweeps } from '../core/sweeps.ts'

/**
 * One payout pass for a chain: queued withdrawals and due sweeps become outbound transactions, then every open transaction
 * moves one persisted step further (sign, broadcast, track). Runs only where the signer lives.
 *
 * @example
 * await processPayouts(ctx, 'ethereum')
 */
export async function processPayouts(ctx: AppContext, chainName: string) {
  const chain = resolveChain(ctx.chains, chainName)
  const batched = await batchWithdrawals(ctx, chain)
  const swept = await advanceSweeps(ctx, chain)
  const consolidated = await consolidateDeposits(ctx, chain)
  const toCold = await moveExcessToCold(ctx, chain)
  const progress = await advanceOutbound(ctx, chain)
  const { errors, ...counts } = progress
  for (const e of errors)
    ctx.log.warn({ chain: chainName, outboundTxId: e.id, error: e.error }, 'outbound step failed')
  const sweepCounts = Object.fromEntries(
    Object.entries(swept).map(([k, v]) => [`sweeps${k[0]?.toUpperCase()}${k.slice(1)}`, v]),
  )
  if (
    batched + toCold + consolidated > 0 ||
    [...Object.values(counts), ...Object.values(swept)].some((n) => n > 0)
  )
    ctx.log.info(
      { chain: chainName, batched, toCold, consolidated, ...counts, ...sweepCounts },
      'payouts advanced',
    )
  return { batched, toCold, consolidated, ...counts, sweeps: swept, errors: errors.length }
}
