import { createContextCache } from '@pothos/core'
import DataLoader from 'dataloader'
import { listPaymentEventsFor, type PaymentEventRow, type PaymentRow } from '../core/payments/queries.ts'
import { listPaymentTransfersFor, type TransferView } from '../core/payments/views.ts'
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
 * A per-request loader of one value per row, from a function that reads many rows' values by id at once and
 * answers every id it was asked for.
 */
function perRowLoader<Row extends { id: string }, V>(
  read: (ctx: GraphQLContext, ids: string[]) => Promise<Map<string, V>>,
  missing: () => V,
) {
  return createContextCache(
    (ctx: GraphQLContext) =>
      new DataLoader<Row, V, Row>(
        async (rows) => {
          const byId = await read(
            ctx,
            rows.map((r) => r.id),
          )
          return rows.map((r) => byId.get(r.id) ?? missing())
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
  (ctx, ids) => listPaymentEventsFor(ctx.app, ids),
  () => [],
)
