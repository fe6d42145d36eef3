import { and, desc, eq, lt } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { auditLog } from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import { pageSize, toPage } from '../pages.ts'

/** Admin actions the audit log records. */
export const auditActions = [
  'apikey.created',
  'apikey.revoked',
  'withdrawal.approved',
  'withdrawal.rejected',
  'webhook.secret_rotated',
  'payment.released',
  'payment.rejected',
  'kyt.policy_set',
  'kyt.rescreened',
  'payment.misdirected_recovered',
  'confirmations.policy_set',
  'payment.canceled',
  'payment.accepted',
  'refund.created',
  'refund.canceled',
  'refund.policy_set',
  'multisig.proposed',
  'multisig.signed',
  'multisig.canceled',
  'multisig.executed',
  'deposits.settings_set',
  'deposit.released',
  'deposit.rejected',
  'console.user_created',
  'console.user_disabled',
  'console.role_granted',
  'console.login_succeeded',
  'console.login_failed',
  'console.login_locked',
  'console.totp_enrolled',
  'console.password_changed',
  'console.password_reset',
  'console.logout',
  'console.role_removed',
] as const
export type AuditAction = (typeof auditActions)[number]

/**
 * Who did it: an API key (its id), a console user (a person signed in to the console), an operator at the command
 * line, or a gateway process acting on a decision people made (the signer executing a multisig transfer its
 * owners signed) or recording what it refused (the console's login, refusing a sign-in nobody is known for yet).
 */
export type AuditActor =
  | { keyId: string; requestId?: string }
  | { userId: string; requestId?: string }
  | { cli: true }
  | { system: 'signer' | 'console' }

/** How an actor is written in the log: the key's id, `user:<id>`, `cli`, or `system:<process>`. */
export function actorName(actor: AuditActor): string {
  if ('cli' in actor) return 'cli'
  if ('system' in actor) return `system:${actor.system}`
  if ('userId' in actor) return `user:${actor.userId}`
  return actor.keyId
}

export type AuditEntry = {
  merchantId: string | null
  actor: AuditActor
  action: AuditAction
  target: { type: string; id: string }
  /** What the action carried (a reason, the scopes granted); never a secret. */
  data?: Record<string, unknown>
}

/**
 * Records an admin action in the caller's transaction, so the action and its record commit together.
 *
 * @example
 * await recordAudit(tx, { merchantId, actor: { keyId, requestId }, action: 'withdrawal.approved', target: { type: 'withdrawal', id } })
 */
export async function recordAudit(db: Db | Tx, entry: AuditEntry): Promise<void> {
  await db.insert(auditLog).values({
    id: newId('aud'),
    merchantId: entry.merchantId,
    actor: actorName(entry.actor),
    action: entry.action,
    targetType: entry.target.type,
    targetId: entry.target.id,
    requestId: 'requestId' in entry.actor ? (entry.actor.requestId ?? null) : null,
    data: entry.data ?? null,
  })
}

/**
 * A page of a merchant's audit log, newest first.
 *
 * @example
 * const { rows, hasNextPage } = await listAuditLog({ db }, merchantId, { first: 50 })
 */
export async function listAuditLog(
  ctx: { db: Db },
  merchantId: string,
  params: { first?: number | null; after?: string | null },
) {
  const first = pageSize(params.first, 50)
  const rows = await ctx.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.merchantId, merchantId), params.after ? lt(auditLog.id, params.after) : undefined))
    .orderBy(desc(auditLog.id))
    .limit(first + 1)
  return toPage(rows, first)
}
