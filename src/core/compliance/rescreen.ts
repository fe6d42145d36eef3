import { and, eq, inArray } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { kytChecks, payments } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { type PaymentChange, refreshPayments } from '../payments/refresh.ts'
import { type ComplianceContext, type KytCheckRow, policyFor, screenStoredCheck } from './checks.ts'
import { reasonOfVerdict } from './policy.ts'
import { versionsOf } from './screen.ts'

/** Payments whose deposits can still be stopped: nothing credited yet, or held. */
const openStatuses = ['PENDING', 'PARTIALLY_PAID', 'PROCESSING', 'UNDERPAID', 'EXPIRED', 'HELD'] as const

export type RescreenResult = { screened: number; held: number; failed: number; changes: PaymentChange[] }

/**
 * Screens again every deposit of a payment that is not completed yet (after a list update: an address listed
 * since may have paid it). A deposit whose new verdict the policy holds is held — its payment goes `HELD` —
 * whatever it was before; a hold already there stays for the admin; one the providers cannot answer now keeps
 * its earlier decision (counted in `failed`).
 *
 * @example
 * const { held } = await rescreenOpenDeposits({ db, compliance, chains })
 */
export async function rescreenOpenDeposits(
  ctx: ComplianceContext & { chains: ChainRegistry },
): Promise<RescreenResult> {
  const rows = await ctx.db
    .select({ check: kytChecks })
    .from(kytChecks)
    .innerJoin(payments, eq(payments.id, kytChecks.paymentId))
    .where(
      and(
        eq(kytChecks.subjectType, 'transfer'),
        inArray(kytChecks.state, ['clear']),
        inArray(payments.status, [...openStatuses]),
      ),
    )
  const result: RescreenResult = { screened: 0, held: 0, failed: 0, changes: [] }
  for (const { check } of rows) {
    const chain = ctx.chains.get(check.chain)
    if (!chain) continue
    result.screened++
    const screening = await screenStoredCheck(ctx.compliance, chain, check)
    if (screening.verdict === null) {
      result.failed++
      continue
    }
    const policy = await policyFor(ctx.db, ctx.compliance, check.merchantId, check.chain)
    if (policy.deposits[screening.verdict] !== 'hold') continue
    const changes = await holdAgain(
      ctx.db,
      check,
      screening.verdict,
      screening.answers,
      ctx.now?.() ?? new Date(),
    )
    if (changes) {
      result.held++
      result.changes.push(...changes)
    }
  }
  return result
}

async function holdAgain(
  db: Db,
  check: KytCheckRow,
  verdict: 'allow' | 'review' | 'block',
  answers: KytCheckRow['answers'],
  now: Date,
): Promise<PaymentChange[] | undefined> {
  return db.transaction(async (tx) => {
    // the payment first: one that completed meanwhile keeps its credit, and its deposit its clear screening
    if (check.paymentId) {
      const [p] = await tx
        .select({ status: payments.status })
        .from(payments)
        .where(eq(payments.id, check.paymentId))
        .for('update')
      if (!p || p.status === 'COMPLETED') return undefined
    }
    const [row] = await tx
      .update(kytChecks)
      .set({
        state: 'held',
        verdict,
        reason: reasonOfVerdict(verdict) ?? 'KYT_REVIEW',
        answers,
        versions: versionsOf(answers),
        screenedAt: now,
      })
      .where(and(eq(kytChecks.id, check.id), eq(kytChecks.state, 'clear')))
      .returning({ id: kytChecks.id })
    if (!row || !check.paymentId) return undefined
    return refreshPayments(tx, { paymentIds: [check.paymentId], now })
  })
}
