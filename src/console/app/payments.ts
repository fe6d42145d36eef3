import { h } from 'preact'
import type { PageProps } from './ui.ts'

/**
 * The Payments page.
 *
 * @example
 * h(PaymentsPage, pageProps)
 */
export function PaymentsPage(_props: PageProps) {
  return h('main', { class: 'payments' }, h('h1', null, 'Payments'))
}
