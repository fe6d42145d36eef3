import { type ComponentChildren, h } from 'preact'
import { useState } from 'preact/hooks'
import { type ActionablePayment, PaymentActions } from './payment-actions.ts'
import { baseToUnits, ExternalLink, statusText } from './payment-text.ts'
import { routeHref } from './route.ts'
import { Facts, type PageProps, Show, Time, useLive, useLoaded } from './ui.ts'

type PaymentEvent = {
  seq: number
  type: string
  fromStatus: string | null
  toStatus: string
  createdAt: string
}
type Transfer = {
  chain: string
  asset: string
  txHash: string
  index: number
  amount: string
  blockHeight: string | null
  status: string
  confirmations: number
  late: boolean
  misdirected: boolean
  fate: string | null
  fateBy: string | null
  explorerUrl: string | null
}
type KytAnswer = {
  provider: string
  address: string
  verdict: string | null
  risk: string | null
  reasons: string[]
  categories: string[]
  error: string | null
}
type KytCheck = {
  id: string
  state: string
  verdict: string | null
  reason: string | null
  direction: string
  addresses: string[]
  amount: string
  txHash: string | null
  failMode: string | null
  screenedAt: string | null
  decidedBy: string | null
  decidedAt: string | null
  note: string | null
  answers: KytAnswer[]
}
type Refund = {
  id: string
  amount: string
  amountSent: string | null
  status: string
  source: string
  overpayment: boolean
  to: string | null
  refundUrl: string | null
  reason: string | null
  failureReason: string | null
  createdAt: string
}
type Detailed = ActionablePayment & {
  chain: string
  asset: { id: string; symbol: string; decimals: number }
  amountDue: string
  amountReceived: string
  amountConfirmed: string
  amountRemaining: string
  overpaidAmount: string
  confirmations: number
  confirmationsRequired: number
  late: boolean
  address: string
  addressExplorerUrl: string | null
  orderId: string | null
  metadata: unknown
  price: { amount: string; currency: string } | null
  resolution: string | null
  createdAt: string
  expiresAt: string
  completedAt: string | null
  updatedAt: string
  events: PaymentEvent[]
  transfers: Transfer[]
  kyt: KytCheck[]
  refunds: Refund[]
}

const detailQuery = `query ($id: ID!) {
  payment(id: $id) {
    id status exception resolution chain asset { id symbol decimals }
    amountDue amountReceived amountConfirmed amountRemaining overpaidAmount price { amount currency }
    confirmations confirmationsRequired late address addressExplorerUrl orderId metadata
    createdAt expiresAt completedAt updatedAt
    refundable { credited overpaid uncredited }
    events { seq type fromStatus toStatus createdAt }
    transfers {
      chain asset txHash index amount blockHeight status confirmations late misdirected fate fateBy explorerUrl
    }
    kyt {
      id state verdict reason direction addresses amount txHash failMode screenedAt decidedBy decidedAt note
      answers { provider address verdict risk reasons categories error }
    }
    refunds { id amount amountSent status source overpayment to refundUrl reason failureReason createdAt }
  }
}`

/** A section with a heading (for the page's outline and for screen readers' landmarks). */
function Section(props: { id: string; title: string; children?: ComponentChildren }) {
  return h(
    'section',
    { class: `payment-${props.id}`, 'aria-labelledby': `${props.id}-title` },
    h('h2', { id: `${props.id}-title` }, props.title),
    props.children,
  )
}

function Timeline(props: { events: PaymentEvent[] }) {
  if (props.events.length === 0) return h('p', { class: 'muted' }, 'No events.')
  return h(
    'ol',
    { class: 'timeline' },
    props.events.map((e) =>
      h(
        'li',
        { key: e.seq },
        h('span', { class: 'event-type' }, e.type),
        ': ',
        h(
          'span',
          { class: 'event-change' },
          e.fromStatus && e.fromStatus !== e.toStatus
            ? `${statusText(e.fromStatus)} → ${statusText(e.toStatus)}`
            : statusText(e.toStatus),
        ),
        ', ',
        h(Time, { iso: e.createdAt }),
      ),
    ),
  )
}

function TransferList(props: { transfers: Transfer[]; payment: Detailed }) {
  if (props.transfers.length === 0) return h('p', { class: 'muted' }, 'Nothing has arrived yet.')
  const { asset } = props.payment
  return h(
    'ul',
    { class: 'cards one-column transfers' },
    props.transfers.map((t) => {
      const amount =
        t.asset === asset.id
          ? `${baseToUnits(t.amount, asset.decimals)} ${asset.symbol}`
          : `${t.amount} (${t.asset})`
      const notes = [
        t.late ? 'arrived late' : null,
        t.misdirected ? `sent on ${t.chain}, another network: never counted toward the payment` : null,
        t.fate ? `${t.fate.replaceAll('_', ' ')}${t.fateBy ? ` by ${t.fateBy}` : ''}` : null,
      ].filter((n): n is string => n !== null)
      return h(
        'li',
        { key: `${t.chain} ${t.txHash} ${t.index}`, class: 'transfer' },
        h(Facts, {
          facts: [
            [
              'Transaction',
              [
                h('code', { key: 'hash', class: 'tx-hash' }, t.txHash),
                ' ',
                h(ExternalLink, {
                  key: 'link',
                  url: t.explorerUrl,
                  label: 'View on explorer',
                  describedAs: `transaction ${t.txHash}`,
                }),
              ],
            ],
            ['Amount', amount],
            ['Status', t.status],
            ['Confirmations', String(t.confirmations)],
            ['Block', t.blockHeight],
            ['Notes', notes.join('; ')],
          ],
        }),
      )
    }),
  )
}

function KytList(props: { checks: KytCheck[] }) {
  if (props.checks.length === 0)
    return h('p', { class: 'muted' }, 'No screenings (screening is off or nothing arrived).')
  return h(
    'ul',
    { class: 'cards one-column kyt-checks' },
    props.checks.map((c) =>
      h(
        'li',
        { key: c.id, class: 'kyt-check' },
        h(Facts, {
          facts: [
            ['State', statusText(c.state)],
            ['Verdict', c.verdict ? statusText(c.verdict) : null],
            ['Reason', c.reason],
            ['Screened', c.addresses.join(', ')],
            ['Transaction', c.txHash],
            ['Fail mode', c.failMode],
            ['Screened at', h(Time, { iso: c.screenedAt })],
            ['Decided by', c.decidedBy],
            ['Decided at', c.decidedAt ? h(Time, { iso: c.decidedAt }) : null],
            ['Note', c.note],
          ],
        }),
        c.answers.length === 0
          ? h('p', { class: 'muted' }, 'No provider answered.')
          : h(
              'ul',
              { class: 'kyt-answers', 'aria-label': 'Provider answers' },
              c.answers.map((a, i) =>
                h(
                  'li',
                  { key: `${a.provider} ${a.address} ${i}` },
                  h('strong', null, a.provider),
                  ` on ${a.address}: `,
                  a.error
                    ? `no answer (${a.error})`
                    : [
                        a.verdict ? statusText(a.verdict) : 'no verdict',
                        a.risk ? `, risk ${a.risk}` : '',
                        a.reasons.length > 0 ? `, ${a.reasons.join(', ')}` : '',
                        a.categories.length > 0 ? ` [${a.categories.join(', ')}]` : '',
                      ].join(''),
                ),
              ),
            ),
      ),
    ),
  )
}

function RefundList(props: { refunds: Refund[]; symbol: string }) {
  if (props.refunds.length === 0) return h('p', { class: 'muted' }, 'No refunds.')
  return h(
    'ul',
    { class: 'cards one-column refunds' },
    props.refunds.map((r) =>
      h(
        'li',
        { key: r.id, class: 'refund-item' },
        h(Facts, {
          facts: [
            ['Refund', r.id],
            ['Amount', `${r.amount} ${props.symbol}${r.overpayment ? ' (overpayment)' : ''}`],
            ['Sent', r.amountSent ? `${r.amountSent} ${props.symbol}` : null],
            ['Status', statusText(r.status)],
            ['From', r.source === 'BALANCE' ? 'your balance' : 'uncredited funds'],
            ['To', r.to ?? (r.refundUrl ? `waiting for the buyer's address (link: ${r.refundUrl})` : null)],
            ['Reason', r.reason],
            ['Failure', r.failureReason],
            ['Created', h(Time, { iso: r.createdAt })],
          ],
        }),
      ),
    ),
  )
}

/** Metadata as indented JSON text: whatever markup it holds shows as characters. */
function metadataText(metadata: unknown): string | null {
  if (metadata === null || metadata === undefined) return null
  return JSON.stringify(metadata, null, 2)
}

function PaymentView(props: { p: Detailed } & PageProps & { onDone: (message: string) => void }) {
  const { p } = props
  const metadata = metadataText(p.metadata)
  const s = p.asset.symbol
  return [
    h(Section, { key: 'facts', id: 'facts', title: 'Details' }, [
      h(Facts, {
        key: 'facts',
        facts: [
          ['Payment', p.id],
          ['Status', statusText(p.status)],
          ['Needs a decision', p.exception ? statusText(p.exception) : null],
          ['Resolution', p.resolution ? statusText(p.resolution) : null],
          [
            'Amount due',
            `${p.amountDue} ${s} on ${p.chain}${p.price ? ` (${p.price.amount} ${p.price.currency})` : ''}`,
          ],
          ['Received', `${p.amountReceived} ${s}`],
          ['Confirmed', `${p.amountConfirmed} ${s}`],
          ['Remaining', `${p.amountRemaining} ${s}`],
          ['Overpaid', p.overpaidAmount === '0' ? null : `${p.overpaidAmount} ${s}`],
          ['Confirmations', `${p.confirmations} of ${p.confirmationsRequired}`],
          [
            'Address',
            [
              h('code', { key: 'a', class: 'payment-address' }, p.address),
              ' ',
              h(ExternalLink, {
                key: 'l',
                url: p.addressExplorerUrl,
                label: 'View on explorer',
                describedAs: `address ${p.address}`,
              }),
            ],
          ],
          ['Order', p.orderId],
          ['Created', h(Time, { iso: p.createdAt })],
          ['Expires', h(Time, { iso: p.expiresAt })],
          ['Completed', p.completedAt ? h(Time, { iso: p.completedAt }) : null],
          ['Late funds', p.late ? 'some funds arrived after the deadline' : null],
        ],
      }),
      h('h3', { key: 'mt' }, 'Metadata'),
      metadata === null
        ? h('p', { key: 'm', class: 'muted' }, 'None.')
        : h('pre', { key: 'm', class: 'metadata' }, metadata),
    ]),
    h(PaymentActions, {
      key: 'actions',
      payment: p,
      query: props.query,
      scopes: props.scopes,
      onDone: props.onDone,
    }),
    h(Section, { key: 'timeline', id: 'timeline', title: 'Timeline' }, h(Timeline, { events: p.events })),
    h(
      Section,
      { key: 'transfers', id: 'transfers', title: 'Transfers' },
      h(TransferList, { transfers: p.transfers, payment: p }),
    ),
    h(Section, { key: 'kyt', id: 'kyt', title: 'KYT screening' }, h(KytList, { checks: p.kyt })),
    h(
      Section,
      { key: 'refunds', id: 'refunds', title: 'Refunds' },
      h(RefundList, { refunds: p.refunds, symbol: s }),
    ),
  ]
}

/**
 * One payment (`props.id`): its facts and metadata (as JSON text), the actions the user's scopes allow, its
 * status timeline oldest first, the transfers with links to the operator's block explorer, KYT screenings with
 * every provider's answer, and refunds. Read again after an action, whose outcome stays shown above.
 *
 * @example
 * h(PaymentDetail, { ...pageProps, id: 'pay_…' })
 */
export function PaymentDetail(props: PageProps & { id: string }) {
  const [round, setRound] = useState(0)
  const [notice, setNotice] = useState<string | null>(null)
  const [loaded] = useLoaded<{ payment: Detailed | null }, Detailed | null>(
    props.query,
    detailQuery,
    { id: props.id },
    (d) => d.payment,
    round,
  )
  function done(message: string) {
    setNotice(message)
    setRound((r) => r + 1)
  }
  // every change of this payment (a deposit seen, a confirmation, a decision elsewhere) reads it again
  useLive(props.live, 'subscription { paymentsUpdated { id } }', {}, (data) => {
    if ((data.paymentsUpdated as { id?: string } | undefined)?.id === props.id) setRound((r) => r + 1)
  })
  return h(
    'main',
    { class: 'payment-detail' },
    h('p', null, h('a', { href: routeHref('payments') }, '← All payments')),
    h('h1', null, 'Payment'),
    // one live region, there from the start, so what an action did is announced once
    h('p', { class: notice ? 'notice' : 'notice-empty', role: 'status' }, notice ?? ''),
    h(Show<Detailed | null>, {
      loaded,
      what: 'The payment',
      render: (p) =>
        p === null
          ? h('p', { class: 'error', role: 'alert' }, 'No payment with this id at this merchant.')
          : h(PaymentView, { ...props, p, onDone: done }),
    }),
  )
}
