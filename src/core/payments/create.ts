import { createHash } from 'node:crypto'
import type { AssetInfo } from '@tollgate/sdk'
import { and, eq } from 'drizzle-orm'
import type { Db, RawQuery } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { payments } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { checkIdempotencyKey, isPrintable } from '../access/idempotency.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { invalidInput, TollgateError } from '../errors.ts'
import { newId, randomSecret } from '../ids.ts'
import { parseAmount } from '../money.ts'
import type { RateBook } from '../pricing/book.ts'
import { parseDecimal } from '../pricing/decimal.ts'
import { type AddressContext, ensureDepositWallet, topUpAddressPool } from './addresses.ts'
import { ensureChainAvailable } from './availability.ts'
import { confirmationsRequiredFor } from './confirmation-policy.ts'
import { insertPayment, type PricedQuote } from './insert.ts'
import { type CheckedPrice, checkPrice, type PriceInput, quotePrice } from './pricing.ts'
import type { PaymentRow } from './queries.ts'

export type PaymentsContext = AddressContext & {
  /** Prepared raw statements for the creation hot path. */
  query: RawQuery
  /** Hands pool refills to another process (fire and forget); without it this process derives. */
  requestPoolRefill?: (chain: string) => void
  chains: ChainRegistry
  /** Default and bounds for `expiresIn`, in seconds. */
  payments: { defaultExpiresIn: number; maxExpiresIn: number; toleranceBps: number }
  /** Current rates, for fiat-priced payments (absent: prices are refused with RATE_UNAVAILABLE). */
  rateBook?: RateBook
}

export type CreatePaymentInput = {
  chain: string
  asset: string
  /** The amount in the asset; or give `price` instead. */
  amount?: string | null
  /** The amount in a fiat currency, quoted in the asset at the current rate. */
  price?: PriceInput | null
  /** Shortfall in the price's currency still accepted as paid in full (with `price`). */
  priceTolerance?: string | null
  expiresIn?: number | null
  orderId?: string | null
  metadata?: unknown
  idempotencyKey?: string | null
}

const minExpiresIn = 60
const maxBigint = (a: bigint, b: bigint) => (a > b ? a : b)
const maxMetadataBytes = 4096
const maxMetadataKeys = 50

/** JSON with keys sorted at every level, so equal parameters hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  return JSON.stringify(value) ?? 'null'
}

/** Postgres jsonb refuses NUL characters and lone surrogates in strings and keys. */
function storableJson(value: unknown): boolean {
  const ok = (s: string) => s.isWellFormed() && !s.includes('\u0000')
  if (typeof value === 'string') return ok(value)
  if (Array.isArray(value)) return value.every(storableJson)
  if (value && typeof value === 'object')
    return Object.entries(value).every(([k, v]) => ok(k) && storableJson(v))
  return true
}

function validateMetadata(metadata: unknown): Record<string, unknown> | null {
  if (metadata === undefined || metadata === null) return null
  if (typeof metadata !== 'object' || Array.isArray(metadata))
    throw invalidInput('metadata', 'metadata must be a JSON object')
  if (!storableJson(metadata))
    throw invalidInput('metadata', 'metadata strings must be well-formed Unicode without NUL characters')
  if (Object.keys(metadata).length > maxMetadataKeys)
    throw invalidInput('metadata', `metadata may have at most ${maxMetadataKeys} keys`)
  if (Buffer.byteLength(JSON.stringify(metadata)) > maxMetadataBytes)
    throw invalidInput('metadata', `metadata may be at most ${maxMetadataBytes} bytes of JSON`)
  return metadata as Record<string, unknown>
}

export type ValidatedPayment = {
  chainName: string
  asset: AssetInfo
  amountDue: bigint
  /** For a fiat price: the tolerance its `priceTolerance` comes to, and the quote. */
  fiatTolerance: bigint | undefined
  priced: PricedQuote | null
  expiresIn: number
  orderId: string | null
  metadata: Record<string, unknown> | null
  idempotencyKey: string | null
  confirmationsRequired: number
  /** A method of an invoice: the invoice, and its deadline (instead of `expiresIn` from now). */
  invoice?: { id: string; expiresAt: Date }
}

/** The amount due: the asset amount given, or the fiat price quoted at the current rate (exactly one of them). */
function pricedAmount(
  ctx: PaymentsContext,
  asset: AssetInfo,
  input: CreatePaymentInput,
): Pick<ValidatedPayment, 'amountDue' | 'fiatTolerance' | 'priced'> {
  const hasAmount = input.amount !== undefined && input.amount !== null
  const hasPrice = input.price !== undefined && input.price !== null
  if (hasAmount === hasPrice)
    throw invalidInput('amount', 'give exactly one of amount (in the asset) or price (in a currency)')
  if (!hasPrice) {
    if (input.priceTolerance != null) throw invalidInput('priceTolerance', 'priceTolerance goes with a price')
    return {
      amountDue: parseAmount(input.amount as string, asset.decimals),
      fiatTolerance: undefined,
      priced: null,
    }
  }
  const price = checkPrice(input.price)
  const toleranceFiat = checkPriceTolerance(price, input.priceTolerance)
  const quoted = quotePrice(ctx.rateBook, asset, price, {
    now: new Date(),
    ...(toleranceFiat ? { toleranceFiat } : {}),
  })
  return { amountDue: quoted.amountDue, fiatTolerance: quoted.tolerance, priced: quoted.priced }
}

/** What a payment and an invoice are both given: deadline, order id, metadata and idempotency key, checked. */
export function validateCommon(
  ctx: Pick<PaymentsContext, 'payments'>,
  input: Pick<CreatePaymentInput, 'expiresIn' | 'orderId' | 'metadata' | 'idempotencyKey'>,
) {
  const expiresIn = input.expiresIn ?? ctx.payments.defaultExpiresIn
  if (!Number.isSafeInteger(expiresIn) || expiresIn < minExpiresIn || expiresIn > ctx.payments.maxExpiresIn)
    throw invalidInput(
      'expiresIn',
      `expiresIn must be whole seconds from ${minExpiresIn} to ${ctx.payments.maxExpiresIn}`,
    )
  const orderId = input.orderId ?? null
  if (orderId !== null && !isPrintable(orderId, 128))
    throw invalidInput('orderId', 'orderId must be 1 to 128 printable ASCII characters')
  const idempotencyKey = input.idempotencyKey == null ? null : checkIdempotencyKey(input.idempotencyKey)
  return { expiresIn, orderId, metadata: validateMetadata(input.metadata), idempotencyKey }
}

/**
 * The merchant's shortfall allowance for a price, in its currency: less than the price, no more digits than the
 * currency has. Undefined when none was given.
 */
export function checkPriceTolerance(price: CheckedPrice, tolerance: string | null | undefined) {
  const toleranceFiat =
    tolerance == null
      ? undefined
      : parseDecimal(tolerance, { field: 'priceTolerance', maxFractionDigits: price.decimals })
  if (toleranceFiat && toleranceFiat.num * price.value.den >= price.value.num * toleranceFiat.den)
    throw invalidInput('priceTolerance', 'priceTolerance must be less than the price')
  return toleranceFiat
}

function validateCreatePayment(
  ctx: PaymentsContext,
  input: CreatePaymentInput,
): Omit<ValidatedPayment, 'confirmationsRequired'> {
  const chain = resolveChain(ctx.chains, input.chain)
  const asset = resolveAsset(chain, input.asset)
  const priced = pricedAmount(ctx, asset, input)
  return { chainName: chain.name, asset, ...priced, ...validateCommon(ctx, input) }
}

function requestHash(v: ValidatedPayment): string {
  const canonical = canonicalJson({
    chain: v.chainName,
    asset: v.asset.id,
    // a fiat price is the request (the amount it came to moves with the rate)
    ...(v.priced
      ? {
          price: { amount: v.priced.priceAmount, currency: v.priced.priceCurrency },
          tolerance: v.fiatTolerance?.toString() ?? null,
        }
      : { amount: v.amountDue.toString() }),
    expiresIn: v.expiresIn,
    orderId: v.orderId,
    metadata: v.metadata,
  })
  return createHash('sha256').update(canonical).digest('hex')
}

async function findByIdempotencyKey(db: Db, merchantId: string, key: string) {
  const [row] = await db
    .select()
    .from(payments)
    .where(and(eq(payments.merchantId, merchantId), eq(payments.idempotencyKey, key)))
    .limit(1)
  return row
}

function replayOrRefuse(existing: PaymentRow, hash: string): { payment: PaymentRow; replayed: true } {
  if (existing.requestHash !== hash)
    throw new TollgateError(
      'IDEMPOTENCY_KEY_REUSED',
      'this idempotencyKey was used with different parameters',
      'idempotencyKey',
    )
  return { payment: existing, replayed: true }
}

const walletIds = new WeakMap<Db, Map<string, string>>()
const refills = new Map<string, Promise<unknown>>()

async function depositWalletId(ctx: PaymentsContext, chainName: string): Promise<string> {
  let cache = walletIds.get(ctx.db)
  if (!cache) {
    cache = new Map()
    walletIds.set(ctx.db, cache)
  }
  let id = cache.get(chainName)
  if (!id) {
    id = await ensureDepositWallet(ctx.db, resolveChain(ctx.chains, chainName))
    cache.set(chainName, id)
  }
  return id
}

/** One pool refill per wallet at a time; callers that find the pool empty wait on the same refill. */
function refill(ctx: PaymentsContext, chainName: string, walletId: string): Promise<unknown> {
  let running = refills.get(walletId)
  if (!running) {
    running = topUpAddressPool(ctx, resolveChain(ctx.chains, chainName)).finally(() =>
      refills.delete(walletId),
    )
    refills.set(walletId, running)
  }
  return running
}

/**
 * Each time a tenth of the pool has been handed out, asks for a refill. Deriving costs CPU (~0.3 ms an
 * address), so the request goes to whoever `requestPoolRefill` names (the worker, through its queue); only a
 * process without one derives here, in the background.
 */
function refillSoon(ctx: PaymentsContext, chainName: string, walletId: string, index: number) {
  if (index % Math.max(1, Math.floor(ctx.addressPoolSize / 10)) !== 0) return
  if (ctx.requestPoolRefill) ctx.requestPoolRefill(chainName)
  else refill(ctx, chainName, walletId).catch(() => undefined)
}

async function insertNewPayment(
  ctx: PaymentsContext,
  merchantId: string,
  walletId: string,
  v: ValidatedPayment,
  hash: () => string,
): Promise<PaymentRow | undefined> {
  const id = newId('pay')
  const now = new Date()
  const expiresAt = v.invoice?.expiresAt ?? new Date(now.getTime() + v.expiresIn * 1000)
  const clientSecret = `${id}_secret_${randomSecret(18)}`
  const requestHash = v.idempotencyKey ? hash() : null
  const written = {
    id,
    merchantId,
    chain: v.chainName,
    asset: v.asset.id,
    amountDue: v.amountDue,
    // rounded down: the tolerance never exceeds the configured share (or the merchant's fiat tolerance)
    amountTolerance: maxBigint(
      (v.amountDue * BigInt(ctx.payments.toleranceBps)) / 10_000n,
      v.fiatTolerance ?? 0n,
    ),
    confirmationsRequired: v.confirmationsRequired,
    expiresAt,
    orderId: v.orderId,
    metadata: v.metadata,
    idempotencyKey: v.idempotencyKey,
    requestHash,
    clientSecret,
    createdAt: now,
    priced: v.priced,
    invoiceId: v.invoice?.id ?? null,
  }
  const placed = await insertPayment(ctx.query, walletId, written)
  if (!placed) return undefined
  refillSoon(ctx, v.chainName, walletId, placed.derivationIndex)
  // the rest of the row is what the table's defaults hold for a new payment
  const { priced, ...columns } = written
  return {
    ...columns,
    priceAmount: priced?.priceAmount ?? null,
    priceCurrency: priced?.priceCurrency ?? null,
    rate: priced?.rate ?? null,
    rateSources: priced?.rateSources ?? null,
    rateAt: priced?.rateAt ?? null,
    rateLockedUntil: priced?.rateLockedUntil ?? null,
    ...placed,
    walletId,
    amountReceived: 0n,
    amountConfirmed: 0n,
    resolution: null,
    resolvedAt: null,
    status: 'PENDING',
    eventSeq: 1,
    updatedAt: now,
    completedAt: null,
  }
}

/**
 * Creates a payment with its own deposit address. With an idempotency key, the same key and parameters return
 * the first payment (`replayed: true`); the same key with other parameters is `IDEMPOTENCY_KEY_REUSED`. A chain
 * that is not ready (wrong network, halted, no scan within its `unavailableAfterMs`) is `CHAIN_UNAVAILABLE`.
 *
 * @example
 * const { payment } = await createPayment(ctx, merchantId, { chain: 'ethereum', asset: 'USDC', amount: '12.5' })
 */
export async function createPayment(
  ctx: PaymentsContext,
  merchantId: string,
  input: CreatePaymentInput,
): Promise<{ payment: PaymentRow; replayed: boolean }> {
  const checked = validateCreatePayment(ctx, input)
  // the step of the merchant's (or the operator's) ladder the amount falls in
  const v: ValidatedPayment = {
    ...checked,
    confirmationsRequired: await confirmationsRequiredFor(
      ctx,
      merchantId,
      resolveChain(ctx.chains, checked.chainName),
      checked,
    ),
  }
  let hashed: string | undefined
  const hash = () => {
    hashed ??= requestHash(v)
    return hashed
  }
  if (v.idempotencyKey) {
    const existing = await findByIdempotencyKey(ctx.db, merchantId, v.idempotencyKey)
    if (existing) return replayOrRefuse(existing, hash())
  }
  // before anything is written (the wallet row included); a replay above still answers the first payment
  await ensureChainAvailable(ctx.db, resolveChain(ctx.chains, v.chainName))
  try {
    return { payment: await placePayment(ctx, merchantId, v, hash), replayed: false }
  } catch (err) {
    if (v.idempotencyKey && isUniqueViolation(err, 'payments_merchant_idempotency_uq')) {
      const existing = await findByIdempotencyKey(ctx.db, merchantId, v.idempotencyKey)
      if (existing) return replayOrRefuse(existing, hash())
    }
    throw err
  }
}

/**
 * Writes a validated payment with a deposit address from the chain's pool; a burst larger than the pool waits
 * for refills (each round derives a whole pool's worth). `ADDRESS_POOL_EXHAUSTED` after 20 rounds.
 */
export async function placePayment(
  ctx: PaymentsContext,
  merchantId: string,
  v: ValidatedPayment,
  hash: () => string,
): Promise<PaymentRow> {
  const walletId = await depositWalletId(ctx, v.chainName)
  for (let attempt = 0; attempt < 20; attempt++) {
    const payment = await insertNewPayment(ctx, merchantId, walletId, v, hash)
    if (payment) return payment
    await refill(ctx, v.chainName, walletId)
  }
  throw new TollgateError('ADDRESS_POOL_EXHAUSTED', 'no deposit address could be allocated; try again')
}
