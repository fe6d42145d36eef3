import type { Job } from 'bullmq'
import type { AppContext } from '../context.ts'
import { resolveChain } from '../core/chains.ts'
import { topUpAddressPool } from '../core/payments/addresses.ts'
import type { ChainJob } from '../queues.ts'

/** Keeps each chain's pool of pre-derived deposit addresses full. */
export async function processAddressPool(ctx: AppContext, job: Job<ChainJob>): Promise<{ added: number }> {
  const added = await topUpAddressPool(ctx, resolveChain(ctx.chains, job.data.chain))
  if (added > 0) ctx.log.info({ chain: job.data.chain, added }, 'address pool topped up')
  return { added }
}
