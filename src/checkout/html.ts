/**
 * Escapes text for HTML element content and double-quoted attribute values.
 *
 * @example
 * escapeHtml('<b>"x"</b>') // '&lt;b&gt;&quot;x&quot;&lt;/b&gt;'
 */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )
}

/**
 * JSON safe to place inside `<script type="application/json">`: no `<` can close the element early.
 *
 * @example
 * jsonForScript({ note: '</script>' }) // '{"note":"\\u003c/script>"}'
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
}

/**
 * The head every checkout page shares (no referrer, not indexed, the checkout's own stylesheet), from the doctype
 * to `</head>`; the title is escaped here.
 *
 * @example
 * `${pageHead('Pay 1.5 ETH')}<body>…</body></html>`
 */
export function pageHead(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/pay/assets/checkout.css">
<link rel="icon" href="data:,">
</head>`
}

/**
 * The page a wrong id and a wrong secret both get: it tells nothing of what exists.
 *
 * @example
 * notFoundPage('Refund') // '<!doctype html>… Refund not found …'
 */
export function notFoundPage(what: 'Payment' | 'Refund'): string {
  return `${pageHead(`${what} not found`)}
<body><main class="checkout"><h1>${what} not found</h1><p>Check the link you were given, or ask the merchant for a new one.</p></main></body></html>`
}
