import { type ComponentChildren, h } from 'preact'
import { Facts, type Query, Show, Time, useLoaded } from './ui.ts'

// The overview's figures any role with payments:read may read: the merchant's payments counted by status, the
// gateway's chains (are they taking payments, how far behind is scanning) and the merchant's webhook deliveries.
// A chain or a webhook figure that needs attention is flagged in words, not by colour alone.

type StatusCount = { status: string; count: number }
type ChainRow = {
  name: string
  ready: boolean
  unavailableReason: string | null
  lag: number | null
  lastBlockAt: string | null
  status: { degraded: string[] }
}
type WebhookHealth = {
  pending: number
  failing: number
  deliveredLastDay: number
  failedLastDay: number
  endpointsFailing: number
}
type Health = { overview: { paymentsByStatus: StatusCount[]; webhooks: WebhookHealth }; chains: ChainRow[] }

// one line in the bundle: the minified script keeps template literals' line breaks
const healthQuery = [
  '{',
  'overview {',
  'paymentsByStatus { status count }',
  'webhooks { pending failing deliveredLastDay failedLastDay endpointsFailing }',
  '}',
  'chains { name ready unavailableReason lag lastBlockAt status { degraded } }',
  '}',
].join(' ')

/** The gateway's reasons for a degraded chain, in words (ChainDegradedReason). */
const degradedWords: Record<string, string> = {
  WRONG_NETWORK: 'node on another network',
  HALTED: 'scanning halted',
  NODE_UNREACHABLE: 'node not answering',
  SCAN_LAG: 'scanning behind the tip',
  NODE_BEHIND: 'node behind what was scanned',
  SCAN_STALLED: 'no recent scan',
  STALE_TIP: 'node tip not moving',
  PAYOUTS_STALLED: 'payouts not running',
  PAYOUTS_FAILING: 'payouts failing',
  PAYOUTS_BACKLOG: 'withdrawals waiting long',
}

/**
 * How a chain stands, in words: unavailable (with the API's reason), behind (with the reasons it is degraded),
 * or up to date; `flagged` when it needs attention.
 *
 * @example
 * chainState({ ready: true, unavailableReason: null, status: { degraded: ['SCAN_LAG'] } })
 * // { text: 'Behind: scanning behind the tip', flagged: true }
 */
export function chainState(chain: Pick<ChainRow, 'ready' | 'unavailableReason' | 'status'>): {
  text: string
  flagged: boolean
} {
  if (!chain.ready)
    return { text: `Unavailable: ${chain.unavailableReason ?? 'not taking payments'}`, flagged: true }
  const reasons = chain.status.degraded.map((r) => degradedWords[r] ?? r)
  if (reasons.length > 0) return { text: `Behind: ${reasons.join(', ')}`, flagged: true }
  return { text: 'Up to date', flagged: false }
}

function StatusCounts(props: { counts: StatusCount[] }) {
  return h(
    'ul',
    { class: 'status-counts' },
    props.counts.map((c) =>
      h(
        'li',
        { key: c.status, class: c.count > 0 ? 'status-count' : 'status-count muted' },
        h('span', { class: 'status-count-name' }, c.status),
        h('span', { class: 'status-count-value' }, String(c.count)),
      ),
    ),
  )
}

function ChainsTable(props: { chains: ChainRow[] }) {
  if (props.chains.length === 0) return h('p', { class: 'muted' }, 'No chains are configured.')
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'chains-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, 'Chain'),
          h('th', { scope: 'col' }, 'State'),
          h('th', { scope: 'col' }, 'Lag (blocks)'),
          h('th', { scope: 'col' }, 'Last block'),
        ),
      ),
      h(
        'tbody',
        null,
        props.chains.map((c) => {
          const state = chainState(c)
          return h(
            'tr',
            { key: c.name, class: state.flagged ? 'chain flagged' : 'chain' },
            h('th', { scope: 'row' }, c.name),
            h('td', { class: state.flagged ? 'chain-state flag' : 'chain-state' }, state.text),
            h('td', { class: 'chain-lag' }, c.lag === null ? '—' : String(c.lag)),
            h('td', null, h(Time, { iso: c.lastBlockAt })),
          )
        }),
      ),
    ),
  )
}

function WebhookFacts(props: { health: WebhookHealth }) {
  const w = props.health
  const flagged = w.failing > 0 || w.failedLastDay > 0 || w.endpointsFailing > 0
  return h(
    'div',
    { class: 'webhook-health' },
    h(
      'p',
      { class: flagged ? 'flag' : 'done' },
      flagged ? 'Some deliveries are failing.' : 'Deliveries are going through.',
    ),
    h(Facts, {
      facts: [
        ['Waiting to be sent', String(w.pending)],
        ['Retrying after a failed attempt', String(w.failing)],
        ['Delivered in the last 24 hours', String(w.deliveredLastDay)],
        ['Failed for good in the last 24 hours', String(w.failedLastDay)],
        ['Endpoints failing', String(w.endpointsFailing)],
      ],
    }),
  )
}

/**
 * The overview's sections for every role: payments by status, the chains, and webhook health, loaded in one
 * request.
 *
 * @example
 * h(HealthSections, { query })
 */
export function HealthSections(props: { query: Query }) {
  const [health] = useLoaded(props.query, healthQuery, {}, (d: Health) => d)
  const part = (what: string, render: (d: Health) => ComponentChildren) =>
    h(Show<Health>, { loaded: health, what, render })
  return [
    h(
      'section',
      { key: 'status', 'aria-labelledby': 'by-status-title' },
      h('h2', { id: 'by-status-title' }, 'Payments by status'),
      part('Payments by status', (d) => h(StatusCounts, { counts: d.overview.paymentsByStatus })),
    ),
    h(
      'section',
      { key: 'chains', 'aria-labelledby': 'chains-title' },
      h('h2', { id: 'chains-title' }, 'Chains'),
      part('Chains', (d) => h(ChainsTable, { chains: d.chains })),
    ),
    h(
      'section',
      { key: 'webhooks', 'aria-labelledby': 'webhook-health-title' },
      h('h2', { id: 'webhook-health-title' }, 'Webhook deliveries'),
      part('Webhook health', (d) => h(WebhookFacts, { health: d.overview.webhooks })),
    ),
  ]
}
