import { and, asc, eq } from 'drizzle-orm'
import { type OutboundRow, outboundTxs } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import type { TestApp } from './app.ts'
import { waitFor } from './processes.ts'

/**
 * Payout passes of `chain` in this process, mining a block with `mine` after each, until `done` holds right after a
 * pass; throws with `what` after `timeoutMs`.
 *
 * @example
 * await passUntil(app, 'regtest', () => node.mine(1), 'the cold move confirmed', async () => …, 60_000)
 */
export async function passUntil(
  app: TestApp,
  chain: string,
  mine: () => Promise<unknown>,
  what: string,
  done: () => Promise<boolean>,
  timeoutMs: number,
) {
  await waitFor(
    what,
    async () => {
      await processPayouts(app.ctx, chain)
      if (await done()) return true
      await mine()
      return false
    },
    timeoutMs,
  )
}

/** The chain's outbound transactions of one purpose, oldest first. */
export const outboundOf = (app: TestApp, chain: string, purpose: OutboundRow['purpose']) =>
  app.ctx.db
    .select()
    .from(outboundTxs)
    .where(and(eq(outboundTxs.chain, chain), eq(outboundTxs.purpose, purpose)))
    .orderBy(asc(outboundTxs.createdAt))
