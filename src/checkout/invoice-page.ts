import { formatFiat, formatRate } from './fiat.ts'
import { escapeHtml, jsonForScript, pageHead } from './html.ts'
import type { InvoiceView } from './invoice-view.ts'
import { invoiceNotes, invoiceStatusText, pricingNotes } from './messages.ts'

/** Statuses in which a method can still be chosen (and the rate lock and the expiry are counted down). */
const openStatuses: ReadonlySet<InvoiceView['status']> = new Set(['PENDING', 'PARTIALLY_PAID'])

/** ` hidden` when the element starts hidden. */
const hiddenIf = (hidden: boolean) => (hidden ? ' hidden' : '')

/** Where an invoice's method forms post. */
export const invoiceMethodsPath = (id: string) => `/pay/${encodeURIComponent(id)}/methods`

/**
 * One accepted asset as a form of its own: choosing it is a plain POST (no script needed) that lands on the
 * payment the method becomes. The client secret travels in the body, never in the form's URL.
 */
function methodForm(view: InvoiceView, m: InvoiceView['methods'][number], secret: string, embed: boolean) {
  const e = escapeHtml
  const currency = view.price.currency
  return `
    <li class="method" data-chain="${e(m.chain)}" data-symbol="${e(m.asset.symbol)}">
      <form method="post" action="${e(invoiceMethodsPath(view.id))}">
        <input type="hidden" name="secret" value="${e(secret)}">
        <input type="hidden" name="chain" value="${e(m.chain)}">
        <input type="hidden" name="asset" value="${e(m.asset.id)}">${embed ? '\n        <input type="hidden" name="embed" value="1">' : ''}
        <button type="submit" class="method-choice">
          <span class="method-amount">${e(m.amountDue)} ${e(m.asset.symbol)}</span>
          <span class="method-network">${e(m.asset.name)} on ${e(m.chain)} (${e(m.chainId)})</span>
          <span class="method-rate">1 ${e(m.asset.symbol)} = ${e(formatRate(m.rate, view.priceDecimals))} ${e(currency)}</span>
          <span class="method-action">${m.chosen ? 'Continue' : 'Pay'} with ${e(m.asset.symbol)}</span>
        </button>
      </form>
    </li>`
}

/**
 * The invoice page: the price, what arrived and what is left (in the price's currency), the rate lock's end,
 * and one form per accepted asset with what is owed in it. Complete without JavaScript; `/pay/assets/checkout.js`
 * only turns the lock's end and the expiry into countdowns. `error` is a refused choice, said above the methods.
 *
 * @example
 * new Response(renderInvoicePage(view, { clientSecret, embed: false }), { headers: { 'content-type': 'text/html' } })
 */
export function renderInvoicePage(
  view: InvoiceView,
  options: { clientSecret: string; embed: boolean; now?: Date; error?: string },
): string {
  const e = escapeHtml
  const now = options.now ?? new Date()
  const fiat = (text: string) => `${formatFiat(text, view.priceDecimals)} ${view.price.currency}`
  const open = openStatuses.has(view.status) && new Date(view.expiresAt).getTime() > now.getTime()
  const lockEnd = new Date(view.rateLockedUntil)
  const lockEnded = lockEnd.getTime() <= now.getTime()
  // the script's countdowns read the same fields as a payment's (status, price, rateLockedUntil, expiresAt)
  const state = {
    page: 'invoice',
    view: {
      id: view.id,
      status: view.status,
      price: view.price,
      priceDecimals: view.priceDecimals,
      rateLockedUntil: view.rateLockedUntil,
      expiresAt: view.expiresAt,
    },
    notes: pricingNotes,
  }
  const methods = open
    ? `
  <h2 class="methods-title" id="methods-title">Pay with</h2>
  <ul class="methods" id="methods" aria-labelledby="methods-title">${view.methods.map((m) => methodForm(view, m, options.clientSecret, options.embed)).join('')}
  </ul>`
    : ''
  return `${pageHead(`Pay ${fiat(view.price.amount)}`)}
<body${options.embed ? ' class="embed"' : ''}>
<main class="checkout invoice" aria-labelledby="checkout-title">
  <h1 id="checkout-title">Pay <span data-field="price">${e(fiat(view.price.amount))}</span></h1>
  <dl class="totals">
    <div><dt>Received</dt><dd id="received">${e(fiat(view.amountReceivedFiat))}</dd></div>
    <div><dt>Left to pay</dt><dd id="remaining">${e(fiat(view.amountRemainingFiat))}</dd></div>
  </dl>
  <div id="status" class="status" role="status" data-status="${e(view.status)}">
    <span class="dot" aria-hidden="true"></span><span id="status-text">${e(invoiceStatusText(view))}</span>
  </div>
  <p class="lock" id="rate-lock"${hiddenIf(!open || lockEnded)}><span id="rate-lock-label">${e(pricingNotes.lockedUntil)}</span> <time id="rate-countdown" datetime="${e(lockEnd.toISOString())}">${e(lockEnd.toUTCString())}</time></p>
  <p class="lock" id="rate-ended"${hiddenIf(!open || !lockEnded)}>${e(invoiceNotes.lockEnded)}</p>${options.error ? `\n  <p class="notice error" id="error" role="alert">${e(options.error)}</p>` : ''}${methods}
  <p class="expiry" id="expiry"${hiddenIf(!open)}>Expires <time id="countdown" datetime="${e(view.expiresAt)}">${e(new Date(view.expiresAt).toUTCString())}</time></p>
</main>
<script type="application/json" id="checkout-state">${jsonForScript(state)}</script>
<script src="/pay/assets/checkout.js" defer></script>
</body>
</html>
`
}
