import { type PricingConfig, rates, type TollgateConfig } from '@tollgate/sdk'
import { asc, count, eq } from 'drizzle-orm'
import { paymentEvents, payments } from '../../src/db/schema/index.ts'
import { type CoinbaseStandIn, startCoinbase } from '../stand-ins/rates/coinbase.ts'
import { type CoinGeckoStandIn, startCoinGecko } from '../stand-ins/rates/coingecko.ts'
import { type KrakenStandIn, startKraken } from '../stand-ins/rates/kraken.ts'
import type { TestApp } from './app.ts'
import { waitFor } from './processes.ts'

/** The three exchange stand-ins a pricing test asks, each on a port of its own. */
export type RateStandIns = {
  kraken: KrakenStandIn
  coinbase: CoinbaseStandIn
  gecko: CoinGeckoStandIn
  /** Every stand-in back to its recorded prices and healthy answers. */
  heal(): void
  stop(): Promise<void>
}

/**
 * Starts the Kraken, Coinbase and CoinGecko (public API) stand-ins.
 *
 * @example
 * const standIns = startRateStandIns()
 * afterAll(() => standIns.stop())
 */
export function startRateStandIns(): RateStandIns {
  const kraken = startKraken()
  const coinbase = startCoinbase()
  const gecko = startCoinGecko()
  return {
    kraken,
    coinbase,
    gecko,
    heal() {
      for (const s of [kraken, coinbase, gecko]) s.misbehave(undefined)
    },
    async stop() {
      await Promise.all([kraken.stop(), coinbase.stop(), gecko.stop()])
    },
  }
}

/**
 * `config` with the built-in Kraken, Coinbase and CoinGecko rate providers (named `kraken`, `coinbase`, `gecko`)
 * pointed at the stand-ins, and `pricing`.
 *
 * @example
 * const config = withPricing(testConfig(devnet.url), standIns, { pairs: { 'ETH/USD': { sources: ['kraken'] } } })
 */
export function withPricing(
  config: TollgateConfig,
  standIns: RateStandIns,
  pricing: PricingConfig,
): TollgateConfig {
  return {
    ...config,
    rates: {
      kraken: rates(() => import('../../src/plugins/rates-kraken/index.ts'), {
        baseUrl: standIns.kraken.url,
        timeoutMs: 2000,
      }),
      coinbase: rates(() => import('../../src/plugins/rates-coinbase/index.ts'), {
        baseUrl: standIns.coinbase.url,
        timeoutMs: 2000,
      }),
      gecko: rates(() => import('../../src/plugins/rates-coingecko/index.ts'), {
        baseUrl: standIns.gecko.url,
        timeoutMs: 2000,
      }),
    },
    pricing,
  }
}

/** A rate as the `rates` query answers it. */
export type RateView = {
  pair: string
  rate: string
  method: string
  at: string
  fresh: boolean
  sources: Array<{ provider: string; rate: string; at: string }>
}

/**
 * The `rates(pairs)` query through GraphQL.
 *
 * @example
 * const [ethUsd] = await ratesOf(app, key, ['ETH/USD'])
 */
export async function ratesOf(app: TestApp, key: string, pairs: string[]): Promise<RateView[]> {
  const res = await app.gql(
    'query ($pairs: [String!]) { rates(pairs: $pairs) { pair rate method at fresh sources { provider rate at } } }',
    { pairs },
    key,
  )
  if (res.errors) throw new Error(`rates query failed: ${JSON.stringify(res.errors)}`)
  return res.data.rates
}

/**
 * Waits until the `rates` query shows `pair` as `check` wants it (the rates job runs in the background), and
 * answers that rate. Polls the process's rate book, which the query serves, and asks the query once the book
 * shows it (a query every poll would spend the API key's query budget).
 *
 * @example
 * await waitForRate(app, key, 'ETH/USD', (r) => r.rate === '2000' && r.fresh)
 */
export function waitForRate(
  app: TestApp,
  key: string,
  pair: string,
  check: (rate: RateView) => boolean,
  timeoutMs = 10_000,
): Promise<RateView> {
  const inBook = () => {
    const found = app.ctx.rateBook?.all().find((r) => r.pair === pair)
    return found && check({ ...found, at: found.at.toISOString() })
  }
  return waitFor(
    `the rate of ${pair}`,
    async () => {
      if (!inBook()) return undefined
      const [found] = await ratesOf(app, key, [pair])
      return found && check(found) ? found : undefined
    },
    timeoutMs,
  )
}

/**
 * How many payments and payment events the database holds (to show a refused request wrote nothing).
 *
 * @example
 * const before = await paymentRows(app)
 */
export async function paymentRows(app: TestApp): Promise<{ payments: number; events: number }> {
  const [p] = await app.ctx.db.select({ n: count() }).from(payments)
  const [e] = await app.ctx.db.select({ n: count() }).from(paymentEvents)
  return { payments: Number(p?.n ?? 0), events: Number(e?.n ?? 0) }
}

/** The fields of a fiat-priced payment a test reads through GraphQL. */
export const pricedPaymentFields = `id status address amountDue amountReceived amountRemaining overpaidAmount
  price { amount currency } rate rateLockedUntil amountReceivedFiat amountRemainingFiat overpaidFiat
  events { seq type data }`

/**
 * `createPayment` through GraphQL with a fiat price; answers the `CreatePaymentResult` (a payload or a
 * `UserError`) and the top-level errors.
 *
 * @example
 * const { result } = await createPricedPayment(app, key, { chain: 'devnet', asset: 'ETH', price: { amount: '25.00', currency: 'USD' } })
 */
export async function createPricedPayment(
  app: TestApp,
  key: string,
  input: Record<string, unknown>,
): Promise<{ result: any; errors: unknown }> {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      __typename
      ... on CreatePaymentPayload { payment { ${pricedPaymentFields} } }
      ... on UserError { code field message } } }`,
    { input },
    key,
  )
  return { result: res.data?.createPayment ?? null, errors: res.errors }
}

/**
 * One payment through GraphQL, with its price, rate, lock, fiat values and events.
 *
 * @example
 * const p = await pricedPayment(app, key, id)
 */
export async function pricedPayment(app: TestApp, key: string, id: string): Promise<any> {
  const res = await app.gql(`query ($id: ID!) { payment(id: $id) { ${pricedPaymentFields} } }`, { id }, key)
  if (res.errors) throw new Error(`payment query failed: ${JSON.stringify(res.errors)}`)
  return res.data.payment
}

/** A payment's row and its events, oldest first, as the database holds them. */
export type StoredPayment = {
  row: typeof payments.$inferSelect
  events: Array<typeof paymentEvents.$inferSelect>
}

/**
 * Waits until a payment, as stored, passes `check` (the chain worker and the expire job change it in the
 * background), then answers it through GraphQL. Polls the database, not the API (a query every poll would
 * spend the API key's query budget).
 *
 * @example
 * const done = await waitForPayment(app, key, id, ({ row }) => row.status === 'COMPLETED', 'COMPLETED')
 */
export function waitForPayment(
  app: TestApp,
  key: string,
  id: string,
  check: (stored: StoredPayment) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<any> {
  return waitFor(
    `${id}: ${what}`,
    async () => {
      const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, id))
      if (!row) return undefined
      const events = await app.ctx.db
        .select()
        .from(paymentEvents)
        .where(eq(paymentEvents.paymentId, id))
        .orderBy(asc(paymentEvents.seq))
      return check({ row, events }) ? pricedPayment(app, key, id) : undefined
    },
    timeoutMs,
  )
}
