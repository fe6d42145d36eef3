import { formatFiat } from './fiat.ts'
import type { InvoiceView } from './invoice-view.ts'
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
  CANCELED: 'The merchant canceled this payment. Do not send funds to this address.',
}

/**
 * What the page says of the mempool: a payment its unconfirmed deposits cover, and a deposit that left the
 * mempool unmined while the payment waits again. The script gets these too.
 */
export const mempoolNotes = {
  unconfirmed: 'Payment received, waiting for confirmation',
  replaced: 'Your transaction was replaced by another one. Waiting for it.',
  double_spent:
    'The transaction we saw was spent elsewhere (double-spent) and will not arrive. Send the payment again.',
  dropped:
    'The transaction we saw left the network without being confirmed. If your wallet shows it as failed, send the payment again.',
} as const

/**
 * For a payment priced in a fiat currency, the statuses that name an amount say its value in the currency too
 * (at the payment's rate, rounded down); the others read as in `statusMessages`.
 */
export const pricedStatusMessages: Partial<Record<CheckoutView['status'], string>> = {
  PARTIALLY_PAID:
    'Partially paid: {amountRemaining} {symbol} ({amountRemainingFiat} {currency}) still to send',
  UNDERPAID:
    'Expired with {amountReceived} of {amountDue} {symbol} received ({amountReceivedFiat} of {price} {currency}). Contact the merchant.',
}

/** The other sentences of a fiat-priced payment's page; the script gets them too. */
export const pricingNotes = {
  /** Beside the status, when more than the amount due arrived. */
  overpaid:
    'You sent {overpaidAmount} {symbol} ({overpaidFiat} {currency}) more than the amount due. Contact the merchant about the difference.',
  /** Before the lock's end time, without the script (which counts down instead: `lockedFor`). */
  lockedUntil: 'Rate locked until',
  lockedFor: 'Rate locked for',
  /** The lock ran out and the worker has not quoted again yet. */
  lockEnded: 'The rate lock has ended: the amount will be updated at the current rate.',
  /** Shown by the script when a new quote arrives. */
  requoted: 'The amount was updated at the current rate. Send the new amount.',
}

/** The values a template's `{name}` placeholders take: the view's, with fiat values formatted for reading. */
function templateValues(view: CheckoutView): Record<string, string> {
  const decimals = view.priceDecimals ?? 0
  const fiat = (text: string | null) => (text === null ? '' : formatFiat(text, decimals))
  return {
    amountRemaining: view.amountRemaining,
    amountReceived: view.amountReceived,
    amountDue: view.amountDue,
    overpaidAmount: view.overpaidAmount,
    symbol: view.asset.symbol,
    confirmations: String(view.confirmations),
    confirmationsRequired: String(view.confirmationsRequired),
    currency: view.price?.currency ?? '',
    price: fiat(view.price?.amount ?? null),
    amountReceivedFiat: fiat(view.amountReceivedFiat),
    amountRemainingFiat: fiat(view.amountRemainingFiat),
    overpaidFiat: fiat(view.overpaidFiat),
  }
}

/**
 * A template with the view's values in its `{name}` placeholders.
 *
 * @example
 * fillTemplate(pricingNotes.overpaid, view) // 'You sent 0.001 ETH (3.45 USD) more than the amount due. …'
 */
export function fillTemplate(template: string, view: CheckoutView): string {
  const values = templateValues(view)
  return template.replace(/\{(\w+)\}/g, (_, key: string) => values[key] ?? '')
}

/**
 * The payer-facing sentence for a view's status.
 *
 * @example
 * statusText(view) // 'Partially paid: 0.5 USDT still to send'
 */
export function statusText(view: CheckoutView): string {
  // seen in the mempool, in no block yet: the buyer's money is on its way, not yet confirming
  if (view.status === 'PROCESSING' && view.confirmations === 0 && view.amountPending !== '0')
    return mempoolNotes.unconfirmed
  const template = (view.price && pricedStatusMessages[view.status]) || statusMessages[view.status]
  return fillTemplate(template, view)
}

/**
 * What the buyer reads on an invoice's page for each status; `{name}` placeholders take the invoice's fiat values
 * (`{price}`, `{amountReceivedFiat}`, `{amountRemainingFiat}`, `{currency}`). The page is rendered once (choosing
 * a method leaves it), so only the server fills these.
 */
export const invoiceStatusMessages: Record<InvoiceView['status'], string> = {
  PENDING: 'Choose how you want to pay',
  PARTIALLY_PAID:
    'Partially paid: {amountRemainingFiat} {currency} still to pay. Pay the rest with any method below.',
  PROCESSING: 'Payment received, confirming',
  COMPLETED: 'Paid in full. Thank you!',
  EXPIRED: 'This invoice has expired. Do not send funds for it.',
  UNDERPAID: 'Expired with {amountReceivedFiat} of {price} {currency} received. Contact the merchant.',
  HELD: 'Payment received and under review by the merchant.',
  REJECTED: 'This payment could not be accepted. Contact the merchant.',
  CANCELED: 'The merchant canceled this invoice. Do not send funds for it.',
}

/** The other sentences of an invoice's page. */
export const invoiceNotes = {
  /** The lock ran out and the worker has not quoted the methods again yet. */
  lockEnded: 'The rate lock has ended: the method you choose is quoted at the current rate.',
  /** The link on the page of a payment that is one method of an invoice. */
  otherMethod: 'Pay with another method',
}

/**
 * The buyer-facing sentence for an invoice's status.
 *
 * @example
 * invoiceStatusText(view) // 'Partially paid: 12.50 USD still to pay. Pay the rest with any method below.'
 */
export function invoiceStatusText(view: InvoiceView): string {
  const fiat = (text: string) => formatFiat(text, view.priceDecimals)
  const values: Record<string, string> = {
    currency: view.price.currency,
    price: fiat(view.price.amount),
    amountReceivedFiat: fiat(view.amountReceivedFiat),
    amountRemainingFiat: fiat(view.amountRemainingFiat),
  }
  return invoiceStatusMessages[view.status].replace(/\{(\w+)\}/g, (_, key: string) => values[key] ?? '')
}
