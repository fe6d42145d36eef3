import { h } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { Loaded, PageProps } from './ui.ts'
import { Facts, Time } from './ui.ts'
import { prettyJson } from './webhook-deliveries.ts'

type Entry = {
  id: string
  action: string
  actor: string
  actorName: string | null
  targetType: string
  targetId: string
  requestId: string | null
  data: unknown
  createdAt: string
}
type Page = { edges: Array<{ node: Entry }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } }
type Listing = { entries: Entry[]; next: string | null }

const auditQuery = `query ($after: String) {
  auditLog(first: 50, after: $after) {
    edges { node { id action actor actorName targetType targetId requestId data createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}`

function EntryItem(props: { entry: Entry }) {
  const e = props.entry
  return h(
    'li',
    { class: 'audit-entry' },
    h(Facts, {
      facts: [
        ['Time', h(Time, { iso: e.createdAt })],
        [
          'Actor',
          e.actorName
            ? [
                h('span', { class: 'audit-actor-name', key: 'name' }, e.actorName),
                ' (',
                h('span', { class: 'audit-actor', key: 'id' }, e.actor),
                ')',
              ]
            : h('span', { class: 'audit-actor' }, e.actor),
        ],
        ['Action', h('span', { class: 'audit-action' }, e.action)],
        ['Target', h('span', { class: 'audit-target' }, `${e.targetType} ${e.targetId}`)],
        ['Request', e.requestId],
      ],
    }),
    e.data === null || e.data === undefined ? null : h('pre', { class: 'audit-data' }, prettyJson(e.data)),
  )
}

/**
 * The audit log (admin): the merchant's recorded actions, newest first, 50 at a time with "Load more": when, who
 * (an API key's id, `user:<id>` for a console user, `cli`, or `system:<process>`, shown as recorded), what, on
 * what, and the data it carried as JSON text.
 *
 * @example
 * h(AuditPage, { query, scopes, merchantName: 'Shop', id: null })
 */
export function AuditPage(props: PageProps) {
  const { query } = props
  const [listing, setListing] = useState<Loaded<Listing>>({ state: 'loading' })
  const [busy, setBusy] = useState(false)
  const [moreError, setMoreError] = useState<string | null>(null)

  async function load(after: string | null) {
    setBusy(true)
    const result = await query<{ auditLog: Page }>(auditQuery, { after })
    setBusy(false)
    if (result.kind !== 'data') {
      const message = result.kind === 'error' ? result.message : 'signed out'
      if (after === null) setListing({ state: 'error', message })
      else setMoreError(message)
      return
    }
    const page = result.data.auditLog
    const fresh = page.edges.map((edge) => edge.node)
    setMoreError(null)
    setListing((prev) => ({
      state: 'done',
      value: {
        entries: after !== null && prev.state === 'done' ? [...prev.value.entries, ...fresh] : fresh,
        next: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null,
      },
    }))
  }

  useEffect(() => {
    load(null)
  }, [])

  const l = listing
  return h(
    'main',
    { class: 'audit' },
    h('h1', null, 'Audit log'),
    l.state === 'loading'
      ? h('p', { class: 'muted' }, 'Loading the audit log…')
      : l.state === 'error'
        ? h('p', { class: 'error', role: 'alert' }, `The audit log could not be loaded: ${l.message}`)
        : [
            l.value.entries.length === 0
              ? h('p', { key: 'none', class: 'muted' }, 'Nothing recorded yet.')
              : h(
                  'ol',
                  { key: 'list', class: 'cards audit-entries' },
                  l.value.entries.map((e) => h(EntryItem, { key: e.id, entry: e })),
                ),
            moreError
              ? h(
                  'p',
                  { key: 'err', class: 'error', role: 'alert' },
                  `More could not be loaded: ${moreError}`,
                )
              : null,
            l.value.next
              ? h(
                  'button',
                  { key: 'more', type: 'button', disabled: busy, onClick: () => load(l.value.next) },
                  busy ? 'Loading…' : 'Load more',
                )
              : null,
          ],
  )
}
