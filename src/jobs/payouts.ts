import type { AppContext } from '../context.ts'
import { resolveChain } from '../core/chains.ts'
import { advanceOutbound } from '../core/outbound.ts'
import { batchWithdrawals } from '../core/payout-batches.ts'

/**
 * One payout pass for a chain: queued withdrawals become outbound transactions, then every open transaction
 * moves one persisted step further (sign, broadcast, track). Runs only where the signer lives.
 *
 * @example
 * await processPayouts(ctx, 'ethereum')
 */
export async function processPayouts(ctx: AppContext, chainName: string) {
  const chain = resolveChain(ctx.chains, chainName)
  const batched = await batchWithdrawals(ctx, chain)
  const progress = await advanceOutbound(ctx, chain)
  const { errors, ...counts } = progress
  for (const e of errors)
    ctx.log.warn({ chain: chainName, outboundTxId: e.id, error: e.error }, 'outbound step failed')
  if (batched > 0 || Object.values(counts).some((n) => n > 0))
    ctx.log.info({ chain: chainName, batched, ...counts }, 'payouts advanced')
  return { batched, ...counts, errors: errors.length }
}
