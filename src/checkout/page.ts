import { escapeHtml, jsonForScript } from './html.ts'
import { statusMessages, statusText } from './messages.ts'
import { qrSvg } from './qr.ts'
import type { CheckoutView } from './view.ts'

/** Shortens a long hex string for display (`0x5FbD…0aa3`); the full value stays one copy away. */
function shorten(value: string): string {
  return value.length > 20 ? `${value.slice(0, 8)}…${value.slice(-6)}` : value
}

/**
 * The checkout page: complete without JavaScript (amount, address, QR, the status at load), then kept live by
 * `/pay/assets/checkout.js` through the `paymentUpdated` subscription.
 *
 * @example
 * new Response(renderCheckoutPage(view, { clientSecret, embed: false }), { headers: { 'content-type': 'text/html' } })
 */
export function renderCheckoutPage(
  view: CheckoutView,
  options: { clientSecret: string; embed: boolean },
): string {
  const { asset } = view
  const e = escapeHtml
  const state = { view, clientSecret: options.clientSecret, embed: options.embed, messages: statusMessages }
  const network = asset.contract
    ? `${e(view.chain)} (${e(view.chainId)}) · token contract <code title="${e(asset.contract)}">${e(shorten(asset.contract))}</code>`
    : `${e(view.chain)} (${e(view.chainId)})`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>Pay ${e(view.amountDue)} ${e(asset.symbol)}</title>
<link rel="stylesheet" href="/pay/assets/checkout.css">
<link rel="icon" href="data:,">
</head>
<body${options.embed ? ' class="embed"' : ''}>
<main class="checkout" aria-labelledby="checkout-title">
  <h1 id="checkout-title">Pay <span data-field="amountDue">${e(view.amountDue)}</span> ${e(asset.symbol)}</h1>
  <p class="network">${e(asset.name)} on ${network}</p>
  <div id="status" class="status" role="status" aria-live="polite" data-status="${e(view.status)}">
    <span class="dot" aria-hidden="true"></span><span id="status-text">${e(statusText(view))}</span>
  </div>
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
  <p class="expiry" id="expiry">Expires <time id="countdown" datetime="${e(view.expiresAt)}">${e(new Date(view.expiresAt).toUTCString())}</time></p>
  <p class="live" id="live" hidden></p>
  <p class="live" id="copied" aria-live="polite"></p>
</main>
<script type="application/json" id="checkout-state">${jsonForScript(state)}</script>
<script src="/pay/assets/checkout.js" defer></script>
</body>
</html>
`
}
