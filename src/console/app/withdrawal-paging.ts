import { type ComponentChildren, h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Edges, Loaded, Query } from './ui.ts'

const pageSize = 20
/** The most one read asks for (the API's page limit). */
const maxPage = 100

type Listed<T> = { nodes: T[]; hasNextPage: boolean; endCursor: string | null }

/**
 * A connection read page by page, newest first, shown as cards with "Load more". `text` takes `$first` and
 * `$after` (and whatever `variables` add) and answers the connection at `field`. When `reloadKey` changes (an
 * action moved one of them) it reads again as many as it showed, so the pages loaded further stay.
 *
 * @example
 * h(PagedList<Proposal>, { query, text, field: 'multisigProposals', variables: { status }, reloadKey: round,
 *   label: 'Proposals', empty: 'No proposals.', render: (p) => h(ProposalCard, { p, query, onChanged }) })
 */
export function PagedList<T extends { id: string }>(props: {
  query: Query
  text: string
  field: string
  variables: Record<string, unknown>
  reloadKey: unknown
  label: string
  empty: string
  render: (node: T) => ComponentChildren
}) {
  const [list, setList] = useState<Loaded<Listed<T>>>({ state: 'loading' })
  const [more, setMore] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null })
  const shown = useRef(pageSize)
  const latest = useRef(0)
  const variablesKey = JSON.stringify(props.variables)

  const read = (first: number, after: string | null) =>
    props.query<Record<string, Edges<T>>>(props.text, { ...props.variables, first, after })
  const listed = (c: Edges<T> | undefined, before: T[] = []): Listed<T> => ({
    nodes: [...before, ...(c?.edges ?? []).map((e) => e.node)],
    hasNextPage: c?.pageInfo?.hasNextPage ?? false,
    endCursor: c?.pageInfo?.endCursor ?? null,
  })

  useEffect(() => {
    const mine = ++latest.current
    read(Math.min(maxPage, Math.max(pageSize, shown.current)), null).then((result) => {
      if (mine !== latest.current) return
      if (result.kind !== 'data')
        return setList({ state: 'error', message: result.kind === 'error' ? result.message : 'signed out' })
      const value = listed(result.data[props.field])
      shown.current = value.nodes.length
      setList({ state: 'done', value })
    })
  }, [props.reloadKey, variablesKey])

  async function loadMore() {
    if (list.state !== 'done') return
    setMore({ busy: true, error: null })
    const mine = latest.current
    const result = await read(pageSize, list.value.endCursor)
    if (mine !== latest.current) return setMore({ busy: false, error: null })
    if (result.kind !== 'data')
      return setMore({ busy: false, error: result.kind === 'error' ? result.message : 'signed out' })
    const value = listed(result.data[props.field], list.value.nodes)
    shown.current = value.nodes.length
    setList({ state: 'done', value })
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
          // one card a row: `payments` lays the cards out in a single column
          'ul',
          { class: 'cards one-column', 'aria-label': props.label },
          nodes.map((node) => h('li', { key: node.id }, props.render(node))),
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
