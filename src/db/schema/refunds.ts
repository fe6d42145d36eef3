import { sql } from 'drizzle-orm'
import {
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'
import { money } from './columns.ts'
import { payments } from './payments.ts'

export const refundStatuses = [
  'AWAITING_ADDRESS',
  'PENDING',
  'SENT',
  'CONFIRMED',
  'FAILED',
  'CANCELED',
] as const
export type RefundStatus = (typeof refundStatuses)[number]

/** Where a refund's amount comes from: the merchant's balance, or the payment's funds that were never credited. */
export const refundSources = ['BALANCE', 'UNCREDITED'] as const
export type RefundSource = (typeof refundSources)[number]

/**
 * Money returned to a payment's buyer. It is paid by a withdrawal (`withdrawalId`) once the destination is known:
 * given by the merchant, or entered by the buyer on the refund link's page (`linkSecret`), once.
 */
export const refunds = pgTable(
  'refunds',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    paymentId: text('payment_id')
      .notNull()
      .references(() => payments.id),
    chain: text('chain').notNull(),
    asset: text('asset').notNull(),
    /** What leaves the merchant's books (base units); the buyer receives less when the fee is deducted. */
    amount: money('amount').notNull(),
    source: text('source', { enum: refundSources }).notNull(),
    /** It returns what was paid above the amount due. */
    overpayment: boolean('overpayment').notNull().default(false),
    feePaidBy: text('fee_paid_by', { enum: ['MERCHANT', 'BUYER'] }).notNull(),
    /** As the driver normalized it; null until the buyer enters it on the link's page. */
    toAddress: text('to_address'),
    status: text('status', { enum: refundStatuses }).notNull(),
    withdrawalId: text('withdrawal_id'),
    /** Lets the buyer's page set the destination; null when the merchant gave it. */
    linkSecret: text('link_secret'),
    reason: text('reason'),
    failureReason: text('failure_reason'),
    idempotencyKey: text('idempotency_key').notNull(),
    requestHash: text('request_hash').notNull(),
    requestedByKey: text('requested_by_key'),
    eventSeq: integer('event_seq').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('refunds_merchant_idempotency_uq').on(t.merchantId, t.idempotencyKey),
    index('refunds_payment_idx').on(t.paymentId),
    index('refunds_merchant_id_idx').on(t.merchantId, t.id),
  ],
)

/** Every status change of a refund, numbered per refund: the `refund.*` webhooks' outbox. */
export const refundEvents = pgTable(
  'refund_events',
  {
    refundId: text('refund_id')
      .notNull()
      .references(() => refunds.id),
    merchantId: text('merchant_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    status: text('status', { enum: refundStatuses }).notNull(),
    data: jsonb('data').$type<Record<string, unknown>>(),
    dispatched: boolean('dispatched').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.refundId, t.seq] }),
    index('refund_events_undispatched_idx').on(t.createdAt).where(sql`not ${t.dispatched}`),
  ],
)

export type RefundRow = typeof refunds.$inferSelect
