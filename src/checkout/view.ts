import type { AppContext } from '../context.ts'
import { assetById, resolveChain } from '../core/chains.ts'
import { formatAmount } from '../core/money.ts'
import { getInvoice } from '../core/payments/invoice-method.ts'
import { currencyDecimals, fiatValue } from '../core/payments/pricing.ts'
import type { PaymentRow } from '../core/payments/queries.ts'
import {
  amountPending,
  amountRemaining,
  droppedDeposit,
  getPaymentForCheckout,
  listPaymentTransfers,
  overpaidAmount,
  paymentConfirmations,
  paymentUriOf,
} from '../core/payments/views.ts'

/**
 * What a payer's page shows. The field names are those of the GraphQL `CheckoutPayment` the page subscribes to
 * (`paymentUpdated`: the fields a client secret opens, and nothing of the merchant's), so the first render (from
 * the server) and every live update (from the subscription) go through one function. A payment priced in a fiat
 * currency has its price, rate and lock and fiat values of the amounts; one priced in the asset has nulls there.
 */
export type CheckoutView = {
  id: string
  status: PaymentRow['status']
  chain: string
  chainId: string
  asset: { symbol: string; name: string; decimals: number; native: boolean; contract: string | null }
  amountDue: string
  amountReceived: string
  /** Deposits the mempool shows, not in a block yet. */
  amountPending: string
  /** Why the latest deposit the mempool showed left it unmined, if one did. */
  droppedDeposit: 'replaced' | 'double_spent' | 'dropped' | null
  amountRemaining: string
  overpaidAmount: string
  confirmations: number
  confirmationsRequired: number
  address: string
  paymentUri: string
  expiresAt: string
  price: { amount: string; currency: string } | null
  /**
   * The price currency's minor units, to show fiat values with (2 for USD, 0 for JPY). Not a GraphQL field: a
   * live update leaves it as the first render set it (a payment's currency never changes).
   */
  priceDecimals: number | null
  /** Fiat per whole unit of the asset, as quoted. */
  rate: string | null
  /** Until when the amount due holds; unpaid after it, the amount is quoted again. */
  rateLockedUntil: string | null
  amountReceivedFiat: string | null
  amountRemainingFiat: string | null
  overpaidFiat: string | null
  /**
   * For a payment that is one method of an invoice, the invoice's page (`/pay/inv_…?secret=…`, the invoice's own
   * secret) where the buyer can choose another asset; null otherwise. Not a GraphQL field: a live update leaves
   * it as the first render set it.
   */
  invoicePath: string | null
}

/**
 * The checkout view of a payment, or undefined when the id or the client secret does not match.
 *
 * @example
 * const view = await loadCheckoutView(app, 'pay_…', clientSecret)
 */
export async function loadCheckoutView(
  app: Pick<AppContext, 'db' | 'chains'>,
  id: string,
  clientSecret: string,
): Promise<CheckoutView | undefined> {
  const payment = await getPaymentForCheckout(app, id, clientSecret)
  if (!payment) return undefined
  const chain = resolveChain(app.chains, payment.chain)
  const asset = assetById(app.chains, payment.chain, payment.asset)
  const transfers = await listPaymentTransfers(app, payment)
  const format = (units: bigint) => formatAmount(units, asset.decimals)
  const fiat = (units: bigint) => fiatValue(payment, units, asset.decimals)
  const priced = payment.priceAmount !== null && payment.priceCurrency !== null
  // the invoice's secret comes from its row, looked up as its merchant: nothing the request carries picks it
  const invoice = payment.invoiceId
    ? await getInvoice(app, { merchantId: payment.merchantId }, payment.invoiceId)
    : undefined
  return {
    id: payment.id,
    status: payment.status,
    chain: payment.chain,
    chainId: chain.driver.chainId,
    asset: {
      symbol: asset.symbol,
      name: asset.name,
      decimals: asset.decimals,
      native: asset.native,
      contract: asset.contract ?? null,
    },
    amountDue: format(payment.amountDue),
    amountReceived: format(payment.amountReceived),
    amountPending: format(amountPending(transfers)),
    droppedDeposit: droppedDeposit(transfers),
    amountRemaining: format(amountRemaining(payment)),
    overpaidAmount: format(overpaidAmount(payment)),
    confirmations: paymentConfirmations(transfers, payment.confirmationsRequired),
    confirmationsRequired: payment.confirmationsRequired,
    address: payment.address,
    paymentUri: paymentUriOf(app.chains, payment),
    expiresAt: payment.expiresAt.toISOString(),
    price: priced
      ? { amount: payment.priceAmount as string, currency: payment.priceCurrency as string }
      : null,
    priceDecimals: priced ? currencyDecimals(payment.priceCurrency) : null,
    rate: payment.rate,
    rateLockedUntil: payment.rateLockedUntil?.toISOString() ?? null,
    amountReceivedFiat: fiat(payment.amountReceived),
    amountRemainingFiat: fiat(amountRemaining(payment)),
    overpaidFiat: fiat(overpaidAmount(payment)),
    invoicePath: invoice
      ? `/pay/${encodeURIComponent(invoice.id)}?secret=${encodeURIComponent(invoice.clientSecret)}`
      : null,
  }
}
