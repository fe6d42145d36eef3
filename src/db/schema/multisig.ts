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

/**
 * SIGNING: owners are adding signatures; READY: enough signed, the signer's pass executes it; EXECUTING: its
 * transaction is on its way; CONFIRMED / FAILED on chain; CANCELED by an admin before it was executed.
 */
export const multisigStatuses = ['SIGNING', 'READY', 'EXECUTING', 'CONFIRMED', 'FAILED', 'CANCELED'] as const
export type MultisigStatus = (typeof multisigStatuses)[number]

/**
 * A transfer out of a multisig wallet (a chain's cold storage): the driver's draft (`payload`, what owners sign in
 * `toSign`), who signed so far, and once executed the outbound transaction that carries it.
 */
export const multisigProposals = pgTable(
  'multisig_proposals',
  {
    id: text('id').primaryKey(),
    /** The merchant of the admin key that proposed it: its webhooks and audit log hear of it. */
    merchantId: text('merchant_id').notNull(),
    chain: text('chain').notNull(),
    asset: text('asset').notNull(),
    /** The multisig wallet's address. */
    wallet: text('wallet').notNull(),
    toAddress: text('to_address').notNull(),
    amount: money('amount').notNull(),
    /** `treasury` when it moves funds back to the gateway's treasury, else `external` (the operator's withdrawal). */
    destination: text('destination', { enum: ['treasury', 'external'] }).notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    toSign: text('to_sign').notNull(),
    threshold: integer('threshold').notNull(),
    signers: text('signers').array().notNull().default(sql`'{}'::text[]`),
    status: text('status', { enum: multisigStatuses }).notNull(),
    /** UTXO chains: the wallet's coins it spends (`txid:vout`). */
    spends: jsonb('spends').$type<string[]>(),
    outboundTxId: text('outbound_tx_id'),
    failureReason: text('failure_reason'),
    idempotencyKey: text('idempotency_key').notNull(),
    requestHash: text('request_hash').notNull(),
    proposedBy: text('proposed_by').notNull(),
    eventSeq: integer('event_seq').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('multisig_proposals_idempotency_uq').on(t.merchantId, t.idempotencyKey),
    index('multisig_proposals_open_idx').on(t.chain, t.status),
  ],
)

/** Every step of a proposal (proposed, signed, ready, executed, confirmed, failed, canceled): its webhook outbox. */
export const multisigEvents = pgTable(
  'multisig_events',
  {
    proposalId: text('proposal_id')
      .notNull()
      .references(() => multisigProposals.id),
    merchantId: text('merchant_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    status: text('status', { enum: multisigStatuses }).notNull(),
    data: jsonb('data').$type<Record<string, unknown>>(),
    dispatched: boolean('dispatched').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.proposalId, t.seq] }),
    index('multisig_events_undispatched_idx').on(t.createdAt).where(sql`not ${t.dispatched}`),
  ],
)

export type MultisigProposalRow = typeof multisigProposals.$inferSelect
