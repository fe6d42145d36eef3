import { h } from 'preact'
import { useState } from 'preact/hooks'
import { routeHref } from './route.ts'
import { type PageProps, Show, Time, useLoaded } from './ui.ts'
import { WithdrawalCard } from './withdrawal-card.ts'
import { statusText, type WithdrawalView, withdrawalFields } from './withdrawal-text.ts'

type HistoryEvent = {
  seq: number
  type: string
  fromStatus: string | null
  toStatus: string
  createdAt: string
}

type Detailed = WithdrawalView & { events: HistoryEvent[] }

const detailQuery = `query ($id: ID!) {
  withdrawal(id: $id) { ${withdrawalFields} events { seq type fromStatus toStatus createdAt } }
}`

/** The status history, oldest first: each change with its time. */
function Timeline(props: { events: HistoryEvent[] }) {
  return h(
    'ol',
    { class: 'timeline' },
    props.events.map((e) =>
      h(
        'li',
        { key: e.seq },
        h(Time, { iso: e.createdAt }),
        ' ',
        h('span', { class: 'event-type' }, e.type),
        e.fromStatus && e.fromStatus !== e.toStatus
          ? `: ${statusText(e.fromStatus)} → ${statusText(e.toStatus)}`
          : `: ${statusText(e.toStatus)}`,
      ),
    ),
  )
}

/**
 * One withdrawal (`props.id`): everything the list shows, its actions, and its status history; read again after
 * an action.
 *
 * @example
 * h(WithdrawalDetail, { ...pageProps, id: 'wd_…' })
 */
export function WithdrawalDetail(props: PageProps & { id: string }) {
  const [round, setRound] = useState(0)
  const [loaded] = useLoaded<{ withdrawal: Detailed | null }, Detailed | null>(
    props.query,
    detailQuery,
    { id: props.id },
    (d) => d.withdrawal,
    round,
  )
  return h(
    'main',
    { class: 'withdrawals' },
    h('p', null, h('a', { href: routeHref('withdrawals') }, '← All withdrawals')),
    h('h1', null, 'Withdrawal'),
    h(Show<Detailed | null>, {
      loaded,
      what: 'The withdrawal',
      render: (w) =>
        w === null
          ? h('p', { class: 'error', role: 'alert' }, `No withdrawal ${props.id} at this merchant.`)
          : [
              h(WithdrawalCard, {
                key: 'card',
                w,
                query: props.query,
                scopes: props.scopes,
                onChanged: () => setRound((r) => r + 1),
                detail: true,
              }),
              h('h2', { key: 'history-title', id: 'history-title' }, 'History'),
              h(
                'section',
                { key: 'history', 'aria-labelledby': 'history-title' },
                h(Timeline, { events: w.events }),
              ),
            ],
    }),
  )
}
