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
  unique,
  uniqueIndex,
} from 'drizzle-orm/pg-core'
import { height, money } from './columns.ts'

/**
 * How a merchant's customers get their permanent deposit addresses: `single` (one address per asset of a chain),
 * `common` (one address per chain for all its assets), `cross` (one address for a chain and every chain deriving
 * the same addresses, e.g. all EVM chains). See docs/deposits.md for what each means per chain family.
 */
export const addressModes = ['single', 'common', 'cross'] as const
export type AddressMode = (typeof addressModes)[number]

/**
 * A merchant's customer, known by the merchant's own opaque id (`externalId`). Its address mode is the
 * merchant's mode when it was created and never changes: its addresses stay what they were.
 */
export const customers = pgTable(
  'customers',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    externalId: text('external_id').notNull(),
    addressMode: text('address_mode', { enum: addressModes }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique('customers_merchant_external_uq').on(t.merchantId, t.externalId)],
)

/** `asset` of a customer address that receives every asset of its chain (common and cross modes). */
export const anyAsset = '*'

/**
 * A customer's permanent deposit address on one chain: for one asset (`single`) or all (`asset = '*'`). A cross
 * mode address has one row per chain it receives on, all at the same derivation index. `addressKey` is the
 * driver's key (what scans report), one customer's per chain.
 */
export const customerAddresses = pgTable(
  'customer_addresses',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    customerId: text('customer_id')
      .notNull()
      .references(() => customers.id),
    chain: text('chain').notNull(),
    asset: text('asset').notNull(),
    mode: text('mode', { enum: addressModes }).notNull(),
    walletId: text('wallet_id').notNull(),
    derivationIndex: integer('derivation_index').notNull(),
    address: text('address').notNull(),
    addressKey: text('address_key').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('customer_addresses_slot_uq').on(t.customerId, t.chain, t.asset),
    unique('customer_addresses_key_uq').on(t.chain, t.addressKey),
    index('customer_addresses_chain_created_idx').on(t.chain, t.createdAt),
  ],
)

/**
 * A transfer into a customer address. `SEEN`: in a block, not deep enough yet; `CONFIRMED`: deep enough and
 * allowed by screening (credited unless below the merchant's minimum); `HELD`: deep enough but screening holds
 * it (or has not answered); `REJECTED`: an admin rejected it; `REVERTED`: its block was reorganized away.
 */
export const depositStatuses = ['SEEN', 'CONFIRMED', 'HELD', 'REJECTED', 'REVERTED'] as const
export type DepositStatus = (typeof depositStatuses)[number]

export const deposits = pgTable(
  'deposits',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    customerId: text('customer_id').notNull(),
    customerAddressId: text('customer_address_id').notNull(),
    /** The stored transfer (`transfers.id`): its chain identity, block and status. */
    transferId: text('transfer_id').notNull(),
    chain: text('chain').notNull(),
    asset: text('asset').notNull(),
    amount: money('amount').notNull(),
    txHash: text('tx_hash').notNull(),
    index: integer('idx').notNull(),
    blockHeight: height('block_height'),
    status: text('status', { enum: depositStatuses }).notNull().default('SEEN'),
    confirmationsRequired: integer('confirmations_required').notNull(),
    /** Below the merchant's minimum for its asset when it confirmed: recorded, never credited. */
    belowMinimum: boolean('below_minimum').notNull().default(false),
    /** What the merchant's balance holds for it now (its amount while CONFIRMED and not below the minimum). */
    credited: money('credited').notNull().default(sql`0`),
    /**
     * It arrived on a chain the customer's address was not given for (a sibling deriving the same address, in
     * `single` or `common` mode): held until the merchant releases it (credited on the chain it arrived on) or
     * rejects it (left for the operator).
     */
    wrongNetwork: boolean('wrong_network').notNull().default(false),
    /** The merchant's decision on a wrong-network deposit. */
    decision: text('decision', { enum: ['released', 'rejected'] }),
    /** The sweep that took it to the treasury (account chains), once one was opened. */
    sweepId: text('sweep_id'),
    eventSeq: integer('event_seq').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    confirmedAt: timestamp('confirmed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('deposits_transfer_uq').on(t.transferId),
    index('deposits_merchant_idx').on(t.merchantId, t.id),
    index('deposits_customer_idx').on(t.customerId, t.id),
    index('deposits_open_idx').on(t.chain, t.status).where(sql`${t.status} in ('SEEN', 'HELD')`),
    index('deposits_unswept_idx')
      .on(t.customerAddressId)
      .where(sql`${t.sweepId} is null and ${t.status} = 'CONFIRMED'`),
  ],
)

/** Every status change of a deposit, numbered per deposit; also the outbox of its webhooks. */
export const depositEvents = pgTable(
  'deposit_events',
  {
    depositId: text('deposit_id')
      .notNull()
      .references(() => deposits.id),
    merchantId: text('merchant_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    status: text('status', { enum: depositStatuses }).notNull(),
    data: jsonb('data').$type<Record<string, unknown>>(),
    dispatched: boolean('dispatched').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.depositId, t.seq] }),
    index('deposit_events_undispatched_idx').on(t.createdAt).where(sql`not ${t.dispatched}`),
  ],
)
