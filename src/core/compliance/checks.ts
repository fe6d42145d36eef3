import type { KytPolicyConfig, KytVerdict } from '@tollgate/sdk'
import { and, eq, inArray, lte, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { type KytState, kytChecks, merchants, payments, type StoredKytAnswer } from '../../db/schema/index.ts'
import type { LoadedChain, LoadedKytProvider } from '../../plugins/registry.ts'
import { newId } from '../ids.ts'
import { type PaymentChange, recordPaymentNotice, refreshPayments } from '../payments/refresh.ts'
import { effectiveKytPolicy, type KytPolicy, type KytReason, reasonOfVerdict } from './policy.ts'
import { type Screening, screenSubject, versionsOf } from './screen.ts'

export type KytCheckRow = typeof kytChecks.$inferSelect

/** The gateway's screening setup: its providers (none: screening is off) and its policy. */
export type Compliance = {
  providers: readonly LoadedKytProvider[]
  policy: KytPolicyConfig | undefined
  /** How long one screening may take before it counts as failed (and is retried). */
  timeoutMs: number
}

export type ComplianceContext = { db: Db; compliance: Compliance; now?: () => Date }

/** Whether anything is screened: a gateway without providers credits as before, with no check rows. */
export const screeningOn = (compliance: Compliance | undefined): compliance is Compliance =>
  compliance !== undefined && compliance.providers.length > 0

/** A deposit to screen: the stored transfer and who sent it. */
export type InboundSubject = {
  transferId: string
  /** Null for a customer deposit (its deposit row names the customer). */
  paymentId: string | null
  merchantId: string
  senders: readonly string[]
  asset: string
  amount: bigint
  txHash: string
}

/**
 * Opens a pending screening for each new deposit, in the scan's transaction, so a deposit is never stored
 * without one (nothing is credited until it is decided). A deposit seen again keeps its screening.
 *
 * @example
 * await openTransferChecks(tx, chain, [{ transferId, paymentId, merchantId, senders: ['0x…'], asset, amount, txHash }])
 */
export async function openTransferChecks(
  tx: Tx,
  chain: LoadedChain,
  subjects: readonly InboundSubject[],
): Promise<void> {
  for (let i = 0; i < subjects.length; i += 500)
    await tx
      .insert(kytChecks)
      .values(
        subjects.slice(i, i + 500).map((s) => ({
          id: newId('kyt'),
          merchantId: s.merchantId,
          subjectType: 'transfer' as const,
          subjectId: s.transferId,
          paymentId: s.paymentId,
          chain: chain.name,
          direction: 'inbound' as const,
          addresses: [...new Set(s.senders)],
          asset: s.asset,
          amount: s.amount,
          txHash: s.txHash,
          state: 'pending' as const,
        })),
      )
      .onConflictDoNothing()
}

/**
 * Takes up to `limit` screenings that are due (pending, their next attempt reached), pushing their next attempt
 * `leaseMs` ahead so no other worker takes them meanwhile; a worker killed mid-screening leaves them due again
 * when the lease runs out. One statement; rows locked by another claimer are skipped.
 *
 * @example
 * const due = await claimDueChecks(db, { limit: 50, leaseMs: 30_000 })
 */
export async function claimDueChecks(
  db: Db,
  params: { limit: number; leaseMs: number; ids?: readonly string[] },
): Promise<KytCheckRow[]> {
  const due = db
    .select({ id: kytChecks.id })
    .from(kytChecks)
    .where(
      and(
        eq(kytChecks.state, 'pending'),
        lte(kytChecks.nextAttemptAt, sql`now()`),
        ...(params.ids ? [inArray(kytChecks.id, [...params.ids])] : []),
      ),
    )
    .orderBy(kytChecks.nextAttemptAt)
    .limit(params.limit)
    .for('update', { skipLocked: true })
  return db
    .update(kytChecks)
    .set({
      nextAttemptAt: sql`now() + ${`${params.leaseMs} milliseconds`}::interval`,
      attempts: sql`${kytChecks.attempts} + 1`,
    })
    .where(inArray(kytChecks.id, due))
    .returning()
}

/** The policy for a check's merchant and chain. */
export async function policyFor(
  db: Db | Tx,
  compliance: Compliance,
  merchantId: string,
  chain: string,
): Promise<KytPolicy> {
  const [m] = await db
    .select({ kytPolicy: merchants.kytPolicy })
    .from(merchants)
    .where(eq(merchants.id, merchantId))
  return effectiveKytPolicy(compliance.policy, (m?.kytPolicy as KytPolicyConfig | null) ?? null, chain)
}

/**
 * Screens again what a stored check screens (its addresses, direction, value and transaction) with every
 * provider: the step every attempt and every re-screening takes.
 *
 * @example
 * const screening = await screenStoredCheck(ctx.compliance, chain, check)
 */
export function screenStoredCheck(
  compliance: Compliance,
  chain: LoadedChain,
  check: KytCheckRow,
): Promise<Screening> {
  return screenSubject(
    compliance.providers,
    chain,
    {
      addresses: check.addresses,
      direction: check.direction,
      asset: check.asset,
      amount: check.amount,
      txHash: check.txHash,
    },
    compliance.timeoutMs,
  )
}

/** Seconds to wait before the next attempt after `attempts` failed ones: 1, 2, 4 … at most 60. */
export const retryDelayMs = (attempts: number) => Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1))

/** What a screening without an answer comes to: retry later, or the fail mode's decision once overdue. */
export type Unanswered = { retryAt: Date } | { failMode: 'open' | 'closed' }

/**
 * Whether a check with no verdict is retried or decided by the fail mode: overdue once `failAfterMs` passed since
 * it was opened.
 *
 * @example
 * unanswered(check, policy, new Date()) // { retryAt } or { failMode: 'closed' }
 */
function unanswered(check: KytCheckRow, policy: KytPolicy, now: Date): Unanswered {
  if (now.getTime() - check.createdAt.getTime() >= policy.failAfterMs) return { failMode: policy.failMode }
  return { retryAt: new Date(now.getTime() + retryDelayMs(check.attempts)) }
}

/** The decided fields of a check: state, verdict, reason, answers and the data versions they rest on. */
export type CheckDecision = {
  state: KytState
  verdict: Screening['verdict']
  reason: KytReason | null
  failMode?: 'open' | 'closed'
  answers: StoredKytAnswer[]
}

/**
 * Stores a decision on a pending check, in the caller's transaction; false when it was no longer pending (another
 * worker decided it first), so the caller changes nothing else.
 */
export async function decideCheck(tx: Tx, check: KytCheckRow, decision: CheckDecision, now: Date) {
  const [row] = await tx
    .update(kytChecks)
    .set({
      state: decision.state,
      verdict: decision.verdict,
      reason: decision.reason,
      failMode: decision.failMode ?? null,
      answers: decision.answers,
      versions: versionsOf(decision.answers),
      lastError: decision.failMode ? failedText(decision.answers) : null,
      screenedAt: now,
    })
    .where(and(eq(kytChecks.id, check.id), eq(kytChecks.state, 'pending')))
    .returning({ id: kytChecks.id })
  return row !== undefined
}

/** Records a failed attempt of a pending check: its answers so far, what failed, and when to try again. */
async function postponeCheck(db: Db | Tx, check: KytCheckRow, screening: Screening, retryAt: Date) {
  await db
    .update(kytChecks)
    .set({ answers: screening.answers, lastError: screening.failed.join(' '), nextAttemptAt: retryAt })
    .where(and(eq(kytChecks.id, check.id), eq(kytChecks.state, 'pending')))
}

/** What a payment event says of the screening behind it. */
export const kytData = (
  check: Pick<KytCheckRow, 'id'>,
  decision: { reason: string | null; verdict: Screening['verdict']; answers: StoredKytAnswer[] },
) => ({
  kyt: {
    check: check.id,
    reason: decision.reason,
    verdict: decision.verdict,
    versions: versionsOf(decision.answers),
  },
})

/** A notice event on a payment that is COMPLETED (its status did not move); nothing otherwise. */
export async function noticeIfCompleted(
  tx: Tx,
  paymentId: string,
  type: string,
  data: Record<string, unknown>,
  now: Date,
): Promise<PaymentChange | undefined> {
  const [p] = await tx.select({ status: payments.status }).from(payments).where(eq(payments.id, paymentId))
  if (p?.status !== 'COMPLETED') return undefined
  return recordPaymentNotice(tx, paymentId, type, data, now)
}

const failedText = (answers: readonly StoredKytAnswer[]) =>
  answers.flatMap((a) => (a.error ? [`${a.provider}:${a.error}`] : [])).join(' ') || null

/**
 * One attempt at a stored check: its screening now, the merchant's policy for it, and — when no provider could
 * answer and `failAfterMs` has passed — the fail mode that decides; or, before that, the retry it was postponed
 * to. What every kind of check (a deposit's, a withdrawal's) does first.
 *
 * @example
 * const attempt = await attemptCheck(ctx, chain, check)
 * if (attempt.kind === 'retry') return attempt
 */
export async function attemptCheck(
  ctx: ComplianceContext,
  chain: LoadedChain,
  check: KytCheckRow,
): Promise<
  | { kind: 'answered'; verdict: KytVerdict; screening: Screening; policy: KytPolicy; now: Date }
  | { kind: 'unanswered'; failMode: 'open' | 'closed'; screening: Screening; policy: KytPolicy; now: Date }
  | { kind: 'retry'; retryAt: Date; failed: string[] }
> {
  const screening = await screenStoredCheck(ctx.compliance, chain, check)
  const now = ctx.now?.() ?? new Date()
  const policy = await policyFor(ctx.db, ctx.compliance, check.merchantId, check.chain)
  if (screening.verdict !== null)
    return { kind: 'answered', verdict: screening.verdict, screening, policy, now }
  const next = unanswered(check, policy, now)
  if ('retryAt' in next) {
    await postponeCheck(ctx.db, check, screening, next.retryAt)
    return { kind: 'retry', retryAt: next.retryAt, failed: screening.failed }
  }
  return { kind: 'unanswered', failMode: next.failMode, screening, policy, now }
}

/** What became of a screening run: decided (with the payment changes it caused), retried later, or skipped. */
export type CheckOutcome =
  | { kind: 'decided'; state: KytState; failMode?: 'open' | 'closed'; changes: PaymentChange[] }
  | { kind: 'retry'; retryAt: Date; failed: string[] }
  | { kind: 'skipped' }

/**
 * Screens one deposit's senders and applies the policy: `credit` → clear (the payment completes as usual),
 * `hold` → held (the payment goes `HELD`: neither credited nor swept until an admin decides). Without an answer
 * it is retried with backoff until `failAfterMs`, then the fail mode decides (`open`: clear, `closed`: held
 * with reason `KYT_UNAVAILABLE`). The decision and the payment's refresh commit together.
 *
 * @example
 * const outcome = await screenTransferCheck(ctx, chain, check)
 */
export async function screenTransferCheck(
  ctx: ComplianceContext,
  chain: LoadedChain,
  check: KytCheckRow,
): Promise<CheckOutcome> {
  const attempt = await attemptCheck(ctx, chain, check)
  if (attempt.kind === 'retry') return attempt
  const { screening, policy, now } = attempt
  let decision: CheckDecision
  if (attempt.kind === 'unanswered')
    decision = {
      state: attempt.failMode === 'open' ? 'clear' : 'held',
      verdict: null,
      reason: attempt.failMode === 'open' ? null : 'KYT_UNAVAILABLE',
      failMode: attempt.failMode,
      answers: screening.answers,
    }
  else {
    const hold = policy.deposits[attempt.verdict] === 'hold'
    decision = {
      state: hold ? 'held' : 'clear',
      verdict: attempt.verdict,
      reason: hold ? (reasonOfVerdict(attempt.verdict) ?? 'KYT_REVIEW') : null,
      answers: screening.answers,
    }
  }
  return ctx.db.transaction(async (tx) => {
    if (!(await decideCheck(tx, check, decision, now))) return { kind: 'skipped' as const }
    const changes = check.paymentId ? await refreshPayments(tx, { paymentIds: [check.paymentId], now }) : []
    // a deposit held while its payment stays completed (on funds already allowed) is still news for the merchant
    if (decision.state === 'held' && check.paymentId && changes.length === 0) {
      const notice = await noticeIfCompleted(
        tx,
        check.paymentId,
        'payment.held',
        kytData(check, decision),
        now,
      )
      if (notice) changes.push(notice)
    }
    return {
      kind: 'decided' as const,
      state: decision.state,
      ...(decision.failMode ? { failMode: decision.failMode } : {}),
      changes,
    }
  })
}
