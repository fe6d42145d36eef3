import { createContextCache } from '@pothos/core'
import DataLoader from 'dataloader'
import { listPaymentEventsFor, type PaymentEventRow, type PaymentRow } from '../core/payments/queries.ts'
import { type Refundable, refundableOf } from '../core/payments/refundable.ts'
import { listPaymentTransfersFor, type TransferView } from '../core/payments/views.ts'
import {
  listWithdrawalEventsFor,
  outboundTxHashesFor,
  type WithdrawalEventRow,
} from '../core/payouts/withdrawal-history.ts'
import type { WithdrawalRow } from '../core/payouts/withdrawal-transitions.ts'
import { listWebhookAttemptsFor, type WebhookAttemptRow } from '../core/webhooks/delivery-attempts.ts'
import type { webhookDeliveries } from '../db/schema/index.ts'
import type { GraphQLContext } from './context.ts'

// Per-request batching of what a field reads for its parent row: every payment of a page asks in the same tick,
// and one statement answers them all.
//
// The cache is keyed on the row object the resolver was given, not on its id. Within a request the fields of
// one payment (confirmations, late, transfers) share one read; a subscription, whose context lives as long as
// it does, gets a freshly read row with each event and so reads afresh, instead of showing the transfers of
// its first event forever. Entries go away with their rows (a WeakMap).

/** Most ids one statement asks for; a longer batch is split. */
const maxBatchSize = 500

function rowCache<Row extends object, V>() {
  let entries = new WeakMap<Row, Promise<V>>()
  return {
    get: (row: Row) => entries.get(row),
    set: (row: Row, value: Promise<V>) => {
      entries.set(row, value)
    },
    delete: (row: Row) => {
      entries.delete(row)
    },
    clear: () => {
      entries = new WeakMap()
    },
  }
}

/**
 * A per-request loader of one value per row, from a function that reads many rows' values at once by the key
 * `keyOf` gives (the row's id, or an id it refers to) and answers every key it was asked for.
 */
export function perRowLoader<Row extends object, V>(
  keyOf: (row: Row) => string,
  read: (ctx: GraphQLContext, keys: string[]) => Promise<Map<string, V>>,
  missing: () => V,
) {
  return createContextCache(
    (ctx: GraphQLContext) =>
      new DataLoader<Row, V, Row>(
        async (rows) => {
          const byKey = await read(ctx, rows.map(keyOf))
          return rows.map((r) => byKey.get(keyOf(r)) ?? missing())
        },
        { cacheMap: rowCache<Row, V>(), maxBatchSize },
      ),
  )
}

/**
 * A payment's transfers (with confirmation depths), batched over the request.
 *
 * @example
 * const transfers = await paymentTransfers(ctx).load(payment)
 */
export const paymentTransfers = perRowLoader<PaymentRow, TransferView[]>(
  (p) => p.id,
  (ctx, ids) => listPaymentTransfersFor(ctx.app, ids),
  () => [],
)

/**
 * A payment's status history, batched over the request.
 *
 * @example
 * const events = await paymentEvents(ctx).load(payment)
 */
export const paymentEvents = perRowLoader<PaymentRow, PaymentEventRow[]>(
  (p) => p.id,
  (ctx, ids) => listPaymentEventsFor(ctx.app, ids),
  () => [],
)

/**
 * A withdrawal's status history, batched over the request.
 *
 * @example
 * const events = await withdrawalEvents(ctx).load(withdrawal)
 */
export const withdrawalEvents = perRowLoader<WithdrawalRow, WithdrawalEventRow[]>(
  (w) => w.id,
  (ctx, ids) => listWithdrawalEventsFor(ctx.app, ids),
  () => [],
)

/**
 * The hash of the transaction paying a withdrawal (null before it is signed), batched over the request. Only
 * for withdrawals that have an outbound transaction.
 *
 * @example
 * const hash = w.outboundTxId ? await withdrawalTxHashes(ctx).load(w) : null
 */
export const withdrawalTxHashes = perRowLoader<WithdrawalRow, string | null>(
  (w) => w.outboundTxId ?? '',
  (ctx, ids) => outboundTxHashesFor(ctx.app, ids),
  () => null,
)

/**
 * A webhook delivery's attempts, batched over the request.
 *
 * @example
 * const attempts = await webhookAttempts(ctx).load(delivery)
 */
export const webhookAttempts = perRowLoader<typeof webhookDeliveries.$inferSelect, WebhookAttemptRow[]>(
  (d) => d.id,
  (ctx, ids) => listWebhookAttemptsFor(ctx.app, ids),
  () => [],
)

/**
 * What a payment may still refund, read once per payment and request (its `refundable` and `exception` fields both
 * need it).
 *
 * @example
 * const { uncredited } = await paymentRefundables(ctx).load(payment)
 */
export const paymentRefundables = createContextCache(
  (ctx: GraphQLContext) =>
    new DataLoader<PaymentRow, Refundable, PaymentRow>(
      (rows) => Promise.all(rows.map((p) => refundableOf(ctx.app.db, p))),
      { cacheMap: rowCache<PaymentRow, Refundable>(), maxBatchSize },
    ),
)
