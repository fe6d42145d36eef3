import { type ComponentChildren, h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { QueryResult } from './api.ts'
import { AnswerList, type KytCheck, kytCheckFields, ScreeningFacts } from './compliance-check.ts'
import { type HeldDeposit, type HeldWithdrawal, type QueueItem, queueItems } from './compliance-items.ts'
import { routeHref } from './route.ts'
import {
  type ActionOutcome,
  ConfirmAction,
  type Edges,
  Facts,
  mutationOutcome,
  type Query,
  Time,
} from './ui.ts'

// The review queue: what KYT screening holds (payments, customer deposits, withdrawals), each with every
// provider's answer and the decision the user's scopes allow, a note required with each.

const pageSize = 50

// queries are one line each: the minified bundle keeps a string's line breaks
const queueQuery = [
  'query ($after: String, $first: Int!) {',
  `kytChecks(first: $first, after: $after, filter: { state: HELD }) { edges { node { ${kytCheckFields} } }`,
  'pageInfo { hasNextPage endCursor } }',
  'deposits(first: $first, status: HELD) {',
  'edges { node { id customerId address amount asset { symbol } chain txHash screening wrongNetwork createdAt } }',
  'pageInfo { hasNextPage } } }',
].join(' ')

type QueueData = {
  kytChecks: Edges<KytCheck> & { pageInfo: { hasNextPage: boolean; endCursor: string | null } }
  deposits: Edges<HeldDeposit> & { pageInfo: { hasNextPage: boolean } }
}

/** The withdrawals some screenings name, in one request (an alias per id). */
function withdrawalsQuery(ids: readonly string[]) {
  const args = ids.map((_, i) => `$w${i}: ID!`).join(', ')
  const fields = ids.map((_, i) => `w${i}: withdrawal(id: $w${i}) { id status approvalsMissing }`).join(' ')
  return {
    text: `query (${args}) { ${fields} }`,
    variables: Object.fromEntries(ids.map((id, i) => [`w${i}`, id])),
  }
}

const decisionMutation = (field: string, noteArg: 'note' | 'reason', result: string) =>
  `mutation ($id: ID!, $note: String!) { ${field}(id: $id, ${noteArg}: $note) { __typename ... on ${result} { id status } ... on UserError { code message } } }`

const mutations = {
  releasePayment: decisionMutation('releasePayment', 'note', 'Payment'),
  rejectPayment: decisionMutation('rejectPayment', 'note', 'Payment'),
  releaseDeposit: decisionMutation('releaseDeposit', 'note', 'Deposit'),
  rejectDeposit: decisionMutation('rejectDeposit', 'note', 'Deposit'),
  approveWithdrawal: decisionMutation('approveWithdrawal', 'reason', 'Withdrawal'),
  rejectWithdrawal: decisionMutation('rejectWithdrawal', 'reason', 'Withdrawal'),
}
type Decision = keyof typeof mutations

/** What a withdrawal's reason may hold (the API keeps at most 500 characters there; a note elsewhere 1000). */
const withdrawalReasonMax = 500

type QueueState =
  | { state: 'loading' }
  | { state: 'error'; message: string }
  | {
      state: 'done'
      checks: KytCheck[]
      deposits: HeldDeposit[]
      depositsMore: boolean
      withdrawals: Map<string, HeldWithdrawal>
      more: { endCursor: string | null } | null
      loadingMore: boolean
    }

const failure = (result: QueryResult<unknown>) =>
  result.kind === 'error' ? result.message : 'your session ended'

/**
 * The held items to decide, newest first, with "Load more". `reloadKey` changing loads them afresh; `onDecided`
 * hears of each decision taken here (with a sentence to announce).
 *
 * @example
 * h(ReviewQueue, { query, scopes, reloadKey: round, onDecided: (message) => announce(message) })
 */
export function ReviewQueue(props: {
  query: Query
  scopes: ReadonlySet<string>
  reloadKey: unknown
  onDecided: (message: string) => void
}) {
  const { query } = props
  const [queue, setQueue] = useState<QueueState>({ state: 'loading' })
  const latest = useRef(0)

  async function withdrawalsOf(checks: readonly KytCheck[]): Promise<Map<string, HeldWithdrawal> | string> {
    const ids = [...new Set(checks.filter((c) => c.subjectType === 'withdrawal').map((c) => c.subjectId))]
    if (ids.length === 0) return new Map()
    const { text, variables } = withdrawalsQuery(ids)
    const result = await query<Record<string, HeldWithdrawal | null>>(text, variables)
    if (result.kind !== 'data') return failure(result)
    return new Map(
      Object.values(result.data)
        .filter((w): w is HeldWithdrawal => w !== null)
        .map((w) => [w.id, w]),
    )
  }

  async function load(after: string | null) {
    const mine = ++latest.current
    const result = await query<QueueData>(queueQuery, { after, first: pageSize })
    if (mine !== latest.current) return
    if (result.kind !== 'data') return setQueue({ state: 'error', message: failure(result) })
    const page = result.data.kytChecks.edges.map((e) => e.node)
    const withdrawals = await withdrawalsOf(page)
    if (mine !== latest.current) return
    if (typeof withdrawals === 'string') return setQueue({ state: 'error', message: withdrawals })
    const info = result.data.kytChecks.pageInfo
    setQueue((prev) => ({
      state: 'done',
      checks: after && prev.state === 'done' ? [...prev.checks, ...page] : page,
      deposits: result.data.deposits.edges.map((e) => e.node),
      depositsMore: result.data.deposits.pageInfo.hasNextPage,
      withdrawals:
        after && prev.state === 'done' ? new Map([...prev.withdrawals, ...withdrawals]) : withdrawals,
      more: info.hasNextPage ? { endCursor: info.endCursor } : null,
      loadingMore: false,
    }))
  }

  useEffect(() => {
    load(null)
  }, [props.reloadKey])

  async function decide(decision: Decision, id: string, note: string, done: string): Promise<ActionOutcome> {
    const result = await query<Record<string, unknown>>(mutations[decision], { id, note })
    const outcome = mutationOutcome(result, decision, done)
    if (!outcome.ok || result.kind !== 'data') return outcome
    const status = (result.data[decision] as { status?: string } | null)?.status
    const message = status ? `${done} It is now ${status}.` : done
    props.onDecided(message)
    return { ok: true, message }
  }

  if (queue.state === 'loading') return h('p', { class: 'muted' }, 'Loading the review queue…')
  if (queue.state === 'error')
    return h('p', { class: 'error', role: 'alert' }, `The review queue could not be loaded: ${queue.message}`)
  const items = queueItems(queue.checks, queue.deposits, queue.withdrawals)
  const more = queue.more
  return h(
    'div',
    { class: 'kyt-queue' },
    items.length === 0
      ? h('p', { class: 'muted kyt-queue-empty' }, 'Nothing is held for review.')
      : h(
          'ul',
          { class: 'cards one-column kyt-items' },
          items.map((item) => h(QueueEntry, { key: item.key, item, scopes: props.scopes, decide })),
        ),
    queue.depositsMore
      ? h('p', { class: 'muted' }, `Showing the newest ${pageSize} held deposits; decide these to see more.`)
      : null,
    more
      ? h(
          'button',
          {
            type: 'button',
            disabled: queue.loadingMore,
            onClick: () => {
              setQueue({ ...queue, loadingMore: true })
              load(more.endCursor)
            },
          },
          queue.loadingMore ? 'Loading…' : 'Load more held screenings',
        )
      : null,
  )
}

type Decide = (decision: Decision, id: string, note: string, done: string) => Promise<ActionOutcome>

function QueueEntry(props: { item: QueueItem; scopes: ReadonlySet<string>; decide: Decide }) {
  const { item, scopes, decide } = props
  const reviewer = scopes.has('compliance:review') || scopes.has('admin')
  const approver = scopes.has('withdrawals:approve') || scopes.has('admin')
  const headingId = `held-${item.key.replace(/[^A-Za-z0-9_-]/g, '-')}`

  let title: ComponentChildren
  let facts: Array<[string, ComponentChildren]>
  let checks: KytCheck[]
  let actions: ComponentChildren = null
  if (item.kind === 'payment') {
    const id = item.paymentId
    title = ['Payment ', h('a', { href: routeHref('payments', id), class: 'kyt-subject' }, id)]
    facts = [['Held screenings', String(item.checks.length)]]
    checks = item.checks
    if (reviewer)
      actions = [
        h(ConfirmAction, {
          key: 'release',
          label: 'Release',
          note: 'required',
          confirmText: `Release payment ${id}? Its held deposits count as allowed and it completes. The note is kept with the decision and in the audit log.`,
          run: (note) => decide('releasePayment', id, note, `Payment ${id} released.`),
        }),
        h(ConfirmAction, {
          key: 'reject',
          label: 'Reject',
          note: 'required',
          danger: true,
          confirmText: `Reject payment ${id}? Its held deposits are never credited or swept and it ends REJECTED; the funds stay for a refund.`,
          run: (note) => decide('rejectPayment', id, note, `Payment ${id} rejected.`),
        }),
      ]
  } else if (item.kind === 'deposit') {
    const d = item.deposit
    title = d ? `Deposit ${d.id}` : 'A customer deposit'
    facts = d
      ? [
          ['Customer', d.customerId],
          ['To address', d.address],
          ['Amount', `${d.amount} ${d.asset.symbol} on ${d.chain}`],
          ['Transaction', d.txHash],
          ['Arrived', h(Time, { iso: d.createdAt })],
          [
            'Held because',
            item.checks.length > 0
              ? 'screening holds it'
              : d.wrongNetwork
                ? 'it was sent on another network than the address was given for'
                : 'screening holds it (its screening is further down the queue)',
          ],
        ]
      : [['Deposit', 'not among the newest held deposits: decide those first']]
    checks = item.checks
    if (reviewer && d) {
      const id = d.id
      actions = [
        h(ConfirmAction, {
          key: 'release',
          label: 'Release',
          note: 'required',
          confirmText: `Release deposit ${id}? It is credited as if screening had allowed it. The note is kept in the audit log.`,
          run: (note) => decide('releaseDeposit', id, note, `Deposit ${id} released.`),
        }),
        h(ConfirmAction, {
          key: 'reject',
          label: 'Reject',
          note: 'required',
          danger: true,
          confirmText: `Reject deposit ${id}? It is never credited or swept; its funds stay at the address for the operator.`,
          run: (note) => decide('rejectDeposit', id, note, `Deposit ${id} rejected.`),
        }),
      ]
    }
  } else {
    const id = item.check.subjectId
    const w = item.withdrawal
    title = ['Withdrawal ', h('a', { href: routeHref('withdrawals', id), class: 'kyt-subject' }, id)]
    facts = [
      ['Withdrawal status', w ? w.status : 'unknown'],
      ...(w && w.status === 'AWAITING_APPROVAL'
        ? ([['Approvals missing', String(w.approvalsMissing)]] as Array<[string, string]>)
        : []),
    ]
    checks = [item.check]
    const awaiting = w?.status === 'AWAITING_APPROVAL'
    const withReason = (decision: Decision, done: string) => (note: string) =>
      note.length > withdrawalReasonMax
        ? Promise.resolve({
            ok: false as const,
            message: `A withdrawal's note is at most ${withdrawalReasonMax} characters.`,
          })
        : decide(decision, id, note, done)
    if (!awaiting)
      actions = h(
        'p',
        { class: 'muted' },
        'Decided through the withdrawal’s approval: nothing left to decide here.',
      )
    else if (!approver)
      actions = h(
        'p',
        { class: 'muted' },
        'A withdrawal held by screening is decided by an approver (withdrawals:approve), on its approval.',
      )
    else
      actions = [
        h(ConfirmAction, {
          key: 'approve',
          label: 'Approve',
          note: 'required',
          confirmText: `Approve withdrawal ${id}? It goes out once the approvals it needs are in.`,
          run: withReason('approveWithdrawal', `Withdrawal ${id} approved.`),
        }),
        h(ConfirmAction, {
          key: 'reject',
          label: 'Reject',
          note: 'required',
          danger: true,
          confirmText: `Reject withdrawal ${id}? It is cancelled and its reserve released.`,
          run: withReason('rejectWithdrawal', `Withdrawal ${id} rejected.`),
        }),
      ]
  }

  return h(
    'li',
    { class: `kyt-item kyt-${item.kind}`, 'aria-labelledby': headingId },
    h('h3', { id: headingId }, title),
    h(Facts, { facts }),
    checks.map((check) =>
      h(
        'section',
        { key: check.id, class: 'kyt-check', 'aria-label': `Screening ${check.id}` },
        h('h4', null, 'What was screened'),
        h(ScreeningFacts, { check }),
        h('h4', null, 'Providers’ answers'),
        h(AnswerList, { answers: check.answers }),
      ),
    ),
    h('div', { class: 'actions kyt-actions' }, actions),
  )
}
