import { mapLimit } from '@tollgate/sdk'
import type { AppContext } from '../context.ts'
import {
  type CheckOutcome,
  claimDueChecks,
  type KytCheckRow,
  screeningOn,
  screenTransferCheck,
} from '../core/compliance/checks.ts'
import { settleDepositsOf } from '../core/deposits/lifecycle.ts'
import { collectWithdrawalChanges } from '../core/payouts/withdrawal-changes.ts'
import { screenWithdrawalCheck } from '../core/payouts/withdrawal-screening.ts'
import { alarm } from './alarm.ts'
import { createLogThrottle } from './log-throttle.ts'

export type ScreeningPump = {
  /** New deposits or withdrawals may wait for screening: look now rather than at the next tick. */
  poke(): void
  /** Stops claiming and waits for the screenings under way. */
  stop(): Promise<void>
}

/**
 * Screens what waits for screening, from the database: claims due checks (pending, next attempt reached) in
 * batches, screens each (deposits' senders, withdrawals' destinations) and applies the verdict, announcing the
 * payment changes. Retries live in the rows (backoff until `failAfterMs`, then the fail mode), so a lost Redis or a
 * killed worker loses no screening: a claim is a lease that runs out.
 *
 * @example
 * const pump = startScreeningPump(ctx, () => webhooks.poke())
 * scanner.onDeposits(() => pump.poke())
 */
export function startScreeningPump(
  ctx: AppContext,
  onChanges: () => void,
  options: { idleMs?: number; concurrency?: number } = {},
): ScreeningPump {
  if (!screeningOn(ctx.compliance)) return { poke() {}, stop: async () => {} }
  const compliance = ctx.compliance
  const idleMs = options.idleMs ?? 1000
  const concurrency = options.concurrency ?? 8
  const wake = alarm()
  const throttle = createLogThrottle()
  let stopped = false

  const screenOne = async (check: KytCheckRow): Promise<CheckOutcome> => {
    const chain = ctx.chains.get(check.chain)
    // a chain no longer configured: left pending (nothing credited), said once a minute
    if (!chain) return { kind: 'skipped' }
    const c = { db: ctx.db, compliance }
    if (check.subjectType === 'transfer' && check.paymentId === null) {
      // a customer deposit: the decision moves it (credited, or held) at once rather than at the next range
      const outcome = await screenTransferCheck(c, chain, check)
      if (outcome.kind === 'decided') {
        const changes = await settleDepositsOf(ctx, chain, [check.subjectId])
        if (changes.length > 0) {
          ctx.bus.publishDeposits(changes)
          onChanges()
        }
      }
      return outcome
    }
    return check.subjectType === 'transfer'
      ? screenTransferCheck(c, chain, check)
      : collectWithdrawalChanges(() => screenWithdrawalCheck(c, chain, check)).then(({ result, changes }) => {
          ctx.bus.publishWithdrawals(changes)
          return result
        })
  }

  const report = (check: KytCheckRow, outcome: CheckOutcome) => {
    const fields = { check: check.id, subject: `${check.subjectType}:${check.subjectId}`, chain: check.chain }
    if (outcome.kind === 'decided') {
      if (outcome.changes.length > 0) {
        ctx.bus.publish(outcome.changes)
        onChanges()
      }
      // never a silent pass: the fail mode deciding is an alert (and a metric, from the rows)
      if (outcome.failMode)
        ctx.log.error(
          { ...fields, failMode: outcome.failMode, state: outcome.state },
          outcome.failMode === 'open'
            ? 'kyt: no answer in time; let through unscreened (failMode open)'
            : 'kyt: no answer in time; held (failMode closed)',
        )
      else if (outcome.state === 'held' || outcome.state === 'refused')
        ctx.log.warn({ ...fields, state: outcome.state }, 'kyt: held for review')
    } else if (outcome.kind === 'retry') {
      const pass = throttle.take(`retry:${check.chain}`)
      if (pass)
        ctx.log.warn(
          { ...fields, failed: outcome.failed, retryAt: outcome.retryAt, suppressed: pass.suppressed },
          'kyt: a provider did not answer; retrying',
        )
    } else if (!ctx.chains.has(check.chain) && throttle.take(`chain:${check.chain}`))
      ctx.log.error(fields, 'kyt: a screening waits on a chain that is not configured')
  }

  /** One batch; answers how many were claimed. */
  const pass = async (): Promise<number> => {
    const due = await claimDueChecks(ctx.db, { limit: 32, leaseMs: compliance.timeoutMs * 2 + 5000 })
    await mapLimit(due, concurrency, async (check) => {
      try {
        report(check, await screenOne(check))
      } catch (err) {
        // the claim runs out and another pass takes it again
        ctx.log.warn({ check: check.id, err }, 'kyt: screening failed')
      }
    })
    return due.length
  }

  const running = (async () => {
    while (!stopped) {
      const claimed = await pass().catch((err) => {
        ctx.log.warn({ err }, 'kyt: claiming screenings failed')
        return 0
      })
      if (claimed === 0 && !stopped) await wake.sleep(idleMs)
    }
  })()

  return {
    poke: () => wake.ring(),
    stop: async () => {
      stopped = true
      wake.ring()
      await running
    },
  }
}
