import type { QueryResult } from './api.ts'
import { type PaymentSummary, summaryFields } from './payment-text.ts'
import type { Query } from './ui.ts'

// The payments list as one request: all payments (optionally of one status), or a search asking every
// alternative at once (the payment id, the order id, the deposit address, the paying transaction), merged newest
// first. "Load more" asks the next page of each alternative that has one.

/** The lists a page of results comes from: all payments, or one of the search's alternatives. */
export type Source = 'all' | 'orderId' | 'address' | 'txHash'

/** The search's alternatives that are lists (the id is asked with `payment(id)`). */
const searchSources: Source[] = ['orderId', 'address', 'txHash']

/** Payments found so far, and where each list with more to show goes on from. */
export type Listing = { nodes: PaymentSummary[]; next: Partial<Record<Source, string>> }

/** What a search asks: a term (empty: every payment) and a status (null: any). */
export type Search = { term: string; status: string | null }

const pageSize = 20

/**
 * The GraphQL document asking `sources` (aliased by their names) and, with `withId`, `payment(id)`: built from
 * fixed parts only; what the user typed travels in variables.
 *
 * @example
 * listDocument(['orderId', 'address', 'txHash'], true) // 'query ($first: Int!, … $text: String!) { byId: payment(id: $id) … }'
 */
export function listDocument(sources: Source[], withId: boolean): string {
  const variables = ['$first: Int!', '$status: PaymentStatus']
  if (withId) variables.push('$id: ID!')
  if (sources.some((s) => s !== 'all')) variables.push('$text: String!')
  const fields = withId ? [`byId: payment(id: $id) { ${summaryFields} }`] : []
  for (const source of sources) {
    variables.push(`$after_${source}: String`)
    const filter = source === 'all' ? '{ status: $status }' : `{ status: $status, ${source}: $text }`
    fields.push(
      `${source}: payments(first: $first, after: $after_${source}, filter: ${filter}) {
        edges { node { ${summaryFields} } } pageInfo { hasNextPage endCursor }
      }`,
    )
  }
  return `query (${variables.join(', ')}) { ${fields.join('\n')} }`
}

type Page = {
  edges: Array<{ node: PaymentSummary }>
  pageInfo: { hasNextPage: boolean; endCursor: string | null }
}
type Answer = { byId?: PaymentSummary | null } & Partial<Record<Source, Page>>

/**
 * `found` added to `before`, each payment once, newest first (ids are time-ordered).
 *
 * @example
 * mergePayments(listing.nodes, page) // the list shown after "Load more"
 */
export function mergePayments(before: PaymentSummary[], found: PaymentSummary[]): PaymentSummary[] {
  const byId = new Map(before.map((p) => [p.id, p]))
  for (const p of found) byId.set(p.id, p)
  return [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
}

/**
 * Asks the API for the first page of `search`, or with `previous` for the next pages of the lists that have
 * more, in one request. Answers the listing or the API's refusal.
 *
 * @example
 * const result = await runSearch(query, { term: '0xab…', status: null })
 */
export async function runSearch(
  query: Query,
  search: Search,
  previous?: Listing,
): Promise<QueryResult<Listing>> {
  const term = search.term.trim()
  const sources: Source[] = previous
    ? (Object.keys(previous.next) as Source[])
    : term === ''
      ? ['all']
      : searchSources
  const withId = !previous && term !== ''
  const variables: Record<string, unknown> = { first: pageSize, status: search.status }
  if (withId) variables.id = term
  if (term !== '') variables.text = term
  for (const source of sources) variables[`after_${source}`] = previous?.next[source] ?? null
  const result = await query<Answer>(listDocument(sources, withId), variables)
  if (result.kind !== 'data') return result
  const found: PaymentSummary[] = []
  const byId = result.data.byId
  // payment(id) knows no status filter: the status chosen applies to it here
  if (byId && (search.status === null || byId.status === search.status)) found.push(byId)
  const next: Partial<Record<Source, string>> = {}
  for (const source of sources) {
    const page = result.data[source]
    if (!page) continue
    found.push(...page.edges.map((e) => e.node))
    if (page.pageInfo.hasNextPage && page.pageInfo.endCursor) next[source] = page.pageInfo.endCursor
  }
  return { kind: 'data', data: { nodes: mergePayments(previous?.nodes ?? [], found), next } }
}
