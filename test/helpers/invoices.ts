import { asc, count, eq, ne } from 'drizzle-orm'
import { invoiceEvents, invoices, paymentEvents, payments } from '../../src/db/schema/index.ts'
import type { TestApp } from './app.ts'
import { waitFor } from './processes.ts'

/** The fields of an invoice a test reads through GraphQL (the merchant's view). */
export const invoiceFields = `id status price { amount currency } priceTolerance amountReceivedFiat
  amountConfirmedFiat amountRemainingFiat rateLockedUntil expiresAt completedAt clientSecret checkoutUrl
  methods { chain asset { symbol decimals } amountDue rate rateSources rateAt }
  payments { id status chain asset { symbol } amountDue amountReceived rate price { amount currency } }`

/** The fields of the payment a chosen method became, as the buyer sees it. */
export const chosenFields = `id status chain asset { symbol } address amountDue amountReceived amountRemaining
  price { amount currency } rate rateSources rateLockedUntil amountReceivedFiat amountRemainingFiat`

/**
 * `createPayment` with a price and no chain or asset (an invoice) through GraphQL; answers the
 * `CreatePaymentResult` (a `CreateInvoicePayload` or a `UserError`) and the top-level errors.
 *
 * @example
 * const { result } = await createInvoiceGql(app, key, { price: { amount: '25.00', currency: 'USD' } })
 */
export async function createInvoiceGql(
  app: TestApp,
  key: string,
  input: Record<string, unknown>,
): Promise<{ result: any; errors: unknown }> {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      __typename
      ... on CreateInvoicePayload { replayed invoice { ${invoiceFields} } }
      ... on CreatePaymentPayload { payment { id } }
      ... on UserError { code field message } } }`,
    { input },
    key,
  )
  return { result: res.data?.createPayment ?? null, errors: res.errors }
}

/**
 * `choosePaymentMethod` through GraphQL: with `clientSecret` in `input` as the buyer (no API key), else with
 * `key` as the merchant. Answers the `ChoosePaymentMethodResult` and the top-level errors.
 *
 * @example
 * const { result } = await chooseMethod(app, null, { invoiceId, chain: 'devnet', asset: 'USDT', clientSecret })
 */
export async function chooseMethod(
  app: TestApp,
  key: string | null,
  input: Record<string, unknown>,
): Promise<{ result: any; errors: unknown }> {
  const res = await app.gql(
    `mutation ($input: ChoosePaymentMethodInput!) { choosePaymentMethod(input: $input) {
      __typename
      ... on ChosenPaymentMethod { clientSecret checkoutUrl payment { ${chosenFields} } }
      ... on UserError { code field message } } }`,
    { input },
    key,
  )
  return { result: res.data?.choosePaymentMethod ?? null, errors: res.errors }
}

/**
 * One invoice through GraphQL with the merchant's key.
 *
 * @example
 * const invoice = await invoiceOf(app, key, 'inv_…')
 */
export async function invoiceOf(app: TestApp, key: string, id: string): Promise<any> {
  const res = await app.gql(`query ($id: ID!) { invoice(id: $id) { ${invoiceFields} } }`, { id }, key)
  if (res.errors) throw new Error(`invoice query failed: ${JSON.stringify(res.errors)}`)
  return res.data.invoice
}

/** An invoice's row and its events, oldest first, as the database holds them. */
export type StoredInvoice = {
  row: typeof invoices.$inferSelect
  events: Array<typeof invoiceEvents.$inferSelect>
}

/**
 * Waits until an invoice, as stored, passes `check` (the chain worker and the expire job change it in the
 * background), then answers it through GraphQL. Polls the database, not the API, so the key's query budget
 * is not spent on polling.
 *
 * @example
 * const done = await waitForInvoice(app, key, id, ({ row }) => row.status === 'COMPLETED', 'COMPLETED')
 */
export function waitForInvoice(
  app: TestApp,
  key: string,
  id: string,
  check: (stored: StoredInvoice) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<any> {
  return waitFor(
    `${id}: ${what}`,
    async () => {
      const [row] = await app.ctx.db.select().from(invoices).where(eq(invoices.id, id))
      if (!row) return undefined
      const events = await app.ctx.db
        .select()
        .from(invoiceEvents)
        .where(eq(invoiceEvents.invoiceId, id))
        .orderBy(asc(invoiceEvents.seq))
      return check({ row, events }) ? invoiceOf(app, key, id) : undefined
    },
    timeoutMs,
  )
}

/**
 * How many invoices, payments and their events the database holds (to show a refused request wrote nothing).
 * `invoice.requoted` events are left out: the expire job writes one for every open invoice whose lock ran out,
 * whatever a test's requests do.
 *
 * @example
 * const before = await invoiceRows(app)
 */
export async function invoiceRows(app: TestApp) {
  const n = async (table: typeof invoices | typeof payments | typeof paymentEvents) =>
    Number((await app.ctx.db.select({ n: count() }).from(table))[0]?.n ?? 0)
  const [events] = await app.ctx.db
    .select({ n: count() })
    .from(invoiceEvents)
    .where(ne(invoiceEvents.type, 'invoice.requoted'))
  return {
    invoices: await n(invoices),
    invoiceEvents: Number(events?.n ?? 0),
    payments: await n(payments),
    paymentEvents: await n(paymentEvents),
  }
}

/**
 * A merchant's available balances through GraphQL, keyed `chain:SYMBOL`.
 *
 * @example
 * expect(await balancesOf(app, key)).toEqual({ 'devnet:USDT': '25' })
 */
export async function balancesOf(app: TestApp, key: string): Promise<Record<string, string>> {
  const res = await app.gql('{ balances { chain asset { symbol } available } }', {}, key)
  if (res.errors) throw new Error(`balances query failed: ${JSON.stringify(res.errors)}`)
  return Object.fromEntries(
    (res.data.balances as Array<{ chain: string; asset: { symbol: string }; available: string }>)
      .filter((b) => b.available !== '0')
      .map((b) => [`${b.chain}:${b.asset.symbol}`, b.available]),
  )
}
