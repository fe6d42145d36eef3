import { h } from 'preact'
import { useState } from 'preact/hooks'
import { type PageProps, useLive } from './ui.ts'
import { mayApprove } from './withdrawal-card.ts'
import { WithdrawalDetail } from './withdrawal-detail.ts'
import { WithdrawalList } from './withdrawal-list.ts'
import { statusText, withdrawalStatuses } from './withdrawal-text.ts'

/**
 * The Withdrawals page: the queue (awaiting approval unless another status is chosen) with quorum progress and
 * the approve, reject and cancel actions the user's scopes open, then the recent withdrawals of every status with
 * "Load more". Both lists are read again after each action. `#/withdrawals/<id>` is one withdrawal's detail.
 *
 * @example
 * h(WithdrawalsPage, pageProps)
 */
export function WithdrawalsPage(props: PageProps) {
  const [queueStatus, setQueueStatus] = useState('AWAITING_APPROVAL')
  const [round, setRound] = useState(0)
  const changed = () => setRound((r) => r + 1)
  // another approver's decision, a payout pass's progress: both lists are read again
  useLive(props.live, 'subscription { withdrawalsUpdated { id } }', {}, changed)
  if (props.id) return h(WithdrawalDetail, { ...props, id: props.id })
  const common = { query: props.query, scopes: props.scopes, reloadKey: round, onChanged: changed }
  return h(
    'main',
    { class: 'withdrawals' },
    h('h1', null, 'Withdrawals'),
    h(
      'section',
      { 'aria-labelledby': 'queue-title' },
      h('h2', { id: 'queue-title' }, 'Queue'),
      h(
        'p',
        { class: 'muted' },
        mayApprove(props.scopes)
          ? 'Withdrawals above the chain’s approval threshold go out once enough different approvers approved them; the person who asked cannot approve their own.'
          : 'Withdrawals above the chain’s approval threshold go out once enough different approvers approved them. Your role can read them only.',
      ),
      h('label', { for: 'queue-status' }, 'Status'),
      h(
        'select',
        {
          id: 'queue-status',
          value: queueStatus,
          onChange: (e: Event) => setQueueStatus((e.currentTarget as HTMLSelectElement).value),
        },
        withdrawalStatuses.map((s) => h('option', { key: s, value: s }, statusText(s))),
      ),
      h(WithdrawalList, {
        ...common,
        status: queueStatus,
        label: 'Queue',
        empty: `No withdrawal is ${statusText(queueStatus)}.`,
      }),
    ),
    h(
      'section',
      { 'aria-labelledby': 'recent-title' },
      h('h2', { id: 'recent-title' }, 'Recent withdrawals'),
      h(WithdrawalList, {
        ...common,
        status: null,
        label: 'Recent withdrawals',
        empty: 'No withdrawals yet.',
      }),
    ),
  )
}
