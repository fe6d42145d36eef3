import { createHash } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { type InvoiceMethodQuote, invoices } from '../../db/schema/index.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { invalidInput, TollgateError } from '../errors.ts'
import { newId, randomSecret } from '../ids.ts'
import { formatDecimal, multiply, type Rational, rational } from '../pricing/decimal.ts'
import { rateUnavailable } from '../pricing/errors.ts'
import { ensureChainAvailable } from './availability.ts'
import { canonicalJson, checkPriceTolerance, type PaymentsContext, validateCommon } from './create.ts'
import { type CheckedPrice, checkPrice, type PriceInput, quotePrice } from './pricing.ts'

export type InvoiceRow = typeof invoices.$inferSelect

/** An asset an invoice accepts: a chain name and the asset's symbol or CAIP-19 id. */
export type AcceptedAsset = { chain: string; asset: string }

export type CreateInvoiceInput = {
  price: PriceInput
  /** Shortfall in the price's currency still accepted as paid in full. */
  priceTolerance?: string | null
  /** The assets the buyer may pay in; default every configured asset with a fresh rate on a ready chain. */
  accept?: readonly AcceptedAsset[] | null
  expiresIn?: number | null
  orderId?: string | null
  metadata?: unknown
  idempotencyKey?: string | null
}

const maxMethods = 32

function withField(err: unknown, field: string): never {
  if (err instanceof TollgateError) throw new TollgateError(err.code, err.message, field)
  throw err
}

/** One accepted asset quoted at the current rate, or the typed reason it cannot be (thrown). */
async function quoteMethod(
  ctx: PaymentsContext,
  accepted: AcceptedAsset,
  price: CheckedPrice,
  now: Date,
  field: string,
): Promise<InvoiceMethodQuote> {
  let chain: ReturnType<typeof resolveChain>
  let asset: ReturnType<typeof resolveAsset>
  try {
    chain = resolveChain(ctx.chains, accepted.chain)
    asset = resolveAsset(chain, accepted.asset)
  } catch (err) {
    withField(err, field)
  }
  const { amountDue, priced } = quotePrice(ctx.rateBook, asset, price, { now })
  await ensureChainAvailable(ctx.db, chain)
  return {
    chain: chain.name,
    asset: asset.id,
    symbol: asset.symbol,
    decimals: asset.decimals,
    amountDue: amountDue.toString(),
    rate: priced.rate,
    rateSources: priced.rateSources,
    rateAt: priced.rateAt.toISOString(),
  }
}

/**
 * The methods of a new invoice: every asset named in `accept` must quote (a pair without a fresh rate is
 * `RATE_UNAVAILABLE`, a chain not ready `CHAIN_UNAVAILABLE`, naming the entry); without `accept`, every
 * configured asset that quotes now, and `RATE_UNAVAILABLE` only when none does.
 */
async function quoteMethods(
  ctx: PaymentsContext,
  accept: readonly AcceptedAsset[] | null | undefined,
  price: CheckedPrice,
  now: Date,
): Promise<InvoiceMethodQuote[]> {
  if (accept != null) {
    if (!Array.isArray(accept) || accept.length === 0 || accept.length > maxMethods)
      throw invalidInput('accept', `accept must list 1 to ${maxMethods} assets`)
    const methods: InvoiceMethodQuote[] = []
    for (const [i, a] of accept.entries()) {
      const field = `accept.${i}`
      if (typeof a !== 'object' || a === null || typeof a.chain !== 'string' || typeof a.asset !== 'string')
        throw invalidInput(field, 'each accepted asset is { chain, asset }')
      const quote = await quoteMethod(ctx, a, price, now, field).catch((err) => withField(err, field))
      if (methods.some((m) => m.chain === quote.chain && m.asset === quote.asset))
        throw invalidInput(field, `${quote.symbol} on ${quote.chain} is listed twice`)
      methods.push(quote)
    }
    return methods
  }
  const methods: InvoiceMethodQuote[] = []
  for (const chain of ctx.chains.values())
    for (const asset of chain.driver.assets) {
      if (methods.length >= maxMethods) break
      try {
        methods.push(await quoteMethod(ctx, { chain: chain.name, asset: asset.id }, price, now, 'accept'))
      } catch (err) {
        if (
          err instanceof TollgateError &&
          (err.code === 'RATE_UNAVAILABLE' || err.code === 'CHAIN_UNAVAILABLE')
        )
          continue
        throw err
      }
    }
  if (methods.length === 0)
    throw rateUnavailable({ pair: `*/${price.currency}`, reason: 'no-quotes' }, 'price')
  return methods
}

/** The invoice's shortfall allowance: the merchant's, or the gateway's share of the price if that is more. */
function toleranceOf(price: CheckedPrice, given: Rational | undefined, toleranceBps: number): string {
  const share = multiply(price.value, rational(BigInt(toleranceBps), 10_000n))
  const bigger = given && given.num * share.den > share.num * given.den ? given : share
  return formatDecimal(bigger, price.decimals, 'floor')
}

async function findByIdempotencyKey(db: Db, merchantId: string, key: string) {
  const [row] = await db
    .select()
    .from(invoices)
    .where(and(eq(invoices.merchantId, merchantId), eq(invoices.idempotencyKey, key)))
    .limit(1)
  return row
}

function replayOrRefuse(existing: InvoiceRow, hash: string): { invoice: InvoiceRow; replayed: true } {
  if (existing.requestHash !== hash)
    throw new TollgateError(
      'IDEMPOTENCY_KEY_REUSED',
      'this idempotencyKey was used with different parameters',
      'idempotencyKey',
    )
  return { invoice: existing, replayed: true }
}

/** The invoice and its first event in one statement (one round trip, one commit). */
const insertInvoiceSql = `
with inv as (
  insert into invoices (id, merchant_id, status, price_amount, price_currency, price_tolerance, methods,
    rate_locked_until, expires_at, order_id, metadata, idempotency_key, request_hash, client_secret, created_at,
    updated_at)
  values ($1, $2, 'PENDING', $3::numeric, $4, $5::numeric, $6::jsonb, $7::timestamptz, $8::timestamptz, $9,
    $10::jsonb, $11, $12, $13, $14::timestamptz, $14::timestamptz)
  returning id, merchant_id, created_at
)
insert into invoice_events (invoice_id, merchant_id, seq, type, to_status, created_at)
select id, merchant_id, 1, 'invoice.created', 'PENDING', created_at from inv`

/**
 * Creates an invoice: a fiat price the buyer may pay in any accepted asset, each quoted at the current rate
 * (rounded up to the asset's base units) and locked for the rate book's `lockSeconds`. No address is taken yet:
 * a method becomes a payment with its own address when the buyer chooses it (`chooseInvoiceMethod`). With an
 * idempotency key, the same key and parameters answer the first invoice (`replayed: true`); other parameters
 * are `IDEMPOTENCY_KEY_REUSED`.
 *
 * @example
 * const { invoice } = await createInvoice(ctx, merchantId, {
 *   price: { amount: '25.00', currency: 'USD' },
 *   accept: [{ chain: 'ethereum', asset: 'ETH' }, { chain: 'ethereum', asset: 'USDT' }],
 * })
 */
export async function createInvoice(
  ctx: PaymentsContext,
  merchantId: string,
  input: CreateInvoiceInput,
): Promise<{ invoice: InvoiceRow; replayed: boolean }> {
  const price = checkPrice(input.price)
  const givenTolerance = checkPriceTolerance(price, input.priceTolerance)
  const common = validateCommon(ctx, input)
  const hash = () =>
    createHash('sha256')
      .update(
        canonicalJson({
          price: { amount: price.text, currency: price.currency },
          tolerance: input.priceTolerance ?? null,
          accept: input.accept ?? null,
          expiresIn: common.expiresIn,
          orderId: common.orderId,
          metadata: common.metadata,
        }),
      )
      .digest('hex')
  if (common.idempotencyKey) {
    const existing = await findByIdempotencyKey(ctx.db, merchantId, common.idempotencyKey)
    if (existing) return replayOrRefuse(existing, hash())
  }
  const now = new Date()
  const methods = await quoteMethods(ctx, input.accept, price, now)
  const lockSeconds = ctx.rateBook?.lockSeconds ?? 0
  const row: InvoiceRow = {
    id: newId('inv'),
    merchantId,
    status: 'PENDING',
    priceAmount: price.text,
    priceCurrency: price.currency,
    priceTolerance: toleranceOf(price, givenTolerance, ctx.payments.toleranceBps),
    methods,
    rateLockedUntil: new Date(now.getTime() + lockSeconds * 1000),
    amountReceivedFiat: '0',
    amountConfirmedFiat: '0',
    expiresAt: new Date(now.getTime() + common.expiresIn * 1000),
    orderId: common.orderId,
    metadata: common.metadata,
    idempotencyKey: common.idempotencyKey,
    requestHash: common.idempotencyKey ? hash() : null,
    clientSecret: '',
    eventSeq: 1,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  }
  row.clientSecret = `${row.id}_secret_${randomSecret(18)}`
  try {
    await ctx.query(insertInvoiceSql, [
      row.id,
      merchantId,
      row.priceAmount,
      row.priceCurrency,
      row.priceTolerance,
      JSON.stringify(methods),
      row.rateLockedUntil.toISOString(),
      row.expiresAt.toISOString(),
      row.orderId,
      row.metadata === null ? null : JSON.stringify(row.metadata),
      row.idempotencyKey,
      row.requestHash,
      row.clientSecret,
      now.toISOString(),
    ])
  } catch (err) {
    if (common.idempotencyKey && isUniqueViolation(err, 'invoices_merchant_idempotency_uq')) {
      const existing = await findByIdempotencyKey(ctx.db, merchantId, common.idempotencyKey)
      if (existing) return replayOrRefuse(existing, hash())
    }
    throw err
  }
  return { invoice: row, replayed: false }
}
