import type { RefundRow } from '../db/schema/index.ts'
import { escapeHtml, pageHead } from './html.ts'

/** What the buyer reads on a refund's page for each status. */
export const refundStatusText: Record<RefundRow['status'], string> = {
  AWAITING_ADDRESS: 'Enter the address your refund should be sent to.',
  PENDING: 'Your refund is on its way: it is being prepared for sending.',
  SENT: 'Your refund was sent and is waiting for confirmation.',
  CONFIRMED: 'Your refund was sent and confirmed.',
  FAILED: 'Your refund could not be sent. Contact the merchant.',
  CANCELED: 'The merchant canceled this refund. Contact the merchant.',
}

/** A refund as its page shows it: amounts already formatted, no secret but the one the form carries back. */
export type RefundPageView = {
  id: string
  status: RefundRow['status']
  amount: string
  symbol: string
  chainName: string
  to: string | null
  txHash: string | null
}

/** Where a refund's address form posts. */
export const refundFormPath = (id: string) => `/refund/${encodeURIComponent(id)}`

/**
 * The refund link's page: the amount and, while the link is unused, one form asking for the address (a plain
 * POST: no script); afterwards what became of the refund. `error` is why an address was refused (shown above the
 * form again) or why the link took none (it was used: shown above where the refund goes).
 *
 * @example
 * renderRefundPage(view, { secret, error: 'not a valid devnet address' })
 */
export function renderRefundPage(view: RefundPageView, options: { secret: string; error?: string }): string {
  const e = escapeHtml
  const open = view.status === 'AWAITING_ADDRESS'
  const error = options.error
    ? `\n  <p class="notice error" id="refund-error" role="alert">${e(options.error)}</p>`
    : ''
  const form = open
    ? `
  <form method="post" action="${e(refundFormPath(view.id))}" id="refund-form">
    <input type="hidden" name="secret" value="${e(options.secret)}">
    <label for="refund-to">Your ${e(view.chainName)} address</label>
    <input id="refund-to" name="to" type="text" required maxlength="200" autocomplete="off" spellcheck="false" aria-describedby="refund-warning">
    <p class="notice" id="refund-warning">Check it twice: the link works once, and a refund cannot be taken back.</p>
    <button type="submit" id="refund-submit">Send my refund</button>
  </form>`
    : `
  <dl class="refund-details">
    <dt>Sent to</dt><dd class="address" id="refund-address">${e(view.to ?? '')}</dd>${
      view.txHash ? `\n    <dt>Transaction</dt><dd class="address" id="refund-tx">${e(view.txHash)}</dd>` : ''
    }
  </dl>`
  return `${pageHead(`Refund of ${view.amount} ${view.symbol}`)}
<body>
<main class="checkout refund" data-status="${e(view.status)}">
  <h1>Refund of <span id="refund-amount">${e(view.amount)}</span> ${e(view.symbol)}</h1>
  <p class="status" id="refund-status" role="status">${e(refundStatusText[view.status])}</p>${error}${form}
</main>
</body>
</html>
`
}
