import type { AppContext } from '../context.ts'
import { resolveChain } from '../core/chains.ts'
import { batchWithdrawals } from '../core/payouts/batches.ts'
import { moveExcessToCold } from '../core/payouts/cold-storage.ts'
import { consolidateDeposits } from '../core/payouts/consolidation.ts'
import { advanceOutbound, noOutboundProgress } from '../core/payouts/outbound.ts'
import { advanceSweeps, type SweepProgress } from '../core/payouts/sweeps.ts'
import { reportFailure } from './failures.ts'

/**
 * One payout pass for a chain: due sweeps and consolidations, then queued withdrawals, then cold transfers become
 * outbound transactions, and every open transaction moves one persisted step further (sign, broadcast, track).
 * Each stage runs even if an earlier one failed (a fee spike in batching must not stop the sweeps that would fund
 * it, nor the tracking of what is already sent). Runs only where the signer lives.
 *
 * @example
 * await processPayouts(ctx, 'ethereum')
 */
export async function processPayouts(ctx: AppContext, chainName: string) {
  const chain = resolveChain(ctx.chains, chainName)
  const stage = async <T>(name: string, run: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await run()
    } catch (err) {
      reportFailure(
        ctx.log,
        err,
        { chain: chainName, stage: name },
        'payout stage failed; the next pass retries it',
      )
      return fallback
    }
  }
  const noSweeps: SweepProgress = { found: 0, funded: 0, sent: 0, done: 0, skipped: 0, failed: 0 }
  const swept = await stage('sweeps', () => advanceSweeps(ctx, chain), noSweeps)
  const consolidated = await stage('consolidation', () => consolidateDeposits(ctx, chain), 0)
  const batched = await stage('batching', () => batchWithdrawals(ctx, chain), 0)
  const toCold = await stage('cold storage', () => moveExcessToCold(ctx, chain), 0)
  const progress = await stage('outbound', () => advanceOutbound(ctx, chain), noOutboundProgress())
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
