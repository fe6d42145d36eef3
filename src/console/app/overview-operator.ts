import { h } from 'preact'
import { Facts, type Query, Show, Time, useLoaded } from './ui.ts'

// The overview's gateway-wide sections, for admins only (the API answers FORBIDDEN to anyone else): the job
// queues and each chain's latest reconciliation of the ledger with the chain. Amounts are the API's exact
// decimal strings, shown as they are.

type QueueRow = {
  name: string
  waiting: number
  active: number
  delayed: number
  failed: number
  paused: boolean
}
type Line = { role: string; asset: { symbol: string }; ledger: string; onChain: string; difference: string }
type Reconciliation = {
  checkedAt: string | null
  settled: boolean | null
  linesChecked: number
  discrepancies: Line[]
  funding: Array<{ role: string; asset: { symbol: string }; amount: string }>
  lastErrorCode: string | null
  lastErrorAt: string | null
  failedRuns: number
}
type Operator = {
  overview: { queues: QueueRow[] }
  chains: Array<{ name: string; reconciliation: Reconciliation | null }>
}

// one line in the bundle: the minified script keeps template literals' line breaks
const operatorQuery = [
  '{',
  'overview { queues { name waiting active delayed failed paused } }',
  'chains { name reconciliation {',
  'checkedAt settled linesChecked failedRuns lastErrorCode lastErrorAt',
  'discrepancies { role asset { symbol } ledger onChain difference }',
  'funding { role asset { symbol } amount }',
  '} }',
  '}',
].join(' ')

function QueuesTable(props: { queues: QueueRow[] }) {
  const cell = (n: number, flagged = false) =>
    h('td', { class: flagged && n > 0 ? 'flag' : undefined }, String(n))
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'queues-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Queue', 'Waiting', 'Running', 'Delayed', 'Failed'].map((t) =>
            h('th', { key: t, scope: 'col' }, t),
          ),
        ),
      ),
      h(
        'tbody',
        null,
        props.queues.map((q) =>
          h(
            'tr',
            { key: q.name, class: q.failed > 0 || q.paused ? 'queue flagged' : 'queue' },
            h('th', { scope: 'row' }, q.paused ? `${q.name} (paused)` : q.name),
            cell(q.waiting),
            cell(q.active),
            cell(q.delayed),
            cell(q.failed, true),
          ),
        ),
      ),
    ),
  )
}

/**
 * A chain's reconciliation in one sentence: not run yet, failing, disagreeing (settled or with transactions in
 * flight), or agreeing; `flagged` when it needs an operator.
 *
 * @example
 * reconciliationSummary({ checkedAt: '…', settled: true, discrepancies: [], failedRuns: 0, … })
 * // { text: 'The books and the chain agree.', flagged: false }
 */
export function reconciliationSummary(r: Reconciliation | null): { text: string; flagged: boolean } {
  if (r === null) return { text: 'Not reconciled yet.', flagged: false }
  if (r.failedRuns > 0) {
    const runs = r.failedRuns === 1 ? 'The last run' : `The last ${r.failedRuns} runs`
    return { text: `${runs} failed (${r.lastErrorCode ?? 'unknown error'}).`, flagged: true }
  }
  const n = r.discrepancies.length
  if (n === 0) return { text: 'The books and the chain agree.', flagged: false }
  const balances = n === 1 ? '1 balance disagrees' : `${n} balances disagree`
  if (r.settled === false)
    return {
      text: `${balances} while transactions were in flight (expected until they confirm).`,
      flagged: false,
    }
  return { text: `${balances} between the books and the chain.`, flagged: true }
}

function Discrepancies(props: { lines: Line[] }) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'discrepancies' },
      h('caption', null, 'Balances that disagree'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Holding', 'Asset', 'Ledger', 'On chain', 'Difference'].map((t) =>
            h('th', { key: t, scope: 'col' }, t),
          ),
        ),
      ),
      h(
        'tbody',
        null,
        props.lines.map((l) =>
          h(
            'tr',
            { key: `${l.role} ${l.asset.symbol}` },
            h('td', null, l.role),
            h('td', null, l.asset.symbol),
            h('td', null, l.ledger),
            h('td', null, l.onChain),
            h('td', { class: 'flag' }, l.difference),
          ),
        ),
      ),
    ),
  )
}

function ChainReconciliation(props: { chain: string; reconciliation: Reconciliation | null }) {
  const r = props.reconciliation
  const summary = reconciliationSummary(r)
  return h(
    'li',
    { class: summary.flagged ? 'reconciliation flagged' : 'reconciliation' },
    h('h3', null, props.chain),
    h(
      'p',
      { class: summary.flagged ? 'reconciliation-summary flag' : 'reconciliation-summary' },
      summary.text,
    ),
    r
      ? h(Facts, {
          facts: [
            ['Checked', h(Time, { iso: r.checkedAt })],
            ['Settled', r.settled === null ? null : r.settled ? 'Yes' : 'No: transactions were in flight'],
            ['Balances compared', String(r.linesChecked)],
            [
              'Funding booked',
              r.funding.length === 0
                ? 'None'
                : r.funding.map((f) => `${f.amount} ${f.asset.symbol} (${f.role})`).join(', '),
            ],
            [
              'Last failure',
              r.lastErrorAt
                ? h('span', null, `${r.lastErrorCode ?? 'unknown'} at `, h(Time, { iso: r.lastErrorAt }))
                : 'None',
            ],
          ],
        })
      : null,
    r && r.discrepancies.length > 0 ? h(Discrepancies, { lines: r.discrepancies }) : null,
  )
}

/**
 * The overview's admin sections: the job queues and each chain's reconciliation, loaded in one request.
 * Only rendered for a user with the admin scope.
 *
 * @example
 * props.scopes.has('admin') ? h(OperatorSections, { query }) : null
 */
export function OperatorSections(props: { query: Query }) {
  const [operator] = useLoaded(props.query, operatorQuery, {}, (d: Operator) => d)
  return [
    h(
      'section',
      { key: 'queues', 'aria-labelledby': 'queues-title', class: 'queues' },
      h('h2', { id: 'queues-title' }, 'Job queues (whole gateway)'),
      h(Show<Operator>, {
        loaded: operator,
        what: 'Job queues',
        render: (d) => h(QueuesTable, { queues: d.overview.queues }),
      }),
    ),
    h(
      'section',
      { key: 'reconciliation', 'aria-labelledby': 'reconciliation-title', class: 'reconciliations' },
      h('h2', { id: 'reconciliation-title' }, 'Reconciliation per chain'),
      h(Show<Operator>, {
        loaded: operator,
        what: 'Reconciliation',
        render: (d) =>
          h(
            'ul',
            { class: 'cards reconciliation-list' },
            d.chains.map((c) =>
              h(ChainReconciliation, { key: c.name, chain: c.name, reconciliation: c.reconciliation }),
            ),
          ),
      }),
    ),
  ]
}
