import { integer, pgTable, primaryKey, text, timestamp, unique } from 'drizzle-orm/pg-core'

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

/** Every address the gateway derived, by wallet and index (append-only; written when the pool is topped up). */
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
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('addresses_wallet_index_uq').on(t.walletId, t.derivationIndex),
    unique('addresses_chain_address_uq').on(t.chain, t.address),
  ],
)

/**
 * The free list of pre-derived deposit addresses. Creating a payment deletes the lowest row (skipping rows
 * locked by concurrent creations), which touches no other index: the cheapest possible allocation. A
 * rolled-back creation leaves its row in place, so indexes are handed out without gaps and never twice.
 */
export const addressPool = pgTable(
  'address_pool',
  {
    walletId: text('wallet_id').notNull(),
    derivationIndex: integer('derivation_index').notNull(),
    address: text('address').notNull(),
  },
  (t) => [primaryKey({ columns: [t.walletId, t.derivationIndex] })],
)
