import { timingSafeEqual } from 'node:crypto'
import { and, asc, eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { type InvoiceMethodQuote, invoices, payments } from '../../db/schema/index.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { invalidInput, invariantBroken, TollgateError } from '../errors.ts'
import type { RateBook } from '../pricing/book.ts'
import {
  add,
  compare,
  exactDecimal,
  parseDecimal,
  priceToUnits,
  type Rational,
  rational,
} from '../pricing/decimal.ts'
import { ensureChainAvailable } from './availability.ts'
import { confirmationsRequiredFor } from './confirmation-policy.ts'
import { type PaymentsContext, placePayment } from './create.ts'
import type { PricedQuote } from './insert.ts'
import type { InvoiceRow } from './invoice-create.ts'
import { decimalOrZero, methodValue } from './invoice-status.ts'
import { currencyDecimals } from './pricing.ts'
import type { PaymentRow } from './queries.ts'
import { type PaymentChange, recordPaymentNotice, refreshPayments } from './refresh.ts'

/** Who asks for an invoice: its merchant (an API key) or its buyer (the checkout's client secret). */
export type InvoiceAccess = { merchantId: string } | { clientSecret: string }

const openStatuses: ReadonlySet<string> = new Set(['PENDING', 'PARTIALLY_PAID'])

/**
 * An invoice for its merchant or for the holder of its client secret; undefined for an unknown id, another
 * merchant's invoice or a wrong secret (the same answer, so a wrong secret reveals nothing).
 *
 * @example
 * const invoice = await getInvoice({ db }, { clientSecret }, 'inv_…')
 */
export async function getInvoice(
  ctx: Pick<PaymentsContext, 'db'>,
  access: InvoiceAccess,
  id: string,
): Promise<InvoiceRow | undefined> {
  const [row] = await ctx.db.select().from(invoices).where(eq(invoices.id, id)).limit(1)
  if (!row) return undefined
  if ('merchantId' in access) return row.merchantId === access.merchantId ? row : undefined
  const a = Buffer.from(row.clientSecret)
  const b = Buffer.from(access.clientSecret)
  return a.length === b.length && timingSafeEqual(a, b) ? row : undefined
}

/**
 * The payments of an invoice (the methods its buyer chose), oldest first.
 *
 * @example
 * const chosen = await invoicePayments({ db }, invoice.id)
 */
export function invoicePayments(ctx: Pick<PaymentsContext, 'db'>, invoiceId: string): Promise<PaymentRow[]> {
  return ctx.db.select().from(payments).where(eq(payments.invoiceId, invoiceId)).orderBy(asc(payments.id))
}

/** What is still owed on an invoice in its currency, from its methods' amounts: never below zero. */
export function invoiceOwed(
  invoice: Pick<InvoiceRow, 'priceAmount' | 'methods'>,
  methods: readonly PaymentRow[],
): Rational {
  let received = rational(0n)
  for (const m of methods)
    received = add(received, methodValue({ ...m, decimals: quoteOf(invoice, m).decimals }, m.amountReceived))
  const owed = add(
    parseDecimal(invoice.priceAmount, { field: 'price' }),
    rational(-received.num, received.den),
  )
  return owed.num < 0n ? rational(0n) : owed
}

function quoteOf(invoice: Pick<InvoiceRow, 'methods'>, m: { chain: string; asset: string; id?: string }) {
  const quote = invoice.methods.find((q) => q.chain === m.chain && q.asset === m.asset)
  if (!quote) throw invariantBroken('INVOICE_METHOD_UNKNOWN', `payment ${m.id} is no method of its invoice`)
  return quote
}

/** The rate a method is priced at now: the invoice's locked quote while the lock holds, else the book's. */
function currentRate(
  book: RateBook | undefined,
  invoice: InvoiceRow,
  quote: InvoiceMethodQuote,
  now: Date,
): Omit<PricedQuote, 'priceAmount' | 'priceCurrency'> {
  if (invoice.rateLockedUntil.getTime() > now.getTime())
    return {
      rate: quote.rate,
      rateSources: quote.rateSources,
      rateAt: new Date(quote.rateAt),
      rateLockedUntil: invoice.rateLockedUntil,
    }
  const pair = `${quote.symbol}/${invoice.priceCurrency}`
  if (!book) throw new TollgateError('RATE_UNAVAILABLE', `no rate for ${pair}`, 'asset')
  const found = book.quote(pair, now, 'asset')
  return {
    rate: found.rate,
    rateSources: { method: found.method, sources: found.sources },
    rateAt: found.at,
    rateLockedUntil: new Date(now.getTime() + book.lockSeconds * 1000),
  }
}

/**
 * A method's price as its invoice's is written: with the currency's minor digits (`25.00`) when it has no more,
 * else every digit it has (a part of the price valued at a rate can have more; it is kept exact).
 */
function priceText(x: Rational, minorDigits: number): string {
  const exact = exactDecimal(x)
  const [whole, fraction = ''] = exact.split('.')
  return fraction.length > minorDigits
    ? exact
    : minorDigits === 0
      ? (whole as string)
      : `${whole}.${fraction.padEnd(minorDigits, '0')}`
}

/**
 * A method's terms for what is left of its invoice: its price is what its own funds are worth plus what is still
 * owed, its amount due its funds plus the owed part at `rate` (rounded up), its tolerance the invoice's in the
 * asset (rounded down). Money a method already received keeps the value it came in at.
 */
export function methodTerms(
  invoice: Pick<InvoiceRow, 'priceTolerance' | 'priceCurrency'>,
  quote: Pick<InvoiceMethodQuote, 'decimals'>,
  method: Pick<PaymentRow, 'priceAmount' | 'rate' | 'amountDue' | 'amountReceived'> | undefined,
  owed: Rational,
  rate: string,
) {
  const r = parseDecimal(rate, { field: 'rate' })
  const received = method?.amountReceived ?? 0n
  const worth = method ? methodValue({ ...method, decimals: quote.decimals }, received) : rational(0n)
  const toleranceFiat = decimalOrZero(invoice.priceTolerance)
  const tolerance = toleranceFiat.num === 0n ? 0n : priceToUnits(toleranceFiat, r, quote.decimals, 'floor')
  return {
    priceAmount: priceText(add(worth, owed), currencyDecimals(invoice.priceCurrency)),
    amountDue: received + priceToUnits(owed, r, quote.decimals),
    amountTolerance: tolerance,
  }
}

/**
 * Quotes a chosen method again for what is left of its invoice (the buyer paid part through another method,
 * or the lock ran out): locks the invoice's methods, then the invoice (payments before invoices, as every
 * refresher does), moves the method's price, amount and rate, records a `payment.requoted` event when the amount
 * moved, and refreshes the invoice. A method that is no longer waiting (paid, expired, held) stays as it is.
 */
export async function repriceMethod(
  tx: Tx,
  book: RateBook | undefined,
  paymentId: string,
  now: Date,
): Promise<PaymentChange[]> {
  const [target] = await tx
    .select({ invoiceId: payments.invoiceId })
    .from(payments)
    .where(eq(payments.id, paymentId))
  if (!target?.invoiceId) return []
  const methods = await tx
    .select()
    .from(payments)
    .where(eq(payments.invoiceId, target.invoiceId))
    .orderBy(asc(payments.id))
    .for('update')
  const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, target.invoiceId)).for('update')
  const p = methods.find((m) => m.id === paymentId)
  if (!invoice || !p || !openStatuses.has(p.status) || !openStatuses.has(invoice.status)) return []
  const owed = invoiceOwed(invoice, methods)
  if (owed.num <= 0n) return []
  const quote = quoteOf(invoice, p)
  const rate = currentRate(book, invoice, quote, now)
  const terms = methodTerms(invoice, quote, p, owed, rate.rate)
  if (terms.amountDue === p.amountDue && rate.rate === p.rate && terms.priceAmount === p.priceAmount)
    return []
  await tx
    .update(payments)
    .set({ ...terms, ...rate, updatedAt: now })
    .where(eq(payments.id, p.id))
  const changes: PaymentChange[] = []
  if (terms.amountDue !== p.amountDue) {
    const notice = await recordPaymentNotice(
      tx,
      p.id,
      'payment.requoted',
      {
        rate: rate.rate,
        previousRate: p.rate,
        amountDue: terms.amountDue.toString(),
        previousAmountDue: p.amountDue.toString(),
        rateLockedUntil: rate.rateLockedUntil.toISOString(),
      },
      now,
    )
    if (notice) changes.push(notice)
  }
  changes.push(...(await refreshPayments(tx, { paymentIds: [p.id], now })))
  return changes
}

/**
 * The buyer (or the merchant) picks how to pay an invoice: the asset's method becomes a payment of the invoice
 * with its own deposit address, its amount the part of the price still owed at the invoice's locked rate (or the
 * current one once the lock ran out). Choosing a method again answers its payment, quoted again for what is
 * left. Typed errors, nothing written: `NOT_FOUND` (unknown invoice, another merchant's, wrong secret),
 * `INVALID_STATE` (paid, expired or held), `INVALID_INPUT` (an asset the invoice does not accept),
 * `CHAIN_UNAVAILABLE`, `RATE_UNAVAILABLE`.
 *
 * @example
 * const payment = await chooseInvoiceMethod(ctx, { clientSecret }, { invoiceId, chain: 'ethereum', asset: 'USDT' })
 */
export async function chooseInvoiceMethod(
  ctx: PaymentsContext,
  access: InvoiceAccess,
  input: { invoiceId: string; chain: string; asset: string },
): Promise<{ payment: PaymentRow; changes: PaymentChange[] }> {
  const invoice = await getInvoice(ctx, access, input.invoiceId)
  if (!invoice) throw new TollgateError('NOT_FOUND', 'no such invoice', 'invoiceId')
  const now = new Date()
  if (!openStatuses.has(invoice.status) || invoice.expiresAt.getTime() <= now.getTime())
    throw new TollgateError(
      'INVALID_STATE',
      `the invoice is ${invoice.expiresAt.getTime() <= now.getTime() && openStatuses.has(invoice.status) ? 'EXPIRED' : invoice.status}: no method can be chosen`,
      'invoiceId',
    )
  const chain = resolveChain(ctx.chains, input.chain)
  const asset = resolveAsset(chain, input.asset)
  const quote = invoice.methods.find((q) => q.chain === chain.name && q.asset === asset.id)
  if (!quote)
    throw invalidInput(
      'asset',
      `this invoice does not accept ${asset.symbol} on ${chain.name}; it accepts ${invoice.methods.map((m) => `${m.symbol} on ${m.chain}`).join(', ')}`,
    )
  const chosen = await invoicePayments(ctx, invoice.id)
  const existing = chosen.find((m) => m.chain === chain.name && m.asset === asset.id)
  if (existing) return requoteChosen(ctx, existing.id, now)
  await ensureChainAvailable(ctx.db, chain)
  const owed = invoiceOwed(invoice, chosen)
  if (compare(owed, rational(0n)) <= 0)
    throw new TollgateError('INVALID_STATE', 'nothing is left to pay on this invoice', 'invoiceId')
  const rate = currentRate(ctx.rateBook, invoice, quote, now)
  const terms = methodTerms(invoice, quote, undefined, owed, rate.rate)
  // the step the method's share of the price falls in, on the merchant's (or the operator's) ladder
  const confirmationsRequired = await confirmationsRequiredFor(
    ctx,
    invoice.merchantId,
    chain,
    {
      asset,
      amountDue: terms.amountDue,
      priced: { priceAmount: terms.priceAmount, priceCurrency: invoice.priceCurrency },
    },
    now,
  )
  try {
    const payment = await placePayment(
      ctx,
      invoice.merchantId,
      {
        chainName: chain.name,
        asset,
        amountDue: terms.amountDue,
        fiatTolerance: terms.amountTolerance,
        priced: { priceAmount: terms.priceAmount, priceCurrency: invoice.priceCurrency, ...rate },
        expiresIn: 0,
        orderId: invoice.orderId,
        metadata: invoice.metadata,
        idempotencyKey: null,
        confirmationsRequired,
        invoice: { id: invoice.id, expiresAt: invoice.expiresAt },
      },
      () => '',
    )
    return { payment, changes: [] }
  } catch (err) {
    // chosen at the same moment by another request: one payment per method, quoted for what is left
    if (!isUniqueViolation(err, 'payments_invoice_method_uq')) throw err
    const [row] = await ctx.db
      .select({ id: payments.id })
      .from(payments)
      .where(
        and(eq(payments.invoiceId, invoice.id), eq(payments.chain, chain.name), eq(payments.asset, asset.id)),
      )
    if (!row) throw err
    return requoteChosen(ctx, row.id, now)
  }
}

async function requoteChosen(ctx: PaymentsContext, paymentId: string, now: Date) {
  return ctx.db.transaction(async (tx) => {
    const changes = await repriceMethod(tx, ctx.rateBook, paymentId, now)
    const [payment] = await tx.select().from(payments).where(eq(payments.id, paymentId))
    if (!payment) throw invariantBroken('INVOICE_METHOD_VANISHED', `payment ${paymentId} vanished`)
    return { payment, changes }
  })
}
