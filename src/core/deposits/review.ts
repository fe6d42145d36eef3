import { and, eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { deposits, kytChecks } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { resolveChain } from '../chains.ts'
import { checkNote, decideHeldChecks } from '../compliance/review.ts'
import { TollgateError } from '../errors.ts'
import { depositNotFound } from './errors.ts'
import { type DepositChange, settleAtCursor } from './lifecycle.ts'

/** An admin's decision on a held deposit: who, and why (required: it is what an auditor reads). */
export type DepositDecision = { actor: AuditActor; note: string }

/**
 * Releases (the deposit is credited as if screening had allowed it) or rejects (never credited, never swept; its
 * funds stay at the address for the operator) a deposit held by screening, or a wrong-network one (released, it
 * is credited on the chain it arrived on and swept from there). The decision, its note and who made
 * it are written on the deposit's check and in the audit log, in the transaction that moves the deposit.
 * `INVALID_STATE` for a deposit not held; `NOT_FOUND` for another merchant's.
 *
 * @example
 * const changes = await decideDeposit(ctx, merchantId, 'dep_…', true, { actor: { keyId }, note: 'customer verified' })
 */
export async function decideDeposit(
  ctx: { db: Db; chains: ChainRegistry; now?: () => Date },
  merchantId: string,
  depositId: string,
  release: boolean,
  decision: DepositDecision,
): Promise<DepositChange[]> {
  const note = checkNote(decision.note)
  const now = ctx.now?.() ?? new Date()
  return ctx.db.transaction(async (tx) => {
    const [deposit] = await tx
      .select()
      .from(deposits)
      .where(and(eq(deposits.id, depositId), eq(deposits.merchantId, merchantId)))
      .for('update')
    if (!deposit) throw depositNotFound('deposit')
    const decided = await decideHeldChecks(
      tx,
      and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, deposit.transferId)),
      release,
      decision.actor,
      note,
      now,
    )
    // screening's hold is decided first; a wrong-network deposit then waits for a decision of its own
    const network =
      decided.length === 0 && deposit.status === 'HELD' && deposit.wrongNetwork && deposit.decision === null
    if (decided.length === 0 && !network)
      throw new TollgateError('INVALID_STATE', `this ${deposit.status} deposit is not held for review`, 'id')
    if (network)
      await tx
        .update(deposits)
        .set({ decision: release ? 'released' : 'rejected' })
        .where(eq(deposits.id, depositId))
    await recordAudit(tx, {
      merchantId,
      actor: decision.actor,
      action: release ? 'deposit.released' : 'deposit.rejected',
      target: { type: 'deposit', id: depositId },
      data: network
        ? { note, reasons: ['WRONG_NETWORK'], chain: deposit.chain }
        : { note, checks: decided.map((c) => c.id), reasons: decided.map((c) => c.reason) },
    })
    return settleAtCursor(tx, resolveChain(ctx.chains, deposit.chain), [deposit.transferId], now)
  })
}
