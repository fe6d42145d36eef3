import type { RawQuery } from '../../db/client.ts'

/** One new payment, as written. Its address comes from the pool in the same statement. */
export type NewPayment = {
  id: string
  merchantId: string
  chain: string
  asset: string
  amountDue: bigint
  amountTolerance: bigint
  confirmationsRequired: number
  expiresAt: Date
  orderId: string | null
  metadata: Record<string, unknown> | null
  idempotencyKey: string | null
  requestHash: string | null
  clientSecret: string
  createdAt: Date
  /** A fiat-priced payment's price and the quote its amount came from (all null for an asset-priced one). */
  priced: PricedQuote | null
  /** The invoice this payment is a method of. */
  invoiceId: string | null
}

/** What a fiat-priced payment stores of its price and quote. */
export type PricedQuote = {
  priceAmount: string
  priceCurrency: string
  rate: string
  rateSources: { method: string; sources: Array<{ provider: string; rate: string; at: string }> }
  rateAt: Date
  rateLockedUntil: Date
}

export type AllocatedAddress = { address: string; derivationIndex: number }

/**
 * Inserts a batch of payments of one deposit wallet in one statement: take the lowest free pool addresses
 * (skipping rows locked by other creators), pair them with the payments in order, insert the payments and their
 * first events. Atomic: if any row fails (an idempotency key already taken), nothing of the batch is written
 * and its addresses stay in the pool. Payments left without an address (the pool ran dry) are not inserted.
 */
const insertBatchSql = `
with req as (
  select * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $16::text[], $17::text[], $18::text[])
    with ordinality as r(id, merchant_id, chain, asset, amount_due, confirmations_required, expires_at, order_id,
      metadata, idempotency_key, request_hash, client_secret, created_at, amount_tolerance, priced, invoice_id, ord)
), addr as (
  delete from address_pool
  where wallet_id = $1 and derivation_index in (
    select derivation_index from address_pool where wallet_id = $1
    order by derivation_index limit $15 for update skip locked
  )
  returning address, derivation_index
), numbered as (
  select address, derivation_index, row_number() over (order by derivation_index) as ord from addr
), pay as (
  insert into payments (id, merchant_id, chain, asset, amount_due, amount_tolerance, status, address, wallet_id, derivation_index,
    confirmations_required, expires_at, order_id, metadata, idempotency_key, request_hash, client_secret,
    created_at, updated_at, price_amount, price_currency, rate, rate_sources, rate_at, rate_locked_until, invoice_id)
  select req.id, req.merchant_id, req.chain, req.asset, req.amount_due::numeric, req.amount_tolerance::numeric,
    'PENDING', numbered.address, $1,
    numbered.derivation_index, req.confirmations_required::int, req.expires_at::timestamptz, req.order_id,
    req.metadata::jsonb, req.idempotency_key, req.request_hash, req.client_secret, req.created_at::timestamptz,
    req.created_at::timestamptz, (req.priced::jsonb->>'priceAmount')::numeric, req.priced::jsonb->>'priceCurrency',
    (req.priced::jsonb->>'rate')::numeric, req.priced::jsonb->'rateSources', (req.priced::jsonb->>'rateAt')::timestamptz,
    (req.priced::jsonb->>'rateLockedUntil')::timestamptz, req.invoice_id
  from req join numbered on numbered.ord = req.ord
  returning id, merchant_id, created_at, address, derivation_index
), event as (
  insert into payment_events (payment_id, merchant_id, seq, type, to_status, created_at)
  select id, merchant_id, 1, 'payment.created', 'PENDING', created_at from pay
)
select id, address, derivation_index from pay`

async function insertBatch(query: RawQuery, walletId: string, batch: readonly NewPayment[]) {
  const column = <T>(pick: (p: NewPayment) => T) => batch.map(pick)
  const rows = await query<{ id: string; address: string; derivation_index: number | string }>(
    insertBatchSql,
    [
      walletId,
      column((p) => p.id),
      column((p) => p.merchantId),
      column((p) => p.chain),
      column((p) => p.asset),
      column((p) => p.amountDue.toString()),
      column((p) => String(p.confirmationsRequired)),
      column((p) => p.expiresAt.toISOString()),
      column((p) => p.orderId),
      column((p) => (p.metadata === null ? null : JSON.stringify(p.metadata))),
      column((p) => p.idempotencyKey),
      column((p) => p.requestHash),
      column((p) => p.clientSecret),
      column((p) => p.createdAt.toISOString()),
      batch.length,
      column((p) => p.amountTolerance.toString()),
      // a fiat-priced payment's price and quote in one JSON value (null for most payments: one array, not six)
      column((p) => (p.priced ? JSON.stringify(p.priced) : null)),
      column((p) => p.invoiceId),
    ],
  )
  return new Map(rows.map((r) => [r.id, { address: r.address, derivationIndex: Number(r.derivation_index) }]))
}

type Waiting = {
  payment: NewPayment
  resolve(a: AllocatedAddress | undefined): void
  reject(e: unknown): void
}
type WalletQueue = { waiting: Waiting[]; running: boolean }

const queues = new WeakMap<RawQuery, Map<string, WalletQueue>>()
const maxBatch = 256

/** Runs one batch; if it fails as a whole, each payment is tried alone so an error reaches only its caller. */
async function flush(query: RawQuery, walletId: string, batch: Waiting[]) {
  try {
    const placed = await insertBatch(
      query,
      walletId,
      batch.map((w) => w.payment),
    )
    for (const w of batch) w.resolve(placed.get(w.payment.id))
  } catch (err) {
    if (batch.length === 1) {
      batch[0]?.reject(err)
      return
    }
    for (const w of batch) await flush(query, walletId, [w])
  }
}

async function drain(query: RawQuery, walletId: string, queue: WalletQueue) {
  queue.running = true
  try {
    while (queue.waiting.length > 0) await flush(query, walletId, queue.waiting.splice(0, maxBatch))
  } finally {
    queue.running = false
  }
}

/**
 * Inserts a payment and takes its deposit address. Concurrent calls for the same wallet are grouped: while one
 * statement runs, the next calls wait and then go together in the following one (group commit), so under load a
 * payment costs a fraction of a statement and a commit. A lone call goes at once.
 * Resolves with the address, or undefined when the pool had none left.
 *
 * @example
 * const address = await insertPayment(ctx.query, walletId, payment)
 */
export function insertPayment(
  query: RawQuery,
  walletId: string,
  payment: NewPayment,
): Promise<AllocatedAddress | undefined> {
  let byWallet = queues.get(query)
  if (!byWallet) {
    byWallet = new Map()
    queues.set(query, byWallet)
  }
  let queue = byWallet.get(walletId)
  if (!queue) {
    queue = { waiting: [], running: false }
    byWallet.set(walletId, queue)
  }
  const q = queue
  return new Promise((resolve, reject) => {
    q.waiting.push({ payment, resolve, reject })
    if (!q.running) drain(query, walletId, q)
  })
}
