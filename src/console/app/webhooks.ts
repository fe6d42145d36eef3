import { h } from 'preact'
import type { PageProps } from './ui.ts'

/**
 * The Webhooks page.
 *
 * @example
 * h(WebhooksPage, pageProps)
 */
export function WebhooksPage(_props: PageProps) {
  return h('main', { class: 'webhooks' }, h('h1', null, 'Webhooks'))
}
