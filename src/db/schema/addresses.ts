import { sql } from 'drizzle-orm'
import { index, integer, pgTable, text, timestamp, unique } from 'drizzle-orm/pg-core'

/**
 * An HD account the gateway derives addresses from, per chain and purpose. `accountPath` is the hardened
 * part (e.g. `m/44'/60'/0'`); addresses are `accountPath/branch/index`.
 */
export const wallets = pgTable(
  'wallets',
  {
    id: text('id').primaryKey(),
    chain: text('chain').notNull(),
    purpose: text('purpose', { enum: ['deposit', 'treasury', 'gas', 'change', 'cold'] }).notNull(),
    accountPath: text('account_path').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique('wallets_chain_purpose_uq').on(t.chain, t.purpose)],
)

/**
 * Derived addresses. The deposit pool is pre-derived: a row with a null `paymentId` is free. Allocation takes
 * the lowest free index, so indexes are handed out without gaps and never reused.
 */
export const addresses = pgTable(
  'addresses',
  {
    id: text('id').primaryKey(),
    walletId: text('wallet_id')
      .notNull()
      .references(() => wallets.id),
    chain: text('chain').notNull(),
    derivationIndex: integer('derivation_index').notNull(),
    path: text('path').notNull(),
    address: text('address').notNull(),
    paymentId: text('payment_id'),
    allocatedAt: timestamp('allocated_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('addresses_wallet_index_uq').on(t.walletId, t.derivationIndex),
    unique('addresses_chain_address_uq').on(t.chain, t.address),
    unique('addresses_payment_uq').on(t.paymentId),
    index('addresses_free_idx').on(t.walletId, t.derivationIndex).where(sql`${t.paymentId} is null`),
  ],
)
