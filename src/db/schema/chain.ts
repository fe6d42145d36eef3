import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
} from 'drizzle-orm/pg-core'
import { height, money } from './columns.ts'

/** Where each chain's scanner stands. Advanced in the same transaction as the transfers of the range. */
export const chainCursors = pgTable('chain_cursors', {
  chain: text('chain').primaryKey(),
  height: height('height').notNull(),
  hash: text('hash').notNull(),
  /** Set when the scanner refuses to go on (e.g. a reorg deeper than finality); cleared by an operator. */
  haltedReason: text('halted_reason'),
  /** Lease of the one scanner allowed to advance this chain; a crashed holder's lease simply runs out. */
  leaseOwner: text('lease_owner'),
  leaseUntil: timestamp('lease_until', { withTimezone: true }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  /** The node's tip as the lease holder last saw it, and when it last moved up (a stale node's stops moving). */
  tipHeight: height('tip_height'),
  tipChangedAt: timestamp('tip_changed_at', { withTimezone: true }),
  /** When a scan run last finished without an error. */
  lastScanAt: timestamp('last_scan_at', { withTimezone: true }),
  /** The last failed run: its error's code and kind, the step it failed in, when (never the message: URLs carry keys). */
  lastErrorCode: text('last_error_code'),
  lastErrorKind: text('last_error_kind'),
  lastErrorStage: text('last_error_stage'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true }),
  /** Failed runs since the last one that succeeded, and when the first of them failed. */
  failedRuns: integer('failed_runs').notNull().default(0),
  failingSince: timestamp('failing_since', { withTimezone: true }),
  /**
   * What the last successful run that scanned blocks cost the node, where the driver counts it: blocks scanned,
   * RPC calls made and response bytes read (metered providers charge per call and per byte).
   */
  costBlocks: integer('cost_blocks'),
  costCalls: integer('cost_calls'),
  costBytes: bigint('cost_bytes', { mode: 'number' }),
})

/**
 * Each chain's node as the scanner last checked its network (`ChainDriver.checkNetwork`). `actual` is set while the
 * node is on another network than `expected` (the configured one): the chain is then not ready, its scanning
 * stopped and payments refused, until a check finds the right network again and clears it. Kept apart from the
 * cursor because a wrong node must be caught before a first cursor is taken from it.
 */
export const chainNetworks = pgTable('chain_networks', {
  chain: text('chain').primaryKey(),
  expected: text('expected'),
  actual: text('actual'),
  checkedAt: timestamp('checked_at', { withTimezone: true }).notNull().defaultNow(),
})

/** Block refs of the unfinalized window, for reorg detection. */
export const blockRefs = pgTable(
  'block_refs',
  {
    chain: text('chain').notNull(),
    height: height('height').notNull(),
    hash: text('hash').notNull(),
    parentHash: text('parent_hash').notNull(),
    time: integer('time').notNull(),
  },
  (t) => [primaryKey({ columns: [t.chain, t.height] })],
)

/** An on-chain transfer into a watched address; `(chain, txHash, index)` is its identity (exactly-once). */
export const transfers = pgTable(
  'transfers',
  {
    id: text('id').primaryKey(),
    chain: text('chain').notNull(),
    txHash: text('tx_hash').notNull(),
    index: integer('idx').notNull(),
    asset: text('asset').notNull(),
    toAddress: text('to_address').notNull(),
    fromAddress: text('from_address'),
    amount: money('amount').notNull(),
    blockHeight: height('block_height'),
    blockHash: text('block_hash'),
    paymentId: text('payment_id'),
    /**
     * `pending`: in the node's mempool, no block yet; `seen`: in a block; `confirmed`: at its depth; `orphaned`:
     * its block was reorganized away; `dropped`: it left the mempool unmined (`fate` says why).
     */
    status: text('status', { enum: ['pending', 'seen', 'confirmed', 'orphaned', 'dropped'] })
      .notNull()
      .default('seen'),
    /** Arrived after the payment's deadline; credited all the same. */
    late: boolean('late').notNull().default(false),
    /**
     * Arrived on this chain at an address issued for this payment on another chain (a wrong-network deposit):
     * `paymentId` stays null, so it never counts toward the payment; held for the operator to recover.
     */
    misdirectedPaymentId: text('misdirected_payment_id'),
    /** An unconfirmed deposit's inputs (`txid:vout`): a transaction spending one of them too conflicts with it. */
    spends: jsonb('spends').$type<string[]>(),
    /** Why a pending deposit was dropped (`replaced`, `double_spent`, `dropped`), and by which transaction. */
    fate: text('fate', { enum: ['replaced', 'double_spent', 'dropped'] }),
    fateBy: text('fate_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('transfers_identity_uq').on(t.chain, t.txHash, t.index),
    index('transfers_misdirected_idx')
      .on(t.misdirectedPaymentId)
      .where(sql`misdirected_payment_id is not null`),
    index('transfers_payment_idx').on(t.paymentId),
    index('transfers_chain_height_idx').on(t.chain, t.blockHeight),
  ],
)
