import type { AppContext } from '../context.ts'
import { resolveChain } from '../core/chains.ts'
import { withCallDeadlines } from '../core/deadlines.ts'
import { errorCode } from '../core/errors.ts'
import { type Reconciliation, reconcileChain } from '../core/payouts/reconcile.ts'
import { recordReconciliation, recordReconciliationFailure } from '../core/payouts/reconciliation-status.ts'

/**
 * The scheduled reconciliation of one chain: differences are logged at error level (every run until resolved),
 * operator funding found in the treasury or gas tank is booked, and the report is kept as the chain's latest
 * (`Chain.reconciliation`). A run that fails records its error code and fails the job as before.
 *
 * @example
 * await processReconcile(ctx, 'ethereum')
 */
export async function processReconcile(ctx: AppContext, chainName: string) {
  let report: Reconciliation
  try {
    // balances are read with the chain's call deadline, as in scans and payout passes
    report = await reconcileChain(ctx, withCallDeadlines(resolveChain(ctx.chains, chainName)))
  } catch (err) {
    // an unknown chain name is a bad job, not a chain to report on
    if (ctx.chains.has(chainName))
      await recordReconciliationFailure(ctx.db, chainName, errorCode(err) ?? 'UNKNOWN').catch((recordErr) =>
        ctx.log.warn(
          { chain: chainName, err: (recordErr as Error).message },
          'the failed reconciliation could not be recorded',
        ),
      )
    throw err
  }
  await recordReconciliation(ctx.db, report)
  const show = (v: bigint) => v.toString()
  for (const f of report.funding)
    ctx.log.info(
      { chain: chainName, role: f.role, asset: f.asset, amount: show(f.amount) },
      'operator funding booked',
    )
  // while transactions are in flight the chain runs ahead of the books: only a settled difference is an alarm
  const log = report.settled ? ctx.log.error.bind(ctx.log) : ctx.log.debug.bind(ctx.log)
  for (const d of report.discrepancies)
    log(
      {
        chain: chainName,
        role: d.role,
        asset: d.asset,
        ledger: show(d.ledger),
        onChain: show(d.onChain),
        difference: show(d.difference),
        settled: report.settled,
      },
      'ledger and chain disagree',
    )
  return {
    settled: report.settled,
    discrepancies: report.discrepancies.length,
    funding: report.funding.length,
  }
}
