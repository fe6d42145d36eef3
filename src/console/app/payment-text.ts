import { h } from 'preact'

// What the payments pages share: the statuses, the fields a listed payment shows, amounts in words, and links to
// a block explorer that can only ever be http(s) pages.

/** Every payment status, in the order a payment usually moves through them. */
export const paymentStatuses = [
  'PENDING',
  'PARTIALLY_PAID',
  'PROCESSING',
  'HELD',
  'COMPLETED',
  'UNDERPAID',
  'EXPIRED',
  'REJECTED',
  'CANCELED',
] as const

/** A payment as the list shows it. */
export type PaymentSummary = {
  id: string
  status: string
  chain: string
  amountDue: string
  asset: { symbol: string }
  orderId: string | null
  address: string
  exception: string | null
  createdAt: string
}

/** The GraphQL selection of a `PaymentSummary`. */
export const summaryFields = 'id status chain amountDue asset { symbol } orderId address exception createdAt'

/**
 * A status as people read it.
 *
 * @example
 * statusText('PARTIALLY_PAID') // 'Partially paid'
 */
export function statusText(status: string): string {
  const words = status.toLowerCase().replaceAll('_', ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/**
 * Base units (a decimal string of an integer) in whole units of an asset with `decimals`, exactly (no floats).
 *
 * @example
 * baseToUnits('1500000000000000000', 18) // '1.5'
 * baseToUnits('12', 6) // '0.000012'
 */
export function baseToUnits(base: string, decimals: number): string {
  if (!/^-?\d+$/.test(base) || decimals <= 0) return base
  const negative = base.startsWith('-')
  const digits = (negative ? base.slice(1) : base).padStart(decimals + 1, '0')
  const whole = digits.slice(0, -decimals).replace(/^0+(?=\d)/, '')
  const fraction = digits.slice(-decimals).replace(/0+$/, '')
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}

/**
 * `url` when it is an absolute http: or https: URL, else null: the only links the console renders from what the
 * API answers (a javascript: or data: URL is never made a link, whatever the server says).
 *
 * @example
 * safeHttpUrl('https://etherscan.io/tx/0xab') // 'https://etherscan.io/tx/0xab'
 * safeHttpUrl('javascript:alert(1)') // null
 */
export function safeHttpUrl(url: string | null | undefined): string | null {
  if (!url) return null
  try {
    const parsed = new URL(url)
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null
  } catch {
    return null
  }
}

/**
 * A link to another site (a block explorer) that opens in a new tab without handing it this page; nothing when
 * `url` is not an http(s) URL.
 *
 * @example
 * h(ExternalLink, { url: transfer.explorerUrl, label: 'View on explorer', describedAs: `Transaction ${hash}` })
 */
export function ExternalLink(props: { url: string | null | undefined; label: string; describedAs?: string }) {
  const href = safeHttpUrl(props.url)
  if (!href) return null
  return h(
    'a',
    {
      href,
      target: '_blank',
      rel: 'noopener noreferrer',
      class: 'external',
      'aria-label': props.describedAs ? `${props.label}: ${props.describedAs}` : undefined,
    },
    props.label,
  )
}

/**
 * Random hex for an idempotency key (crypto.getRandomValues works on plain http too, unlike randomUUID).
 *
 * @example
 * const key = randomKey() // 'console-3f9a…'
 */
export function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`
}
