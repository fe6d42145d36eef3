import type { CheckoutView } from './view.ts'

/**
 * What the payer reads for each status. `{name}` placeholders take the view's values; the page's script gets
 * this table too, so the first render and live updates say the same words.
 */
export const statusMessages: Record<CheckoutView['status'], string> = {
  PENDING: 'Waiting for your payment',
  PARTIALLY_PAID: 'Partially paid: {amountRemaining} {symbol} still to send',
  PROCESSING: 'Payment received, confirming ({confirmations} of {confirmationsRequired})',
  COMPLETED: 'Payment complete. Thank you!',
  EXPIRED: 'This payment has expired. Do not send funds to this address.',
  UNDERPAID: 'Expired with {amountReceived} of {amountDue} {symbol} received. Contact the merchant.',
  HELD: 'Payment received and under review by the merchant.',
  REJECTED: 'This payment could not be accepted. Contact the merchant.',
}

/**
 * The payer-facing sentence for a view's status.
 *
 * @example
 * statusText(view) // 'Partially paid: 0.5 USDT still to send'
 */
export function statusText(view: CheckoutView): string {
  const values: Record<string, string> = {
    amountRemaining: view.amountRemaining,
    amountReceived: view.amountReceived,
    amountDue: view.amountDue,
    symbol: view.asset.symbol,
    confirmations: String(view.confirmations),
    confirmationsRequired: String(view.confirmationsRequired),
  }
  return statusMessages[view.status].replace(/\{(\w+)\}/g, (_, key: string) => values[key] ?? '')
}
