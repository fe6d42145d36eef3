import { boolean, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/** A ledger line that disagreed with the chain, amounts in base units as decimal strings (jsonb has no bigint). */
export type StoredDiscrepancy = {
  role: string
  asset: string
  ledger: string
  onChain: string
  difference: string
}

/** Operator funding a run booked, the amount in base units as a decimal string. */
export type StoredFunding = { role: string; asset: string; amount: string }

/**
 * The latest scheduled reconciliation of each chain (one row per chain, replaced by every run): what the last
 * completed run found, and the code of the last failed one. A failed run leaves the last report in place: an
 * operator then sees both what was found and that the check stopped working.
 */
export const reconciliationRuns = pgTable('reconciliation_runs', {
  chain: text('chain').primaryKey(),
  /** When the last run completed (null while every run so far failed). */
  checkedAt: timestamp('checked_at', { withTimezone: true }),
  /** False when transactions were in flight: differences then are expected, not alarms. */
  settled: boolean('settled'),
  /** How many balances (asset and role) the last completed run compared. */
  linesChecked: integer('lines_checked').notNull().default(0),
  discrepancies: jsonb('discrepancies').$type<StoredDiscrepancy[]>().notNull().default([]),
  funding: jsonb('funding').$type<StoredFunding[]>().notNull().default([]),
  /** The last failed run: its error's code (never the message: node URLs carry keys) and when. */
  lastErrorCode: text('last_error_code'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true }),
  /** Runs failed in a row (0 once one completes). */
  failedRuns: integer('failed_runs').notNull().default(0),
})
