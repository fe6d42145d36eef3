import { h } from 'preact'
import type { PageProps } from './ui.ts'

/**
 * The Audit log page.
 *
 * @example
 * h(AuditPage, pageProps)
 */
export function AuditPage(_props: PageProps) {
  return h('main', { class: 'audit' }, h('h1', null, 'Audit log'))
}
