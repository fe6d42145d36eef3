import { sql } from 'drizzle-orm'
import {
  type AnyPgColumn,
  boolean,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'
import { money } from './columns.ts'

export const paymentStatuses = [
  'PENDING',
  'PARTIALLY_PAID',
  'PROCESSING',
  'COMPLETED',
  'EXPIRED',
  'UNDERPAID',
  'HELD',
  'REJECTED',
  'CANCELED',
] as const
export type PaymentStatus = (typeof paymentStatuses)[number]

/**
 * How a merchant closed a payment that went wrong: `ACCEPTED` (what arrived is taken as paid and credited) or
 * `REFUNDED` (its uncredited funds were refunded; later funds never complete it).
 */
export const paymentResolutions = ['ACCEPTED', 'REFUNDED'] as const
export type PaymentResolution = (typeof paymentResolutions)[number]

/** How a payment's rate was made: the rule's method and each source's own rate and time. */
export type QuotedRate = {
  method: string
  sources: Array<{ provider: string; rate: string; at: string }>
}

export const payments = pgTable(
  'payments',
  {
    id: text('id').primaryKey(),
    // no foreign key on purpose: every creation would KEY SHARE-lock the merchant row, and concurrent
    // creations for one merchant then contend on it (multixacts); the id comes from an authenticated key
    merchantId: text('merchant_id').notNull(),
    chain: text('chain').notNull(),
    asset: text('asset').notNull(),
    amountDue: money('amount_due').notNull(),
    amountReceived: money('amount_received').notNull().default(sql`0`),
    /** Shortfall still accepted as paid in full (base units). */
    amountTolerance: money('amount_tolerance').notNull().default(sql`0`),
    amountConfirmed: money('amount_confirmed').notNull().default(sql`0`),
    status: text('status', { enum: paymentStatuses }).notNull().default('PENDING'),
    address: text('address').notNull(),
    /** The deposit wallet and index the address was derived at (the signer needs them to sweep). */
    walletId: text('wallet_id').notNull(),
    derivationIndex: integer('derivation_index').notNull(),
    confirmationsRequired: integer('confirmations_required').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    orderId: text('order_id'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    idempotencyKey: text('idempotency_key'),
    /** SHA-256 of the canonical create parameters: same key + other parameters is refused. */
    requestHash: text('request_hash'),
    /** Lets a checkout page read this one payment; grants nothing else. */
    clientSecret: text('client_secret').notNull(),
    /** Last `payment_events.seq` written for this payment. */
    eventSeq: integer('event_seq').notNull().default(1),
    /** A fiat-priced payment: the price (a plain decimal) and its currency; null for one priced in the asset. */
    priceAmount: numeric('price_amount'),
    priceCurrency: text('price_currency'),
    /** The rate `amountDue` was quoted at (fiat per whole asset unit), the sources it came from, and its time. */
    rate: numeric('rate'),
    rateSources: jsonb('rate_sources').$type<QuotedRate>(),
    rateAt: timestamp('rate_at', { withTimezone: true }),
    /** Until when the quoted amount holds; an unpaid payment is quoted again after it. */
    rateLockedUntil: timestamp('rate_locked_until', { withTimezone: true }),
    /** The invoice this payment is a method of (the buyer chose its asset there); null for a payment of its own. */
    invoiceId: text('invoice_id').references((): AnyPgColumn => invoices.id),
    /** The merchant's decision on an exception (see `paymentResolutions`); null while none was made. */
    resolution: text('resolution', { enum: paymentResolutions }),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [
    // one payment per method of an invoice: choosing a method twice answers the same payment
    uniqueIndex('payments_invoice_method_uq')
      .on(t.invoiceId, t.chain, t.asset)
      .where(sql`${t.invoiceId} is not null`),
    // partial indexes: a payment without an idempotency key or order id costs no entry in them
    uniqueIndex('payments_merchant_idempotency_uq')
      .on(t.merchantId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('payments_merchant_id_idx').on(t.merchantId, t.id),
    index('payments_chain_open_idx').on(t.chain, t.status),
    index('payments_merchant_order_idx').on(t.merchantId, t.orderId).where(sql`${t.orderId} is not null`),
    // a merchant's search by deposit address (the console's and `payments(filter: { address })`)
    index('payments_merchant_address_idx').on(t.merchantId, t.address),
  ],
)

/** Every status change of a payment, numbered per payment; written in the transaction that made the change. */
export const paymentEvents = pgTable(
  'payment_events',
  {
    paymentId: text('payment_id')
      .notNull()
      .references(() => payments.id),
    merchantId: text('merchant_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    fromStatus: text('from_status', { enum: paymentStatuses }),
    toStatus: text('to_status', { enum: paymentStatuses }).notNull(),
    data: jsonb('data').$type<Record<string, unknown>>(),
    /** The event is also the webhook outbox: false until its deliveries exist. */
    dispatched: boolean('dispatched').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.paymentId, t.seq] }),
    index('payment_events_undispatched_idx').on(t.createdAt).where(sql`not ${t.dispatched}`),
  ],
)

/** One way to pay an invoice, quoted at the invoice's locked rate: the asset and what the price comes to in it. */
export type InvoiceMethodQuote = {
  chain: string
  /** The asset's id on its chain. */
  asset: string
  symbol: string
  decimals: number
  /** The price in the asset's base units at `rate` (rounded up), as a decimal string. */
  amountDue: string
  rate: string
  rateSources: QuotedRate
  rateAt: string
}

/**
 * A fiat price the buyer may pay in any of several assets. Each asset the buyer picks becomes a payment of the
 * invoice (its own address, amount, rate and status); the invoice adds what arrived through all of them in fiat.
 */
export const invoices = pgTable(
  'invoices',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    status: text('status', { enum: paymentStatuses }).notNull().default('PENDING'),
    priceAmount: numeric('price_amount').notNull(),
    priceCurrency: text('price_currency').notNull(),
    /** Shortfall in the price's currency still accepted as paid in full (a plain decimal). */
    priceTolerance: numeric('price_tolerance').notNull(),
    /** The accepted assets, each quoted at the locked rate (re-quoted while unpaid when the lock runs out). */
    methods: jsonb('methods').$type<InvoiceMethodQuote[]>().notNull(),
    rateLockedUntil: timestamp('rate_locked_until', { withTimezone: true }).notNull(),
    /** What arrived and what is confirmed and allowed by screening, through all methods, in the price's currency. */
    amountReceivedFiat: numeric('amount_received_fiat').notNull().default(sql`0`),
    amountConfirmedFiat: numeric('amount_confirmed_fiat').notNull().default(sql`0`),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    orderId: text('order_id'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    idempotencyKey: text('idempotency_key'),
    requestHash: text('request_hash'),
    /** Lets a checkout page read this invoice and choose its method; grants nothing else. */
    clientSecret: text('client_secret').notNull(),
    eventSeq: integer('event_seq').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('invoices_merchant_idempotency_uq')
      .on(t.merchantId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('invoices_merchant_id_idx').on(t.merchantId, t.id),
    index('invoices_open_idx').on(t.status, t.expiresAt),
    index('invoices_merchant_order_idx').on(t.merchantId, t.orderId).where(sql`${t.orderId} is not null`),
  ],
)

/** Every status change of an invoice, numbered per invoice; also the outbox of its webhooks. */
export const invoiceEvents = pgTable(
  'invoice_events',
  {
    invoiceId: text('invoice_id')
      .notNull()
      .references(() => invoices.id),
    merchantId: text('merchant_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    fromStatus: text('from_status', { enum: paymentStatuses }),
    toStatus: text('to_status', { enum: paymentStatuses }).notNull(),
    data: jsonb('data').$type<Record<string, unknown>>(),
    dispatched: boolean('dispatched').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.invoiceId, t.seq] }),
    index('invoice_events_undispatched_idx').on(t.createdAt).where(sql`not ${t.dispatched}`),
  ],
)
