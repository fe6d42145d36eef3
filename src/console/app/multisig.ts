import { h } from 'preact'
import type { PageProps } from './ui.ts'

/**
 * The Multisig proposals page.
 *
 * @example
 * h(MultisigPage, pageProps)
 */
export function MultisigPage(_props: PageProps) {
  return h('main', { class: 'multisig' }, h('h1', null, 'Multisig proposals'))
}
