import { useEffect, useState } from 'preact/hooks'

/** The console's pages; each is a hash route (`#/payments/pay_1`), so the server serves one shell for all. */
export const pageNames = [
  'overview',
  'payments',
  'withdrawals',
  'compliance',
  'multisig',
  'webhooks',
  'api-keys',
  'audit',
  'people',
  'account',
] as const

/** One of the console's pages. */
export type PageName = (typeof pageNames)[number]

/** Where the console is: a page and, for a detail view, the id it shows. */
export type Route = { page: PageName; id: string | null }

/**
 * The route a location hash names; anything unknown is the overview.
 *
 * @example
 * parseRoute('#/payments/pay_1') // { page: 'payments', id: 'pay_1' }
 * parseRoute('#/nonsense') // { page: 'overview', id: null }
 */
export function parseRoute(hash: string): Route {
  const [name = '', rawId] = hash.replace(/^#\/?/, '').split('/')
  const page = (pageNames as readonly string[]).includes(name) ? (name as PageName) : 'overview'
  let id: string | null = null
  try {
    id = rawId ? decodeURIComponent(rawId) : null
  } catch {
    id = null
  }
  return { page, id: id === '' ? null : id }
}

/**
 * The hash link of a page (and detail id), for `href`.
 *
 * @example
 * routeHref('payments', 'pay_1') // '#/payments/pay_1'
 */
export function routeHref(page: PageName, id?: string | null): string {
  return id ? `#/${page}/${encodeURIComponent(id)}` : `#/${page}`
}

/**
 * The current route, following the location hash (links, back and forward).
 *
 * @example
 * const route = useRoute()
 * if (route.page === 'payments' && route.id) showDetail(route.id)
 */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  useEffect(() => {
    const follow = () => setRoute(parseRoute(location.hash))
    addEventListener('hashchange', follow)
    return () => removeEventListener('hashchange', follow)
  }, [])
  return route
}
