import { type ComponentChildren, h } from 'preact'
import { useContext } from 'preact/hooks'
import { routeHref } from './route.ts'
import { ConfirmAction, Facts, type Query, SignedInActor, Time } from './ui.ts'
import {
  actionOutcome,
  cancelableStatuses,
  quorumText,
  statusText,
  type WithdrawalView,
} from './withdrawal-text.ts'

const decideMutation = (
  field: 'approveWithdrawal' | 'rejectWithdrawal',
) => `mutation ($id: ID!, $reason: String) {
  ${field}(id: $id, reason: $reason) { __typename ... on Withdrawal { id status } ... on UserError { code message } }
}`
const cancelMutation = `mutation ($id: ID!) {
  cancelWithdrawal(id: $id) { __typename ... on Withdrawal { id status } ... on UserError { code message } }
}`

/** Whether scopes open deciding held withdrawals (the API checks the same: withdrawals:approve or admin). */
export const mayApprove = (scopes: ReadonlySet<string>) =>
  scopes.has('withdrawals:approve') || scopes.has('admin')

/** Whether scopes open canceling withdrawals (withdrawals:write or admin). */
export const mayCancel = (scopes: ReadonlySet<string>) =>
  scopes.has('withdrawals:write') || scopes.has('admin')

/** Who approved or rejected it so far, each with their reason as text. */
function Decisions(props: { approvals: WithdrawalView['approvals'] }) {
  if (props.approvals.length === 0) return h('span', { class: 'muted' }, 'No one has decided yet.')
  return h(
    'ul',
    { class: 'decisions' },
    props.approvals.map((a) =>
      h(
        'li',
        { key: a.keyId },
        h('span', { class: 'decider' }, `${a.approve ? 'Approved' : 'Rejected'} by ${a.deciderName}`),
        a.reason ? [' — ', h('q', { class: 'decision-reason' }, a.reason)] : null,
        ' (',
        h(Time, { iso: a.createdAt }),
        ')',
      ),
    ),
  )
}

/**
 * The approve, reject and cancel buttons the user's scopes open for a withdrawal in its current status, each
 * through a confirmation step; `onChanged` runs after one the API accepted.
 *
 * @example
 * h(WithdrawalActions, { w, query, scopes, onChanged: reload })
 */
export function WithdrawalActions(props: {
  w: WithdrawalView
  query: Query
  scopes: ReadonlySet<string>
  onChanged: () => void
}) {
  const { w, query } = props
  const what = `${w.amount} ${w.asset.symbol} to ${w.to}`
  const act = async (text: string, variables: Record<string, unknown>, field: string, done: string) => {
    const outcome = actionOutcome(await query<Record<string, unknown>>(text, variables), field, done)
    if (outcome.ok) props.onChanged()
    return outcome
  }
  const buttons = []
  // what the API would refuse this user is not offered: approving their own request, or deciding twice
  const me = useContext(SignedInActor)
  const decided = w.approvals.some((a) => a.keyId === me)
  const own = w.requestedBy === me
  if (w.status === 'AWAITING_APPROVAL' && mayApprove(props.scopes) && (decided || own))
    buttons.push(
      h(
        'p',
        { key: 'why-not', class: 'muted decided-already' },
        own
          ? 'You asked for this withdrawal: another approver decides it.'
          : 'You have decided on this withdrawal: another approver must decide now.',
      ),
    )
  else if (w.status === 'AWAITING_APPROVAL' && mayApprove(props.scopes))
    buttons.push(
      h(ConfirmAction, {
        key: 'approve',
        label: 'Approve',
        confirmText: `Approve sending ${what}? It goes out once ${w.approvalsRequired} different approver${w.approvalsRequired === 1 ? '' : 's'} approved it; it has ${quorumText(w)}.`,
        note: 'optional',
        noteLabel: 'Reason (optional, at most 500 characters)',
        run: (reason) =>
          act(
            decideMutation('approveWithdrawal'),
            { id: w.id, reason: reason || null },
            'approveWithdrawal',
            'Approved.',
          ),
      }),
      h(ConfirmAction, {
        key: 'reject',
        label: 'Reject',
        danger: true,
        confirmText: `Reject sending ${what}? It is canceled and its amount returns to the balance.`,
        note: 'optional',
        noteLabel: 'Reason (optional, at most 500 characters)',
        run: (reason) =>
          act(
            decideMutation('rejectWithdrawal'),
            { id: w.id, reason: reason || null },
            'rejectWithdrawal',
            'Rejected: the withdrawal is canceled.',
          ),
      }),
    )
  if (cancelableStatuses.has(w.status) && mayCancel(props.scopes))
    buttons.push(
      h(ConfirmAction, {
        key: 'cancel',
        label: 'Cancel withdrawal',
        danger: true,
        confirmText: `Cancel sending ${what}? Its amount returns to the balance.`,
        run: () => act(cancelMutation, { id: w.id }, 'cancelWithdrawal', 'Canceled.'),
      }),
    )
  if (buttons.length === 0) return null
  return h('div', { class: 'actions withdrawal-actions' }, buttons)
}

/**
 * One withdrawal: amount, destination, who asked, quorum progress with who approved, screening, why it waits, its
 * transaction; a link to its detail view (unless `detail`), and the actions the user's scopes open.
 *
 * @example
 * h(WithdrawalCard, { w, query, scopes, onChanged: reload })
 */
export function WithdrawalCard(props: {
  w: WithdrawalView
  query: Query
  scopes: ReadonlySet<string>
  onChanged: () => void
  detail?: boolean
}) {
  const { w } = props
  const awaiting = w.status === 'AWAITING_APPROVAL'
  const facts: Array<[string, ComponentChildren]> = [
    ['Status', h('span', { class: 'withdrawal-status' }, statusText(w.status))],
    ['Amount', `${w.amount} ${w.asset.symbol} on ${w.chain}`],
    ['Destination', h('code', { class: 'withdrawal-to' }, w.to)],
    ['Requested by', w.requestedByName ?? w.requestedBy ?? 'the gateway'],
    ['Requested', h(Time, { iso: w.createdAt })],
  ]
  if (awaiting || w.approvals.length > 0)
    facts.push([
      'Approvals',
      h(
        'div',
        null,
        awaiting ? h('p', { class: 'quorum' }, quorumText(w)) : null,
        h(Decisions, { approvals: w.approvals }),
      ),
    ])
  if (w.kyt)
    facts.push(['Screening', `${statusText(w.kyt.state)}${w.kyt.reason ? ` (${w.kyt.reason})` : ''}`])
  if (w.waitingReason) facts.push(['Waiting because', w.waitingReason])
  if (w.failureReason) facts.push(['Failure', w.failureReason])
  if (w.txHash) facts.push(['Transaction', h('code', { class: 'withdrawal-tx' }, w.txHash)])
  if (w.networkFee) facts.push(['Network fee', w.networkFee])
  return h(
    'article',
    { class: 'withdrawal', 'aria-label': `Withdrawal ${w.id}` },
    h(
      'p',
      { class: 'withdrawal-id' },
      props.detail
        ? h('code', null, w.id)
        : h(
            'a',
            { href: routeHref('withdrawals', w.id), 'aria-label': `Details of withdrawal ${w.id}` },
            w.id,
          ),
    ),
    h(Facts, { facts }),
    h(WithdrawalActions, { w, query: props.query, scopes: props.scopes, onChanged: props.onChanged }),
  )
}
