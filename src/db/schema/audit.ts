import { index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/**
 * Every admin decision, append-only: who (an API key id, or `cli` for an operator at the console), what (an
 * action such as `apikey.revoked` or `withdrawal.approved`, on a target), when, and the request it came with.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: text('id').primaryKey(),
    /** The merchant whose data the action concerns; null for operator-wide actions. */
    merchantId: text('merchant_id'),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id').notNull(),
    requestId: text('request_id'),
    /** What the action carried (a reason, scopes granted…); never a secret. */
    data: jsonb('data').$type<Record<string, unknown>>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('audit_log_merchant_idx').on(t.merchantId, t.id)],
)
