import { h } from 'preact'
import type { PageProps } from './ui.ts'

/**
 * The API keys page.
 *
 * @example
 * h(ApiKeysPage, pageProps)
 */
export function ApiKeysPage(_props: PageProps) {
  return h('main', { class: 'api-keys' }, h('h1', null, 'API keys'))
}
