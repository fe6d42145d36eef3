import { h } from 'preact'
import type { Query } from './ui.ts'
import { WithdrawalCard } from './withdrawal-card.ts'
import { PagedList } from './withdrawal-paging.ts'
import { type WithdrawalView, withdrawalFields } from './withdrawal-text.ts'

const listQuery = `query ($first: Int!, $after: String, $status: WithdrawalStatus) {
  withdrawals(first: $first, after: $after, status: $status) {
    edges { node { ${withdrawalFields} } } pageInfo { hasNextPage endCursor }
  }
}`

/**
 * Withdrawals of one status (all when `status` is null), newest first, with "Load more", each with the actions
 * the user's scopes open; read again when `reloadKey` changes.
 *
 * @example
 * h(WithdrawalList, { query, scopes, status: 'AWAITING_APPROVAL', reloadKey: round, onChanged, label: 'Queue', empty: 'None waits.' })
 */
export function WithdrawalList(props: {
  query: Query
  scopes: ReadonlySet<string>
  status: string | null
  reloadKey: unknown
  onChanged: () => void
  empty: string
  label: string
}) {
  return h(PagedList<WithdrawalView>, {
    query: props.query,
    text: listQuery,
    field: 'withdrawals',
    variables: { status: props.status },
    reloadKey: props.reloadKey,
    label: props.label,
    empty: props.empty,
    render: (w) =>
      h(WithdrawalCard, { w, query: props.query, scopes: props.scopes, onChanged: props.onChanged }),
  })
}
