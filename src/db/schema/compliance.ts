import { sql } from 'drizzle-orm'
import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'
import { money } from './columns.ts'

/**
 * Where a screening stands. `pending`: no verdict yet (nothing it covers is credited); `clear`: allowed (or let
 * through by `failMode: open`); `held`: review, block or `failMode: closed` — waits for an admin; `released` /
 * `rejected`: an admin's decision on a held one; `refused`: a withdrawal destination refused at request time.
 */
export const kytStates = ['pending', 'clear', 'held', 'released', 'rejected', 'refused'] as const
export type KytState = (typeof kytStates)[number]

/** One provider's answer about one address, or why it could not answer; kept whatever the verdict. */
export type StoredKytAnswer = {
  provider: string
  address: string
  verdict?: 'allow' | 'review' | 'block'
  risk?: string
  categories?: string[]
  reasons?: string[]
  version?: string
  /** The provider failed: its error code (never its message, which may carry URLs or keys). */
  error?: string
}

/**
 * A KYT screening of what moves money: a deposit's senders (`transfer`) or a withdrawal's destination
 * (`withdrawal`). One row per subject; retries update it (`attempts`, `next_attempt_at` — the backoff lives in
 * the database, so losing Redis loses no screening).
 */
export const kytChecks = pgTable(
  'kyt_checks',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    subjectType: text('subject_type', { enum: ['transfer', 'withdrawal'] }).notNull(),
    subjectId: text('subject_id').notNull(),
    paymentId: text('payment_id'),
    chain: text('chain').notNull(),
    direction: text('direction', { enum: ['inbound', 'outbound'] }).notNull(),
    /** The addresses screened, as the chain shows them. */
    addresses: jsonb('addresses').$type<string[]>().notNull(),
    asset: text('asset').notNull(),
    amount: money('amount').notNull(),
    txHash: text('tx_hash'),
    state: text('state', { enum: kytStates }).notNull(),
    verdict: text('verdict', { enum: ['allow', 'review', 'block'] }),
    /** Why it is held or refused: KYT_REVIEW, KYT_BLOCKED, KYT_UNAVAILABLE. */
    reason: text('reason'),
    /** Set when the providers did not answer in time and the fail mode decided (`open` or `closed`). */
    failMode: text('fail_mode', { enum: ['open', 'closed'] }),
    answers: jsonb('answers').$type<StoredKytAnswer[]>().notNull().default(sql`'[]'::jsonb`),
    /** The providers' data versions the verdict rests on (a list's date and hash), `provider=version` joined. */
    versions: text('versions'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    decidedBy: text('decided_by'),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    note: text('note'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    screenedAt: timestamp('screened_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('kyt_checks_subject_uq').on(t.subjectType, t.subjectId),
    index('kyt_checks_merchant_idx').on(t.merchantId, t.id),
    index('kyt_checks_payment_idx').on(t.paymentId),
    index('kyt_checks_due_idx').on(t.nextAttemptAt).where(sql`${t.state} = 'pending'`),
    index('kyt_checks_created_idx').on(t.createdAt),
  ],
)
