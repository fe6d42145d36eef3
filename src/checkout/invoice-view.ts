import type { AppContext } from '../context.ts'
import { formatAmount } from '../core/money.ts'
import type { InvoiceRow } from '../core/payments/invoice-create.ts'
import { getInvoice, invoicePayments } from '../core/payments/invoice-method.ts'
import { owedInAsset, storedOwed } from '../core/payments/invoice-status.ts'
import { currencyDecimals } from '../core/payments/pricing.ts'
import { formatDecimal } from '../core/pricing/decimal.ts'

/** One accepted asset as the buyer sees it: what is still owed in it at the invoice's quoted rate. */
export type InvoiceMethodView = {
  chain: string
  chainId: string
  /** The asset's CAIP-19 id (what the form posts) and how it reads. */
  asset: { id: string; symbol: string; name: string }
  /** What is still owed, in whole units of the asset (rounded up). */
  amountDue: string
  /** Fiat per whole unit of the asset, as quoted. */
  rate: string
  /** The buyer chose it before: choosing it again opens the same payment. */
  chosen: boolean
}

/**
 * What the invoice page shows: the buyer's fields of the GraphQL `CheckoutInvoice` (the merchant's order id and
 * metadata stay out), with the same amounts (`amountRemainingFiat` and each method's `amountDue`).
 */
export type InvoiceView = {
  id: string
  status: InvoiceRow['status']
  price: { amount: string; currency: string }
  /** The price currency's minor units (2 for USD, 0 for JPY). */
  priceDecimals: number
  amountReceivedFiat: string
  amountRemainingFiat: string
  rateLockedUntil: string
  expiresAt: string
  methods: InvoiceMethodView[]
}

/**
 * The invoice page's view of an invoice, or undefined when the id or the client secret does not match. A method
 * whose chain or asset the configuration no longer lists is left out (it could not be chosen).
 *
 * @example
 * const view = await loadInvoiceView(app, 'inv_…', clientSecret)
 */
export async function loadInvoiceView(
  app: Pick<AppContext, 'db' | 'chains'>,
  id: string,
  clientSecret: string,
): Promise<InvoiceView | undefined> {
  const invoice = await getInvoice(app, { clientSecret }, id)
  if (!invoice) return undefined
  const chosen = await invoicePayments(app, invoice.id)
  const owed = storedOwed(invoice)
  const decimals = currencyDecimals(invoice.priceCurrency)
  const methods: InvoiceMethodView[] = []
  for (const quote of invoice.methods) {
    const chain = app.chains.get(quote.chain)
    const asset = chain?.driver.assets.find((a) => a.id === quote.asset)
    if (!chain || !asset) continue
    const units = owedInAsset(owed, quote)
    methods.push({
      chain: quote.chain,
      chainId: chain.driver.chainId,
      asset: { id: asset.id, symbol: asset.symbol, name: asset.name },
      amountDue: formatAmount(units, quote.decimals),
      rate: quote.rate,
      chosen: chosen.some((p) => p.chain === quote.chain && p.asset === quote.asset),
    })
  }
  return {
    id: invoice.id,
    status: invoice.status,
    price: { amount: invoice.priceAmount, currency: invoice.priceCurrency },
    priceDecimals: decimals,
    amountReceivedFiat: invoice.amountReceivedFiat,
    amountRemainingFiat: formatDecimal(owed, decimals, 'ceil'),
    rateLockedUntil: invoice.rateLockedUntil.toISOString(),
    expiresAt: invoice.expiresAt.toISOString(),
    methods,
  }
}
