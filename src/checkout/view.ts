import type { AppContext } from '../context.ts'
import { assetById, resolveChain } from '../core/chains.ts'
import { formatAmount } from '../core/money.ts'
import type { PaymentRow } from '../core/payments/queries.ts'
import {
  amountRemaining,
  getPaymentForCheckout,
  listPaymentTransfers,
  paymentConfirmations,
  paymentUriOf,
} from '../core/payments/views.ts'

/**
 * What a payer's page shows. The field names are those of the GraphQL `CheckoutPayment` the page subscribes to
 * (`paymentUpdated`: the fields a client secret opens, and nothing of the merchant's), so the first render (from
 * the server) and every live update (from the subscription) go through one function.
 */
export type CheckoutView = {
  id: string
  status: PaymentRow['status']
  chain: string
  chainId: string
  asset: { symbol: string; name: string; decimals: number; native: boolean; contract: string | null }
  amountDue: string
  amountReceived: string
  amountRemaining: string
  confirmations: number
  confirmationsRequired: number
  address: string
  paymentUri: string
  expiresAt: string
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
    amountRemaining: format(amountRemaining(payment)),
    confirmations: paymentConfirmations(transfers, payment.confirmationsRequired),
    confirmationsRequired: payment.confirmationsRequired,
    address: payment.address,
    paymentUri: paymentUriOf(app.chains, payment),
    expiresAt: payment.expiresAt.toISOString(),
  }
}
