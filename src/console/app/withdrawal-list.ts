import { h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Edges, Query } from './ui.ts'
import { WithdrawalCard } from './withdrawal-card.ts'
import { type WithdrawalView, withdrawalFields } from './withdrawal-text.ts'

const pageSize = 20
const listQuery = `query ($first: Int!, $after: String, $status: WithdrawalStatus) {
  withdrawals(first: $first, after: $after, status: $status) {
    edges { node { ${withdrawalFields} } } pageInfo { hasNextPage endCursor }
  }
}`

type Listed = { nodes: WithdrawalView[]; hasNextPage: boolean; endCursor: string | null }
type State = { state: 'loading' } | { state: 'error'; message: string } | { state: 'done'; value: Listed }

/**
 * Withdrawals of one status (all when `status` is null), newest first, with "Load more". When `reloadKey`
 * changes it reads again as many as it showed (an action moved one of them), so a page loaded further stays.
 *
 * @example
 * h(WithdrawalList, { query, scopes, status: 'AWAITING_APPROVAL', reloadKey: round, onChanged, empty: 'None waits.' })
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
  const [list, setList] = useState<State>({ state: 'loading' })
  const [more, setMore] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null })
  const shown = useRef(pageSize)
  const latest = useRef(0)

  async function read(first: number, after: string | null) {
    return props.query<{ withdrawals: Edges<WithdrawalView> }>(listQuery, {
      first,
      after,
      status: props.status,
    })
  }

  useEffect(() => {
    const mine = ++latest.current
    read(Math.min(100, Math.max(pageSize, shown.current)), null).then((result) => {
      if (mine !== latest.current) return
      if (result.kind !== 'data')
        return setList({ state: 'error', message: result.kind === 'error' ? result.message : 'signed out' })
      const c = result.data.withdrawals
      shown.current = c.edges.length
      setList({
        state: 'done',
        value: {
          nodes: c.edges.map((e) => e.node),
          hasNextPage: c.pageInfo?.hasNextPage ?? false,
          endCursor: c.pageInfo?.endCursor ?? null,
        },
      })
    })
  }, [props.reloadKey, props.status])

  async function loadMore() {
    if (list.state !== 'done') return
    setMore({ busy: true, error: null })
    const mine = latest.current
    const result = await read(pageSize, list.value.endCursor)
    if (mine !== latest.current) return setMore({ busy: false, error: null })
    if (result.kind !== 'data')
      return setMore({ busy: false, error: result.kind === 'error' ? result.message : 'signed out' })
    const c = result.data.withdrawals
    const nodes = [...list.value.nodes, ...c.edges.map((e) => e.node)]
    shown.current = nodes.length
    setList({
      state: 'done',
      value: {
        nodes,
        hasNextPage: c.pageInfo?.hasNextPage ?? false,
        endCursor: c.pageInfo?.endCursor ?? null,
      },
    })
    setMore({ busy: false, error: null })
  }

  if (list.state === 'loading') return h('p', { class: 'muted' }, `Loading ${props.label.toLowerCase()}…`)
  if (list.state === 'error')
    return h('p', { class: 'error', role: 'alert' }, `${props.label} could not be loaded: ${list.message}`)
  const { nodes, hasNextPage } = list.value
  return h(
    'div',
    { class: 'loaded' },
    nodes.length === 0
      ? h('p', { class: 'muted' }, props.empty)
      : h(
          'ul',
          { class: 'cards payments withdrawals-list', 'aria-label': props.label },
          nodes.map((w) =>
            h(
              'li',
              { key: w.id },
              h(WithdrawalCard, { w, query: props.query, scopes: props.scopes, onChanged: props.onChanged }),
            ),
          ),
        ),
    hasNextPage
      ? h(
          'div',
          { class: 'action' },
          h(
            'button',
            { type: 'button', disabled: more.busy, onClick: loadMore },
            more.busy ? 'Loading…' : 'Load more',
          ),
        )
      : null,
    more.error ? h('p', { class: 'error', role: 'alert' }, `More could not be loaded: ${more.error}`) : null,
  )
}
