import { formatFiat, formatRate } from './fiat.ts'
import { escapeHtml, jsonForScript, pageHead } from './html.ts'
import {
  fillTemplate,
  invoiceNotes,
  mempoolNotes,
  pricedStatusMessages,
  pricingNotes,
  statusMessages,
  statusText,
} from './messages.ts'
import { qrSvg } from './qr.ts'
import type { CheckoutView } from './view.ts'

/** Shortens a long hex string for display (`0x5FbD…0aa3`); the full value stays one copy away. */
function shorten(value: string): string {
  return value.length > 20 ? `${value.slice(0, 8)}…${value.slice(-6)}` : value
}

/** Statuses still waiting for money: the only ones with a deadline to count down and a rate lock that matters. */
const waitingStatuses: ReadonlySet<CheckoutView['status']> = new Set(['PENDING', 'PARTIALLY_PAID'])

/** ` hidden` when the element starts hidden. */
const hiddenIf = (hidden: boolean) => (hidden ? ' hidden' : '')

/**
 * What a fiat-priced payment adds to the page: the price as the heading, the amount in the asset under it, the
 * rate, and the lock's end (a `<time>`, which the script turns into a countdown), or, once the lock ran out and no
 * new quote came yet, that the amount will be updated at the current rate.
 */
function pricedParts(view: CheckoutView, now: Date) {
  const e = escapeHtml
  const { asset } = view
  const price = view.price as NonNullable<CheckoutView['price']>
  const decimals = view.priceDecimals ?? 0
  const waiting = waitingStatuses.has(view.status)
  const lockEnd = view.rateLockedUntil ? new Date(view.rateLockedUntil) : undefined
  const lockEnded = lockEnd !== undefined && lockEnd.getTime() <= now.getTime()
  const lockTime = lockEnd
    ? `<time id="rate-countdown" datetime="${e(lockEnd.toISOString())}">${e(lockEnd.toUTCString())}</time>`
    : '<time id="rate-countdown"></time>'
  const overpaid = view.overpaidAmount !== '0'
  return {
    title: `${formatFiat(price.amount, decimals)} ${price.currency}`,
    heading: `Pay <span data-field="price">${e(formatFiat(price.amount, decimals))} ${e(price.currency)}</span>`,
    quote: `
  <div class="quote" id="quote">
    <p class="quote-amount"><span data-field="amountDue">${e(view.amountDue)}</span> ${e(asset.symbol)}</p>
    <p class="rate" id="rate">1 ${e(asset.symbol)} = <span data-field="rate">${e(formatRate(view.rate ?? '', decimals))}</span> ${e(price.currency)}</p>
    <p class="lock" id="rate-lock"${hiddenIf(!waiting || lockEnded || !lockEnd)}><span id="rate-lock-label">${e(pricingNotes.lockedUntil)}</span> ${lockTime}</p>
    <p class="lock" id="rate-ended"${hiddenIf(!waiting || !lockEnded)}>${e(pricingNotes.lockEnded)}</p>
    <p class="notice" id="requoted" role="status" hidden></p>
  </div>`,
    overpaid: `
  <p class="notice" id="overpaid"${hiddenIf(!overpaid)}>${overpaid ? e(fillTemplate(pricingNotes.overpaid, view)) : ''}</p>`,
  }
}

/** The note on a deposit that left the mempool unmined, while the payment waits for funds again. */
function mempoolNotice(view: CheckoutView): string | null {
  return view.droppedDeposit && (view.status === 'PENDING' || view.status === 'PARTIALLY_PAID')
    ? mempoolNotes[view.droppedDeposit]
    : null
}

/**
 * The checkout page: complete without JavaScript (amount, address, QR, the status at load; for a fiat-priced
 * payment the price, rate and the rate lock's end too), then kept live by `/pay/assets/checkout.js` through the
 * `paymentUpdated` subscription.
 *
 * @example
 * new Response(renderCheckoutPage(view, { clientSecret, embed: false }), { headers: { 'content-type': 'text/html' } })
 */
export function renderCheckoutPage(
  view: CheckoutView,
  options: { clientSecret: string; embed: boolean; now?: Date },
): string {
  const { asset } = view
  const e = escapeHtml
  const state = {
    view,
    clientSecret: options.clientSecret,
    embed: options.embed,
    messages: statusMessages,
    pricedMessages: pricedStatusMessages,
    notes: pricingNotes,
    mempoolNotes,
  }
  const priced = view.price ? pricedParts(view, options.now ?? new Date()) : undefined
  const network = asset.contract
    ? `${e(view.chain)} (${e(view.chainId)}) · token contract <code title="${e(asset.contract)}">${e(shorten(asset.contract))}</code>`
    : `${e(view.chain)} (${e(view.chainId)})`
  return `${pageHead(`Pay ${priced ? priced.title : `${view.amountDue} ${asset.symbol}`}`)}
<body${options.embed ? ' class="embed"' : ''}>
<main class="checkout" aria-labelledby="checkout-title">
  <h1 id="checkout-title">${priced ? priced.heading : `Pay <span data-field="amountDue">${e(view.amountDue)}</span> ${e(asset.symbol)}`}</h1>${priced ? priced.quote : ''}
  <p class="network">${e(asset.name)} on ${network}</p>
  <div id="status" class="status" role="status" aria-live="polite" data-status="${e(view.status)}">
    <span class="dot" aria-hidden="true"></span><span id="status-text">${e(statusText(view))}</span>
  </div>${priced ? priced.overpaid : ''}
  <p class="notice" id="mempool"${hiddenIf(!mempoolNotice(view))}>${e(mempoolNotice(view) ?? '')}</p>
  <div class="qr-block">
    <a id="wallet-link" class="qr" href="${e(view.paymentUri)}" aria-label="Open the payment in a wallet app">
      <span id="qr">${qrSvg(view.paymentUri, { label: `QR code of the payment link for ${view.amountDue} ${asset.symbol}` })}</span>
    </a>
  </div>
  <div class="field">
    <label for="address">Send ${e(asset.symbol)} to this address</label>
    <div class="copy-row">
      <input id="address" readonly value="${e(view.address)}" spellcheck="false" autocomplete="off">
      <button type="button" class="copy" data-copy="address">Copy</button>
    </div>
  </div>
  <div class="field">
    <label for="amount">Amount to send</label>
    <div class="copy-row">
      <input id="amount" readonly value="${e(view.status === 'PARTIALLY_PAID' ? view.amountRemaining : view.amountDue)}" inputmode="decimal">
      <button type="button" class="copy" data-copy="amount">Copy</button>
    </div>
  </div>
  <p class="expiry" id="expiry">Expires <time id="countdown" datetime="${e(view.expiresAt)}">${e(new Date(view.expiresAt).toUTCString())}</time></p>${
    view.invoicePath
      ? `\n  <p class="other-method"><a id="other-method" href="${e(`${view.invoicePath}${options.embed ? '&embed=1' : ''}`)}">${e(invoiceNotes.otherMethod)}</a></p>`
      : ''
  }
  <p class="live" id="live" hidden></p>
  <p class="live" id="copied" aria-live="polite"></p>
</main>
<script type="application/json" id="checkout-state">${jsonForScript(state)}</script>
<script src="/pay/assets/checkout.js" defer></script>
</body>
</html>
`
}
