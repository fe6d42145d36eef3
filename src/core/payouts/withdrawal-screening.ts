import type { AssetInfo } from '@tollgate/sdk'
import { and, eq } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { kytChecks, type WithdrawalStatus, withdrawals } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import type { AuditActor } from '../access/audit.ts'
import {
  attemptCheck,
  type CheckOutcome,
  type Compliance,
  decideCheck,
  type KytCheckRow,
  policyFor,
  screeningOn,
} from '../compliance/checks.ts'
import { reasonOfVerdict } from '../compliance/policy.ts'
import { decideHeldChecks } from '../compliance/review.ts'
import { type Screening, screenSubject, versionsOf } from '../compliance/screen.ts'
import { TollgateError } from '../errors.ts'
import { newId } from '../ids.ts'
import { postWithdrawalRelease } from '../ledger/postings.ts'
import { transitionWithdrawal, type WithdrawalRow } from './withdrawal-transitions.ts'

export type ScreeningContext = { db: Db; compliance?: Compliance; now?: () => Date }

/** A destination's screening at request time and what the policy makes of it. */
export type DestinationScreening = {
  screening: Screening
  /** `pending`: the providers did not all answer in time; the withdrawal waits in `SCREENING`. */
  action: 'send' | 'approval' | 'refuse' | 'pending'
}

type Requested = { chain: LoadedChain; asset: AssetInfo; to: string; amount: bigint }

/**
 * Screens a withdrawal's destination before anything is reserved (when screening is on) and applies the
 * merchant's policy for the verdict: `send`, `approval` (it waits for an admin), `refuse`, or `pending` when a
 * provider did not answer (the screening is retried; the withdrawal waits in `SCREENING`).
 *
 * @example
 * const kyt = await screenWithdrawalRequest(ctx, merchantId, { chain, asset, to, amount })
 */
export async function screenWithdrawalRequest(
  ctx: ScreeningContext,
  merchantId: string,
  r: Requested,
): Promise<DestinationScreening | undefined> {
  if (!screeningOn(ctx.compliance)) return undefined
  const screening = await screenSubject(
    ctx.compliance.providers,
    r.chain,
    { addresses: [r.to], direction: 'outbound', asset: r.asset.id, amount: r.amount },
    ctx.compliance.timeoutMs,
  )
  if (screening.verdict === null) return { screening, action: 'pending' }
  const policy = await policyFor(ctx.db, ctx.compliance, merchantId, r.chain.name)
  return { screening, action: policy.withdrawals[screening.verdict] }
}

const checkValues = (merchantId: string, r: Requested, screening: Screening) => ({
  id: newId('kyt'),
  merchantId,
  subjectType: 'withdrawal' as const,
  chain: r.chain.name,
  direction: 'outbound' as const,
  addresses: [r.to],
  asset: r.asset.id,
  amount: r.amount,
  verdict: screening.verdict,
  reason: screening.verdict ? reasonOfVerdict(screening.verdict) : null,
  answers: screening.answers,
  versions: versionsOf(screening.answers),
  screenedAt: screening.verdict ? new Date() : null,
})

/**
 * Keeps the screening of a refused withdrawal (a destination the policy refuses) for the compliance record, once
 * per idempotency key, and throws the typed refusal. Nothing is reserved.
 */
export async function refuseWithdrawal(
  db: Db,
  merchantId: string,
  idempotencyKey: string,
  r: Requested,
  kyt: DestinationScreening,
): Promise<never> {
  await db
    .insert(kytChecks)
    .values({
      ...checkValues(merchantId, r, kyt.screening),
      subjectId: `refused:${merchantId}:${idempotencyKey}`,
      state: 'refused',
    })
    .onConflictDoNothing()
  throw new TollgateError(
    'KYT_BLOCKED',
    `screening refuses payouts to this address (${
      kyt.screening.answers
        .flatMap((a) => a.categories ?? [])
        .filter((c, i, all) => all.indexOf(c) === i)
        .join(', ') || 'blocked'
    })`,
    'to',
  )
}

/** The status a screened withdrawal starts in: `SCREENING` while unanswered, `AWAITING_APPROVAL` for review. */
export function screenedStatus(
  kyt: DestinationScreening | undefined,
  otherwise: WithdrawalStatus,
): WithdrawalStatus {
  if (!kyt) return otherwise
  if (kyt.action === 'pending') return 'SCREENING'
  if (kyt.action === 'approval') return 'AWAITING_APPROVAL'
  return otherwise
}

/**
 * Stores a created withdrawal's screening in its transaction: decided (clear, or held for approval with a
 * `withdrawal.held` event) or pending (retried by the screening worker).
 */
export async function recordWithdrawalScreening(
  tx: Tx,
  row: WithdrawalRow,
  r: Requested,
  kyt: DestinationScreening,
): Promise<WithdrawalRow> {
  const state = kyt.action === 'pending' ? 'pending' : kyt.action === 'approval' ? 'held' : 'clear'
  const values = checkValues(row.merchantId, r, kyt.screening)
  const reason = state === 'held' ? (values.reason ?? 'KYT_REVIEW') : null
  await tx.insert(kytChecks).values({ ...values, subjectId: row.id, state, reason })
  if (state !== 'held') return row
  // the hold is an event of its own, the status staying AWAITING_APPROVAL
  const held = await transitionWithdrawal(
    tx,
    row.id,
    [row.status],
    row.status,
    {},
    heldData(reason, kyt.screening),
    'withdrawal.held',
  )
  return held ?? row
}

/** What a `withdrawal.held` event says of the screening behind it. */
const heldData = (reason: string | null, screening: Screening) => ({
  kyt: { reason, verdict: screening.verdict, versions: versionsOf(screening.answers) },
})

/**
 * Screens a withdrawal waiting in `SCREENING` again (the providers did not answer at request time) and moves it
 * on: `send` → QUEUED (or AWAITING_APPROVAL above the chain's approval threshold), `approval` → AWAITING_APPROVAL
 * with `withdrawal.held`, `refuse` → FAILED (`KYT_BLOCKED`) with its reserve released. Unanswered past
 * `failAfterMs`, the fail mode decides: `open` sends, `closed` waits for approval (`KYT_UNAVAILABLE`).
 *
 * @example
 * const outcome = await screenWithdrawalCheck(ctx, chain, check)
 */
export async function screenWithdrawalCheck(
  ctx: ScreeningContext & { compliance: Compliance },
  chain: LoadedChain,
  check: KytCheckRow,
): Promise<CheckOutcome> {
  const attempt = await attemptCheck(ctx, chain, check)
  if (attempt.kind === 'retry') return attempt
  const { screening, policy, now } = attempt
  const failMode = attempt.kind === 'unanswered' ? attempt.failMode : undefined
  const action =
    attempt.kind === 'answered'
      ? policy.withdrawals[attempt.verdict]
      : attempt.failMode === 'open'
        ? 'send'
        : 'approval'
  const state = action === 'send' ? 'clear' : action === 'approval' ? 'held' : 'refused'
  const reason =
    action === 'send'
      ? null
      : failMode
        ? 'KYT_UNAVAILABLE'
        : ((screening.verdict && reasonOfVerdict(screening.verdict)) ?? 'KYT_REVIEW')
  return ctx.db.transaction(async (tx) => {
    const decided = await decideCheck(
      tx,
      check,
      {
        state,
        verdict: screening.verdict,
        reason,
        ...(failMode ? { failMode } : {}),
        answers: screening.answers,
      },
      now,
    )
    if (!decided) return { kind: 'skipped' as const }
    const [w] = await tx.select().from(withdrawals).where(eq(withdrawals.id, check.subjectId))
    // canceled while its screening was pending: nothing is left to review, so a hold is rejected at once
    if (w && w.status !== 'SCREENING' && state === 'held')
      await decideWithdrawalCheck(tx, w.id, {
        release: false,
        by: 'system:cancel',
        note: canceledWhileHeldNote,
        now,
      })
    if (w?.status === 'SCREENING') {
      if (action === 'refuse') {
        const row = await transitionWithdrawal(tx, w.id, ['SCREENING'], 'FAILED', {
          failureReason: 'KYT_BLOCKED',
        })
        if (row) await postWithdrawalRelease(tx, row)
      } else if (action === 'approval') {
        // one event, the hold itself, from SCREENING
        await transitionWithdrawal(
          tx,
          w.id,
          ['SCREENING'],
          'AWAITING_APPROVAL',
          {},
          heldData(reason, screening),
          'withdrawal.held',
        )
      } else {
        const threshold = chain.settings.payouts.approvalAbove.get(w.asset)
        const to = threshold !== undefined && w.amount > threshold ? 'AWAITING_APPROVAL' : 'QUEUED'
        await transitionWithdrawal(tx, w.id, ['SCREENING'], to)
      }
    }
    return { kind: 'decided' as const, state, ...(failMode ? { failMode } : {}), changes: [] }
  })
}

/** The note a held screening is rejected with when its withdrawal is canceled before anyone decided it. */
export const canceledWhileHeldNote = 'withdrawal canceled while held'

/**
 * Decides a withdrawal's held screening in the caller's transaction, through the same {@link decideHeldChecks}
 * every held check is decided by: released when its approval reached the quorum, rejected when it was rejected,
 * canceled or expired, with who decided (a key id, `user:<id>`, or `system:approval-expiry`), when, and the note.
 * A withdrawal that was not held (no screening, or screened clear) has nothing to decide.
 *
 * @example
 * await decideWithdrawalCheck(tx, 'wd_…', { release: true, by: { keyId }, note: 'known supplier' })
 */
export async function decideWithdrawalCheck(
  tx: Tx,
  withdrawalId: string,
  decision: { release: boolean; by: AuditActor | string; note: string | null; now?: Date },
): Promise<void> {
  await decideHeldChecks(
    tx,
    and(eq(kytChecks.subjectType, 'withdrawal'), eq(kytChecks.subjectId, withdrawalId)),
    decision.release,
    decision.by,
    decision.note,
    decision.now ?? new Date(),
  )
}
