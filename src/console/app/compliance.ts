import { h } from 'preact'
import type { PageProps } from './ui.ts'

/**
 * The Compliance page.
 *
 * @example
 * h(CompliancePage, pageProps)
 */
export function CompliancePage(_props: PageProps) {
  return h('main', { class: 'compliance' }, h('h1', null, 'Compliance'))
}
