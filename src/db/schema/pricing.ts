import { jsonb, numeric, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core'

/**
 * The latest good rate of every pair with a rule, as the rates job made it from the providers: what one `base`
 * costs in `quote` (a plain decimal), how (fallback, median, pinned, derived), from which sources, and the time
 * of the oldest source it rests on (its age decides whether it may price a payment).
 */
export const rates = pgTable(
  'rates',
  {
    base: text('base').notNull(),
    quote: text('quote').notNull(),
    rate: numeric('rate').notNull(),
    method: text('method').notNull(),
    sources: jsonb('sources').$type<Array<{ provider: string; rate: string; at: string }>>().notNull(),
    at: timestamp('at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.base, t.quote] })],
)
