import type { AppContext } from '../context.ts'
import { resolveChain } from '../core/chains.ts'
import { withCallDeadlines } from '../core/deadlines.ts'
import { errorCode } from '../core/errors.ts'
import { batchWithdrawals } from '../core/payouts/batches.ts'
import { moveExcessToCold } from '../core/payouts/cold-storage.ts'
import { consolidateDeposits } from '../core/payouts/consolidation.ts'
import { executeReadyProposals } from '../core/payouts/multisig.ts'
import { advanceOutbound, noOutboundProgress } from '../core/payouts/outbound.ts'
import { readPayoutStatus, recordPayoutPass } from '../core/payouts/pass-status.ts'
import { advanceSweeps, noSweepProgress } from '../core/payouts/sweeps.ts'
import { collectWithdrawalChanges } from '../core/payouts/withdrawal-changes.ts'
import { wrongNetwork } from '../core/scanning/errors.ts'
import { type NetworkVerdicts, verifyNetwork } from '../core/scanning/network.ts'
import type { FailedStage } from '../db/schema/index.ts'
import { chainSettingDefaults } from '../plugins/registry.ts'
import { reportFailure } from './failures.ts'
import { createLogThrottle, type LogThrottle } from './log-throttle.ts'

/**
 * Per process context: the throttle (a failure that lasts is logged once a minute per chain, stage and code),
 * the chains whose last pass had something to warn about, and the nodes' network verdicts.
 */
type PassLogs = { throttle: LogThrottle; troubled: Set<string>; networks: NetworkVerdicts }
const passLogs = new WeakMap<AppContext, PassLogs>()
function passLogsOf(ctx: AppContext): PassLogs {
  let logs = passLogs.get(ctx)
  if (!logs) {
    logs = { throttle: createLogThrottle(), troubled: new Set(), networks: new Map() }
    passLogs.set(ctx, logs)
  }
  return logs
}

/**
 * One payout pass for a chain: due sweeps and consolidations, then queued withdrawals, then cold transfers become
 * outbound transactions, and every open transaction moves one persisted step further (sign, broadcast, track).
 * Each stage runs even if an earlier one failed (a fee spike in batching must not stop the sweeps that would fund
 * it, nor the tracking of what is already sent). Every driver call has the chain's `callTimeoutMs`, so a slow node
 * fails one step, not the pass. A node found on another network (checked first, a good verdict trusted for
 * minutes) gets no stage at all: the pass records WRONG_NETWORK. Runs only where the signer lives.
 *
 * The pass is recorded (duration, failed stages and steps, codes only) for `Chain.status`, readiness and metrics;
 * a failure or a slow pass is logged at warn with the payout backlog, once a minute per chain, stage and code.
 *
 * @example
 * await processPayouts(ctx, 'ethereum')
 */
export async function processPayouts(ctx: AppContext, chainName: string) {
  // the withdrawals that moved are signalled to live readers once the pass's transactions are over
  const { result, changes } = await collectWithdrawalChanges(() => payoutPass(ctx, chainName))
  ctx.bus.publishWithdrawals(changes)
  return result
}

/** Passes one payout job runs back to back at most (the scheduler's next job comes at the interval anyway). */
export const passesPerJob = 10

/**
 * What a payout job runs: one pass, and the next at once while the last one moved something forward and
 * nothing failed (what it broadcast is then tracked, and what it confirmed frees the way for more, without
 * waiting for the interval), at most `maxPasses`. A pass that did nothing or had trouble ends the job: the
 * interval paces the retries. Returns the passes' results in order.
 *
 * @example
 * const passes = await runPayoutJob(ctx, 'ethereum')
 */
export async function runPayoutJob(ctx: AppContext, chainName: string, maxPasses = passesPerJob) {
  const passes: Array<Awaited<ReturnType<typeof processPayouts>>> = []
  for (let i = 0; i < maxPasses; i++) {
    const pass = await processPayouts(ctx, chainName)
    passes.push(pass)
    if (!movedAnything(pass) || pass.failedStages.length > 0 || pass.errors > 0) break
  }
  return passes
}

/** Whether a pass built, signed, sent, settled or swept anything. */
function movedAnything(pass: Awaited<ReturnType<typeof processPayouts>>): boolean {
  const { sweeps, errors: _errors, failedStages: _stages, durationMs: _duration, ...counts } = pass
  const { errors: _sweepErrors, ...sweepCounts } = sweeps
  return [...Object.values(counts), ...Object.values(sweepCounts)].some((n) => n > 0)
}

async function payoutPass(ctx: AppContext, chainName: string) {
  const chain = withCallDeadlines(resolveChain(ctx.chains, chainName))
  const started = performance.now()
  const logs = passLogsOf(ctx)
  const failedStages: FailedStage[] = []
  const warnings: Array<{ key: string; fields: object; msg: string; err?: unknown }> = []
  const stage = async <T>(name: string, run: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await run()
    } catch (err) {
      const code = errorCode(err) ?? 'UNKNOWN'
      failedStages.push({ stage: name, code })
      warnings.push({
        key: `${chainName}:${name}:${code}`,
        fields: { chain: chainName, stage: name },
        msg: 'payout stage failed; the next pass retries it',
        err,
      })
      return fallback
    }
  }
  // a node on another network is asked for no nonce, fee or balance and sent nothing: every stage waits
  const onNetwork = await stage(
    'network',
    async () => {
      const verdict = await verifyNetwork({ db: ctx.db, log: ctx.log, verdicts: logs.networks }, chain)
      if (!verdict.ok) throw wrongNetwork(chainName, verdict.expected, verdict.actual)
      return true
    },
    false,
  )
  const step = <T>(name: string, run: () => Promise<T>, fallback: T) =>
    onNetwork ? stage(name, run, fallback) : Promise.resolve(fallback)
  const swept = await step('sweeps', () => advanceSweeps(ctx, chain), noSweepProgress())
  const consolidated = await step('consolidation', () => consolidateDeposits(ctx, chain), 0)
  const batched = await step('batching', () => batchWithdrawals(ctx, chain), 0)
  const toCold = await step('cold storage', () => moveExcessToCold(ctx, chain), 0)
  // multisig proposals the owners signed become outbound transactions, sent by the outbound step below
  await step('multisig', () => executeReadyProposals(ctx, chain), 0)
  const progress = await step('outbound', () => advanceOutbound(ctx, chain), noOutboundProgress())
  const durationMs = performance.now() - started

  const { errors, ...counts } = progress
  const { errors: sweepErrors, ...sweepTally } = swept
  for (const e of errors)
    warnings.push({
      key: `${chainName}:outbound-step:${e.code}`,
      fields: { chain: chainName, stage: 'outbound', outboundTxId: e.id, errorCode: e.code, error: e.error },
      msg: 'outbound step failed',
    })
  for (const e of sweepErrors)
    warnings.push({
      key: `${chainName}:sweep-step:${e.code}`,
      fields: { chain: chainName, stage: 'sweeps', sweepId: e.id, errorCode: e.code },
      msg: 'sweep step failed',
    })
  const slowAfterMs = chain.settings.callTimeoutMs ?? chainSettingDefaults.callTimeoutMs
  if (slowAfterMs > 0 && durationMs > slowAfterMs)
    warnings.push({
      key: `${chainName}:slow`,
      fields: { chain: chainName, durationMs: Math.round(durationMs) },
      msg: 'payout pass slow (longer than one call deadline)',
    })

  await recordPayoutPass(ctx.db, chainName, {
    durationMs,
    failedStages,
    failedSteps: [...errors, ...sweepErrors].map((e) => ({ code: e.code })),
  }).catch((err) => ctx.log.warn({ chain: chainName, err }, 'payout pass not recorded'))
  await logWarnings(ctx, logs, chainName, warnings)

  const sweepCounts = Object.fromEntries(
    Object.entries(sweepTally).map(([k, v]) => [`sweeps${k[0]?.toUpperCase()}${k.slice(1)}`, v]),
  )
  if (
    batched + toCold + consolidated > 0 ||
    [...Object.values(counts), ...Object.values(sweepTally)].some((n) => n > 0)
  )
    ctx.log.info(
      { chain: chainName, batched, toCold, consolidated, ...counts, ...sweepCounts },
      'payouts advanced',
    )
  return {
    batched,
    toCold,
    consolidated,
    ...counts,
    sweeps: swept,
    errors: errors.length,
    failedStages,
    durationMs,
  }
}

/**
 * Logs what the throttle lets through, each line with how far behind payouts are (the backlog, read once, only
 * when something is logged); the first clean pass after trouble is noted at info (at most once a minute, so
 * passes that alternate between failing and clean do not flood either).
 */
async function logWarnings(
  ctx: AppContext,
  { throttle, troubled }: PassLogs,
  chainName: string,
  warnings: ReadonlyArray<{ key: string; fields: object; msg: string; err?: unknown }>,
) {
  if (warnings.length === 0) {
    if (troubled.delete(chainName) && throttle.take(`${chainName}:clean`))
      ctx.log.info({ chain: chainName }, 'payout pass went through clean again')
    return
  }
  troubled.add(chainName)
  const due = warnings.flatMap((w) => {
    const pass = throttle.take(w.key)
    return pass ? [{ ...w, suppressed: pass.suppressed }] : []
  })
  if (due.length === 0) return
  const backlog = await readPayoutStatus(ctx.db, [chainName]).then(
    ([s]) =>
      s && {
        queued: s.queued.count,
        oldestQueuedSeconds: s.queued.oldestAgeSeconds,
        inFlight: s.inFlight.count,
        oldestInFlightSeconds: s.inFlight.oldestAgeSeconds,
        openTransactions: s.openTransactions.count,
      },
    () => undefined,
  )
  for (const w of due) {
    const fields = { ...w.fields, ...backlog, suppressed: w.suppressed }
    if (w.err !== undefined) reportFailure(ctx.log, w.err, fields, w.msg)
    else ctx.log.warn(fields, w.msg)
  }
}
