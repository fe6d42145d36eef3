import { sql } from 'drizzle-orm'
import { index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

export const merchants = pgTable('merchants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** The merchant's overrides of the gateway's KYT policy (see core/compliance/policy.ts); null: none. */
  kytPolicy: jsonb('kyt_policy').$type<Record<string, unknown>>(),
  /**
   * The merchant's own confirmation choices within the operator's bounds, by chain name then asset id (see
   * core/payments/confirmation-tiers.ts); null: none, the operator's ladders apply.
   */
  confirmationPolicy: jsonb('confirmation_policy').$type<Record<string, Record<string, unknown>>>(),
  /**
   * Who bears a refund's network fee: `MERCHANT` (the buyer receives the whole refund) or `DEDUCTED` (the fee is
   * taken out of the refund, where it is paid in the refunded asset).
   */
  refundFee: text('refund_fee', { enum: ['MERCHANT', 'DEDUCTED'] })
    .notNull()
    .default('MERCHANT'),
  /** The address mode new customers get (see `addressModes`); existing customers keep theirs. */
  depositAddressMode: text('deposit_address_mode', { enum: ['single', 'common', 'cross'] })
    .notNull()
    .default('common'),
  /**
   * The smallest customer deposit credited, in base units, by chain name then asset id; a smaller one is recorded
   * but never credited. Null: no minimum.
   */
  depositMinimums: jsonb('deposit_minimums').$type<Record<string, Record<string, string>>>(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
})

/**
 * API keys are shown once. Only `prefix` (the public lookup part) and the SHA-256 of the whole key are kept;
 * a key is valid while `revokedAt` is null and `expiresAt`, if set, is ahead.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    name: text('name').notNull().default('default'),
    prefix: text('prefix').notNull().unique(),
    secretHash: text('secret_hash').notNull(),
    scopes: text('scopes').array().notNull().default(sql`'{}'::text[]`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    /** Optional end of validity; the key stops working then as if revoked. */
    expiresAt: timestamp('expires_at', { withTimezone: true }),
  },
  (t) => [index('api_keys_merchant_idx').on(t.merchantId)],
)
