import { h } from 'preact'
import type { PageProps } from './ui.ts'

/**
 * The People page.
 *
 * @example
 * h(PeoplePage, pageProps)
 */
export function PeoplePage(_props: PageProps) {
  return h('main', { class: 'people' }, h('h1', null, 'People'))
}
