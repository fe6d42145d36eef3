import { AsyncLocalStorage } from 'node:async_hooks'

/** A withdrawal's state moved (a new event was written): enough to tell its live readers to look again. */
export type WithdrawalChange = { withdrawalId: string; merchantId: string; seq: number; type: string }

const collecting = new AsyncLocalStorage<WithdrawalChange[]>()

/**
 * Notes a change written inside the caller's transaction for the `collectWithdrawalChanges` running around it
 * (none: nothing is noted). Every writer of a withdrawal event calls it, so a new step cannot forget its signal.
 */
export function noteWithdrawalChange(change: WithdrawalChange): void {
  collecting.getStore()?.push(change)
}

/**
 * Runs `run` and answers the withdrawal changes it wrote, to be published once `run` is over: by then each of
 * its transactions has committed (or rolled back, leaving a change that was never made: harmless, since a
 * signal only tells readers to read the row again). Changes are collected here, not returned by every step,
 * because withdrawals move deep inside the payout pass (batching, the outbound step machine, screening).
 *
 * @example
 * const { result, changes } = await collectWithdrawalChanges(() => cancelWithdrawal(ctx, merchantId, id))
 * bus.publishWithdrawals(changes)
 */
export async function collectWithdrawalChanges<T>(
  run: () => Promise<T>,
): Promise<{ result: T; changes: WithdrawalChange[] }> {
  const changes: WithdrawalChange[] = []
  const result = await collecting.run(changes, run)
  return { result, changes }
}
