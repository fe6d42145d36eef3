import { h } from 'preact'
import { type PageName, routeHref } from './route.ts'

/** The console's pages in the menu, each with the scopes any of which shows it (empty: every signed-in role). */
const entries: Array<{ page: PageName; label: string; anyOf: string[] }> = [
  { page: 'overview', label: 'Overview', anyOf: [] },
  { page: 'payments', label: 'Payments', anyOf: ['payments:read'] },
  { page: 'withdrawals', label: 'Withdrawals', anyOf: ['payments:read'] },
  { page: 'compliance', label: 'Compliance', anyOf: ['compliance:review', 'admin'] },
  { page: 'multisig', label: 'Multisig', anyOf: ['admin'] },
  { page: 'webhooks', label: 'Webhooks', anyOf: ['webhooks:write', 'admin'] },
  { page: 'api-keys', label: 'API keys', anyOf: ['admin'] },
  { page: 'audit', label: 'Audit log', anyOf: ['admin'] },
  { page: 'people', label: 'People', anyOf: ['admin'] },
  { page: 'account', label: 'Your account', anyOf: [] },
]

/**
 * Whether a user with `scopes` sees `page` in the menu (the API decides what they may read or do; the menu only
 * leaves out what would answer FORBIDDEN).
 *
 * @example
 * pageVisible('audit', new Set(['payments:read'])) // false
 */
export function pageVisible(page: PageName, scopes: ReadonlySet<string>): boolean {
  const entry = entries.find((e) => e.page === page)
  return !entry || entry.anyOf.length === 0 || entry.anyOf.some((s) => scopes.has(s))
}

/**
 * The menu of pages the user's scopes open, the current one marked for assistive technology.
 *
 * @example
 * h(Nav, { current: 'payments', scopes })
 */
export function Nav(props: { current: PageName; scopes: ReadonlySet<string> }) {
  return h(
    'nav',
    { class: 'menu', 'aria-label': 'Console pages' },
    h(
      'ul',
      null,
      entries
        .filter((e) => pageVisible(e.page, props.scopes))
        .map((e) =>
          h(
            'li',
            { key: e.page },
            h(
              'a',
              { href: routeHref(e.page), 'aria-current': e.page === props.current ? 'page' : undefined },
              e.label,
            ),
          ),
        ),
    ),
  )
}
