import { h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { AnswerList, type KytCheck, kytCheckFields, reasonText, ScreeningFacts } from './compliance-check.ts'
import { routeHref } from './route.ts'
import { type Edges, Facts, type Query, Time } from './ui.ts'

// Screenings a reviewer decided, newest first, one decision at a time (released or rejected): who decided, when,
// and the note they wrote (text, whatever it holds).

const pageSize = 20

const decidedQuery = [
  'query ($state: KytState!, $after: String, $first: Int!) {',
  `kytChecks(first: $first, after: $after, filter: { state: $state }) { edges { node { ${kytCheckFields} } }`,
  'pageInfo { hasNextPage endCursor } } }',
].join(' ')

type DecidedData = {
  kytChecks: Edges<KytCheck> & { pageInfo: { hasNextPage: boolean; endCursor: string | null } }
}

const decisions = [
  { state: 'RELEASED', label: 'Released' },
  { state: 'REJECTED', label: 'Rejected' },
] as const
type DecisionState = (typeof decisions)[number]['state']

type Listed =
  | { state: 'loading' }
  | { state: 'error'; message: string }
  | { state: 'done'; checks: KytCheck[]; endCursor: string | null; more: boolean; loadingMore: boolean }

/** The subject of a screening as a link to its page where the console has one. */
function Subject(props: { check: KytCheck }) {
  const c = props.check
  if (c.paymentId)
    return h('span', null, 'Payment ', h('a', { href: routeHref('payments', c.paymentId) }, c.paymentId))
  if (c.subjectType === 'withdrawal')
    return h(
      'span',
      null,
      'Withdrawal ',
      h('a', { href: routeHref('withdrawals', c.subjectId) }, c.subjectId),
    )
  return h('span', null, `A customer deposit (transfer ${c.subjectId})`)
}

/**
 * The decided screenings with a choice of decision (released or rejected) and "Load more"; `reloadKey`
 * changing loads them afresh (after a decision on the page).
 *
 * @example
 * h(DecidedChecks, { query, reloadKey: round })
 */
export function DecidedChecks(props: { query: Query; reloadKey: unknown }) {
  const { query } = props
  const [state, setState] = useState<DecisionState>('RELEASED')
  const [listed, setListed] = useState<Listed>({ state: 'loading' })
  const latest = useRef(0)

  async function load(after: string | null) {
    const mine = ++latest.current
    const result = await query<DecidedData>(decidedQuery, { state, after, first: pageSize })
    if (mine !== latest.current) return
    if (result.kind !== 'data')
      return setListed({
        state: 'error',
        message: result.kind === 'error' ? result.message : 'your session ended',
      })
    const page = result.data.kytChecks.edges.map((e) => e.node)
    setListed((prev) => ({
      state: 'done',
      checks: after && prev.state === 'done' ? [...prev.checks, ...page] : page,
      endCursor: result.data.kytChecks.pageInfo.endCursor,
      more: result.data.kytChecks.pageInfo.hasNextPage,
      loadingMore: false,
    }))
  }

  useEffect(() => {
    setListed({ state: 'loading' })
    load(null)
  }, [state, props.reloadKey])

  return h(
    'div',
    { class: 'kyt-decided' },
    h('label', { for: 'kyt-decision' }, 'Decision'),
    h(
      'select',
      {
        id: 'kyt-decision',
        value: state,
        onChange: (e: Event) => setState((e.currentTarget as HTMLSelectElement).value as DecisionState),
      },
      decisions.map((d) => h('option', { key: d.state, value: d.state }, d.label)),
    ),
    listed.state === 'loading'
      ? h('p', { class: 'muted' }, 'Loading decided screenings…')
      : listed.state === 'error'
        ? h(
            'p',
            { class: 'error', role: 'alert' },
            `Decided screenings could not be loaded: ${listed.message}`,
          )
        : listed.checks.length === 0
          ? h('p', { class: 'muted' }, 'None yet.')
          : h(
              'ul',
              { class: 'cards one-column kyt-decided-list' },
              listed.checks.map((c) =>
                h(
                  'li',
                  { key: c.id, class: 'kyt-decided-item' },
                  h('p', null, h(Subject, { check: c })),
                  h(Facts, {
                    facts: [
                      ['Decision', h('span', { class: 'kyt-state' }, c.state)],
                      ['Decided by', h('span', { class: 'kyt-decided-by' }, c.decidedBy)],
                      ['Decided at', h(Time, { iso: c.decidedAt })],
                      ['Note', h('span', { class: 'kyt-note' }, c.note)],
                      ['Held because', reasonText(c.reason)],
                    ],
                  }),
                  h(
                    'details',
                    null,
                    h('summary', null, 'What was screened and the providers’ answers'),
                    h(ScreeningFacts, { check: c }),
                    h(AnswerList, { answers: c.answers }),
                  ),
                ),
              ),
            ),
    listed.state === 'done' && listed.more
      ? h(
          'button',
          {
            type: 'button',
            disabled: listed.loadingMore,
            onClick: () => {
              setListed({ ...listed, loadingMore: true })
              load(listed.endCursor)
            },
          },
          listed.loadingMore ? 'Loading…' : 'Load more',
        )
      : null,
  )
}
