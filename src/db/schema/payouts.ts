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
  uniqueIndex,
} from 'drizzle-orm/pg-core'
import { money } from './columns.ts'

export const withdrawalStatuses = [
  'SCREENING',
  'AWAITING_APPROVAL',
  'QUEUED',
  'BATCHED',
  'BROADCAST',
  'CONFIRMED',
  'FAILED',
  'CANCELED',
] as const
export type WithdrawalStatus = (typeof withdrawalStatuses)[number]

/** A merchant's request to be paid out; its amount is reserved in the ledger from request to settlement. */
export const withdrawals = pgTable(
  'withdrawals',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    chain: text('chain').notNull(),
    asset: text('asset').notNull(),
    /** As the driver normalized it. */
    toAddress: text('to_address').notNull(),
    amount: money('amount').notNull(),
    status: text('status', { enum: withdrawalStatuses }).notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    requestHash: text('request_hash').notNull(),
    outboundTxId: text('outbound_tx_id'),
    /** Network fee paid by the transaction that settled it (native base units). */
    networkFee: money('network_fee'),
    failureReason: text('failure_reason'),
    approvedByKey: text('approved_by_key'),
    /** The API key that requested it (it may not approve its own request). */
    requestedByKey: text('requested_by_key'),
    /** Failed attempts to build its transaction, and the last error (it stays QUEUED until it gives up). */
    buildAttempts: integer('build_attempts').notNull().default(0),
    lastError: text('last_error'),
    eventSeq: integer('event_seq').notNull().default(1),
    /** The refund this withdrawal pays (null for a merchant's own withdrawal). */
    refundId: text('refund_id'),
    /**
     * Where its amount is reserved from: the merchant's balance, or a payment's uncredited funds (a refund of
     * what was never credited: `gateway:uncredited`); a release returns it there.
     */
    fundedFrom: text('funded_from', { enum: ['balance', 'uncredited'] })
      .notNull()
      .default('balance'),
    /** The network fee comes out of the amount (native asset only): the output pays `amountSent`. */
    feeFromAmount: boolean('fee_from_amount').notNull().default(false),
    /** What the output pays, once built, when it differs from `amount` (the fee taken out of it). */
    amountSent: money('amount_sent'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('withdrawals_refund_uq').on(t.refundId).where(sql`${t.refundId} is not null`),
    uniqueIndex('withdrawals_merchant_idempotency_uq').on(t.merchantId, t.idempotencyKey),
    index('withdrawals_merchant_id_idx').on(t.merchantId, t.id),
    index('withdrawals_queue_idx').on(t.chain, t.asset, t.status, t.createdAt),
    // the payout backlog (chain status, metrics) reads the open ones only
    index('withdrawals_open_idx')
      .on(t.chain, t.status, t.createdAt)
      .where(sql`${t.status} in ('QUEUED', 'BATCHED', 'BROADCAST')`),
  ],
)

/** Every status change of a withdrawal, numbered per withdrawal, written with the change. */
export const withdrawalEvents = pgTable(
  'withdrawal_events',
  {
    withdrawalId: text('withdrawal_id')
      .notNull()
      .references(() => withdrawals.id),
    merchantId: text('merchant_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    fromStatus: text('from_status', { enum: withdrawalStatuses }),
    toStatus: text('to_status', { enum: withdrawalStatuses }).notNull(),
    data: jsonb('data').$type<Record<string, unknown>>(),
    /** The webhook outbox flag, as on payment events. */
    dispatched: boolean('dispatched').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.withdrawalId, t.seq] }),
    index('withdrawal_events_undispatched_idx').on(t.createdAt).where(sql`not ${t.dispatched}`),
  ],
)

/**
 * One admin key's decision on a withdrawal held for approval: at most one per key. The withdrawal goes out once
 * the chain's `approvalsRequired` distinct keys approved it; one rejection cancels it.
 */
export const withdrawalApprovals = pgTable(
  'withdrawal_approvals',
  {
    withdrawalId: text('withdrawal_id')
      .notNull()
      .references(() => withdrawals.id),
    keyId: text('key_id').notNull(),
    /** The key's name when it decided (a key may be renamed or revoked later). */
    keyName: text('key_name').notNull(),
    approve: boolean('approve').notNull(),
    reason: text('reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.withdrawalId, t.keyId] })],
)

/** The part of a build request worth keeping: enough to build the same transfer again. */
export type StoredRequest = {
  /** `setup`: a one-time transaction a driver needs before batching (contract deployment, token approval). */
  kind: 'transfer' | 'funding' | 'defunding' | 'setup'
  /** A setup transaction: what it does, for operators. */
  what?: string
  outputs?: Array<{ to: string; amount: string }>
  sweepAll?: boolean
  /** UTXO chains: where change went (a fresh internal address of the treasury account). */
  change?: { address: string; path: string }
  to?: string
  need?: Record<string, string>
}

export const outboundStatuses = ['built', 'signed', 'broadcast', 'confirmed', 'failed', 'replaced'] as const
export type OutboundStatus = (typeof outboundStatuses)[number]

/**
 * Every transaction the gateway sends, persisted before it is signed and again (raw bytes + hash) before it is
 * broadcast. A replacement (higher fee, same nonce) is a new row pointing at the one it replaces; at most one
 * row per (chain, sender, nonce) is not `replaced`.
 */
export const outboundTxs = pgTable(
  'outbound_txs',
  {
    id: text('id').primaryKey(),
    chain: text('chain').notNull(),
    purpose: text('purpose', {
      enum: ['withdrawal', 'sweep', 'gas', 'defund', 'cold', 'setup', 'multisig'],
    }).notNull(),
    fromAddress: text('from_address').notNull(),
    fromPath: text('from_path').notNull(),
    asset: text('asset').notNull(),
    nonce: bigint('nonce', { mode: 'bigint' }),
    status: text('status', { enum: outboundStatuses }).notNull(),
    unsigned: jsonb('unsigned').$type<Record<string, unknown>>().notNull(),
    /** What was asked of the driver (outputs, sweep-all), so a stuck transaction can be rebuilt with a higher fee. */
    request: jsonb('request').$type<StoredRequest>(),
    /** What its outputs pay in total, as built (a sweep's amount is known only once built). */
    amount: money('amount'),
    /** Per output, as built (decimal strings). */
    amounts: jsonb('amounts').$type<string[]>(),
    /** UTXO chains: the coins it spends (`txid:vout`) and the change output it creates. */
    spends: jsonb('spends').$type<string[]>(),
    changeVout: integer('change_vout'),
    changeAmount: money('change_amount'),
    maxFee: money('max_fee').notNull(),
    raw: text('raw'),
    hash: text('hash'),
    fee: money('fee'),
    blockHeight: bigint('block_height', { mode: 'bigint' }),
    /** Chain height when it was (last) broadcast: a replacement is due `stuckAfterBlocks` later. */
    broadcastHeight: bigint('broadcast_height', { mode: 'bigint' }),
    replaces: text('replaces'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('outbound_live_nonce_uq')
      .on(t.chain, t.fromAddress, t.nonce)
      .where(sql`${t.status} <> 'replaced' and ${t.nonce} is not null`),
    index('outbound_open_idx').on(t.chain, t.status),
    uniqueIndex('outbound_hash_uq').on(t.chain, t.hash).where(sql`${t.hash} is not null`),
  ],
)

/** The next nonce per sender, owned by the database; the row lock serializes senders of one address. */
export const senderNonces = pgTable(
  'sender_nonces',
  {
    chain: text('chain').notNull(),
    address: text('address').notNull(),
    next: bigint('next', { mode: 'bigint' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.chain, t.address] })],
)

export const sweepStatuses = ['pending', 'funding', 'sweeping', 'defunding', 'done', 'skipped'] as const
export type SweepStatus = (typeof sweepStatuses)[number]

/**
 * Moving a completed payment's funds from its deposit address to the treasury: for tokens, first the gas tank
 * funds the address (`fundingTxId`), then the address sends (`sweepTxId`), then any funding that can be taken
 * back is (`defundingTxId`). Each step is an outbound transaction; this row only says which step is next.
 */
export const sweeps = pgTable(
  'sweeps',
  {
    id: text('id').primaryKey(),
    chain: text('chain').notNull(),
    /** The payment whose address it empties, or (`customerAddressId`) the customer address. */
    paymentId: text('payment_id'),
    customerAddressId: text('customer_address_id'),
    asset: text('asset').notNull(),
    fromAddress: text('from_address').notNull(),
    fromPath: text('from_path').notNull(),
    status: text('status', { enum: sweepStatuses }).notNull(),
    fundingTxId: text('funding_tx_id'),
    sweepTxId: text('sweep_tx_id'),
    defundingTxId: text('defunding_tx_id'),
    /** What reached the treasury (known once built; a native sweep's fee comes out of it). */
    amount: money('amount'),
    /** The gas tank's funding, kept to undo it. */
    need: jsonb('need').$type<Record<string, string>>(),
    skipReason: text('skip_reason'),
    attempts: integer('attempts').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // a payment's own sweep, and recoveries of what reached its address on other chains (one per chain and asset)
  (t) => [
    uniqueIndex('sweeps_payment_uq').on(t.paymentId, t.chain, t.asset),
    // a customer address is swept again after each new deposit, but one sweep of an asset at a time
    uniqueIndex('sweeps_customer_open_uq')
      .on(t.customerAddressId, t.chain, t.asset)
      .where(sql`${t.customerAddressId} is not null and ${t.status} not in ('done', 'skipped')`),
    index('sweeps_open_idx').on(t.chain, t.status),
  ],
)

export type OutboundRow = typeof outboundTxs.$inferSelect

export const coinStatuses = ['available', 'locked', 'spent'] as const

/**
 * UTXO chains: the gateway's own coins. Deposits of completed payments become `deposit` coins; consolidations
 * and change create `treasury` coins. A coin is `locked` by the outbound transaction that spends it from the
 * moment that transaction is persisted, and `spent` when it confirms (or `available` again if it fails).
 */
export const coins = pgTable(
  'coins',
  {
    chain: text('chain').notNull(),
    txid: text('txid').notNull(),
    vout: integer('vout').notNull(),
    amount: money('amount').notNull(),
    /** scriptPubKey hex (the UTXO driver's address key). */
    script: text('script').notNull(),
    address: text('address').notNull(),
    path: text('path').notNull(),
    /** `cold`: outputs of a multisig cold wallet the gateway drafts transfers out of (owners sign them). */
    role: text('role', { enum: ['deposit', 'treasury', 'cold'] }).notNull(),
    status: text('status', { enum: coinStatuses }).notNull().default('available'),
    lockedBy: text('locked_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.chain, t.txid, t.vout] }),
    index('coins_spendable_idx').on(t.chain, t.role, t.status),
    index('coins_locked_by_idx').on(t.lockedBy),
  ],
)

/** A stage of a payout pass that failed, and its error's code. */
export type FailedStage = { stage: string; code: string }

/**
 * The last payout pass of each chain, written by the signer at the end of every pass so any process can tell how
 * payouts are going: when it finished, how long it took, what failed (codes only, never messages).
 */
export const payoutPasses = pgTable('payout_passes', {
  chain: text('chain').primaryKey(),
  finishedAt: timestamp('finished_at', { withTimezone: true }).notNull(),
  durationMs: integer('duration_ms').notNull(),
  /** Stages that threw (the pass went on without them). */
  failedStages: jsonb('failed_stages').$type<FailedStage[]>().notNull().default([]),
  /** Single transactions or sweeps whose step failed while their stage went on. */
  failedSteps: integer('failed_steps').notNull().default(0),
  lastErrorCode: text('last_error_code'),
  lastErrorStage: text('last_error_stage'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true }),
  /** Passes in a row with something failed, and when the first of them finished (null after a clean pass). */
  failingPasses: integer('failing_passes').notNull().default(0),
  failingSince: timestamp('failing_since', { withTimezone: true }),
})
