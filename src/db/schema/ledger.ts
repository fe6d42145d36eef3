import { bigserial, index, pgTable, text, timestamp, unique } from 'drizzle-orm/pg-core'
import { money } from './columns.ts'

/**
 * Double-entry postings. Each business event writes postings whose amounts sum to zero per (chain, asset);
 * balances are sums over postings and are never stored apart from them. `(refType, refId, account)` makes
 * re-running the same event a no-op.
 */
export const ledgerPostings = pgTable(
  'ledger_postings',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    merchantId: text('merchant_id'),
    chain: text('chain').notNull(),
    asset: text('asset').notNull(),
    account: text('account').notNull(),
    amount: money('amount').notNull(),
    refType: text('ref_type').notNull(),
    refId: text('ref_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('ledger_ref_account_uq').on(t.refType, t.refId, t.account),
    index('ledger_merchant_asset_idx').on(t.merchantId, t.chain, t.asset),
  ],
)
