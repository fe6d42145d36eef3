import { h } from 'preact'
import type { PageProps } from './ui.ts'

/**
 * The Withdrawals page.
 *
 * @example
 * h(WithdrawalsPage, pageProps)
 */
export function WithdrawalsPage(_props: PageProps) {
  return h('main', { class: 'withdrawals' }, h('h1', null, 'Withdrawals'))
}
