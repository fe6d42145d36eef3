import { h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { QueryResult } from './api.ts'
import { HealthSections } from './overview-health.ts'
import { OperatorSections } from './overview-operator.ts'
import { VolumeSection } from './overview-volume.ts'
import { type Edges, type Loaded, type PageProps, useLive } from './ui.ts'

type Balance = { chain: string; asset: { symbol: string }; available: string; reserved: string }
type Payment = {
  id: string
  status: string
  chain: string
  amountDue: string
  asset: { symbol: string }
  orderId: string | null
  createdAt: string
}

const paymentFields = 'id status chain amountDue asset { symbol } orderId createdAt'
const balancesQuery = '{ balances { chain asset { symbol } available reserved } }'
const latestQuery = `{ payments(first: 20) { edges { node { ${paymentFields} } } } }`
// a payment id or an order id: asked both ways in one request, the id's match first
const searchQuery = `query ($term: ID!, $orderId: String!) {
  payment(id: $term) { ${paymentFields} }
  payments(first: 20, filter: { orderId: $orderId }) { edges { node { ${paymentFields} } } }
}`

const failed = (result: QueryResult<unknown>) =>
  ({ state: 'error', message: result.kind === 'error' ? result.message : 'signed out' }) as const

function BalanceList(props: { balances: Loaded<Balance[]> }) {
  const b = props.balances
  if (b.state === 'loading') return h('p', { class: 'muted' }, 'Loading balances…')
  if (b.state === 'error')
    return h('p', { class: 'error', role: 'alert' }, `Balances could not be loaded: ${b.message}`)
  if (b.value.length === 0) return h('p', { class: 'muted' }, 'No balances yet.')
  return h(
    'ul',
    { class: 'cards balances' },
    b.value.map((balance) =>
      h(
        'li',
        { key: `${balance.chain} ${balance.asset.symbol}`, class: 'balance' },
        h('p', { class: 'balance-asset' }, `${balance.asset.symbol} on ${balance.chain}`),
        h(
          'p',
          { class: 'balance-available' },
          h('span', { class: 'amount' }, balance.available),
          ' available',
        ),
        h('p', { class: 'balance-reserved muted' }, `${balance.reserved} reserved for withdrawals`),
      ),
    ),
  )
}

function PaymentList(props: { payments: Payment[] }) {
  if (props.payments.length === 0) return h('p', { class: 'muted' }, 'No payments found.')
  return h(
    'ul',
    { class: 'cards payments' },
    props.payments.map((p) =>
      h(
        'li',
        { key: p.id, class: 'payment' },
        h(
          'dl',
          null,
          h('dt', null, 'Payment'),
          h('dd', { class: 'payment-id' }, p.id),
          h('dt', null, 'Status'),
          h('dd', { class: 'payment-status' }, p.status),
          h('dt', null, 'Amount'),
          h('dd', null, `${p.amountDue} ${p.asset.symbol} on ${p.chain}`),
          h('dt', null, 'Order'),
          h('dd', { class: 'payment-order' }, p.orderId ?? '—'),
          h('dt', null, 'Created'),
          h('dd', null, new Date(p.createdAt).toLocaleString()),
        ),
      ),
    ),
  )
}

/**
 * The overview of one merchant: balances per asset, the volume of completed payments (chart and exact table),
 * payments by status, the latest payments with a search by payment id or order id, the chains and webhook
 * health; for admins also the gateway's job queues and each chain's reconciliation. Everything the API answers
 * is rendered as text (preact escapes it), never as markup.
 *
 * @example
 * h(Overview, { query, scopes, merchantName: 'Shop', id: null })
 */
export function Overview(props: PageProps) {
  const { query } = props
  const [balances, setBalances] = useState<Loaded<Balance[]>>({ state: 'loading' })
  const [payments, setPayments] = useState<Loaded<Payment[]>>({ state: 'loading' })
  const [term, setTerm] = useState('')
  const [searched, setSearched] = useState<string | null>(null)
  const searchedRef = useRef<string | null>(null)
  searchedRef.current = searched

  async function loadLatest(quiet = false) {
    if (!quiet) setPayments({ state: 'loading' })
    const result = await query<{ payments: Edges<Payment> }>(latestQuery)
    setPayments(
      result.kind === 'data'
        ? { state: 'done', value: result.data.payments.edges.map((e) => e.node) }
        : failed(result),
    )
  }

  // loaded once per merchant: the component is keyed by it
  useEffect(() => {
    query<{ balances: Balance[] }>(balancesQuery).then((result) =>
      setBalances(result.kind === 'data' ? { state: 'done', value: result.data.balances } : failed(result)),
    )
    loadLatest()
  }, [])

  // a payment changed: balances and, unless a search is shown, the latest payments are read again
  useLive(props.live, 'subscription { paymentsUpdated { id } }', {}, () => {
    query<{ balances: Balance[] }>(balancesQuery).then((result) => {
      if (result.kind === 'data') setBalances({ state: 'done', value: result.data.balances })
    })
    if (searchedRef.current === null) loadLatest(true)
  })

  async function search(event: Event) {
    event.preventDefault()
    const wanted = term.trim()
    if (wanted === '') {
      setSearched(null)
      return loadLatest()
    }
    setSearched(wanted)
    setPayments({ state: 'loading' })
    const result = await query<{ payment: Payment | null; payments: Edges<Payment> }>(searchQuery, {
      term: wanted,
      orderId: wanted,
    })
    if (result.kind !== 'data') return setPayments(failed(result))
    const found = [
      ...(result.data.payment ? [result.data.payment] : []),
      ...result.data.payments.edges.map((e) => e.node),
    ]
    setPayments({ state: 'done', value: found.filter((p, i) => found.findIndex((q) => q.id === p.id) === i) })
  }

  function showLatest() {
    setTerm('')
    setSearched(null)
    loadLatest()
  }

  return h(
    'main',
    { class: 'overview' },
    h('h1', null, props.merchantName ? `Overview of ${props.merchantName}` : 'Overview'),
    h(
      'section',
      { 'aria-labelledby': 'balances-title' },
      h('h2', { id: 'balances-title' }, 'Balances'),
      h(BalanceList, { balances }),
    ),
    h(VolumeSection, { query }),
    h(
      'section',
      { 'aria-labelledby': 'payments-title' },
      h('h2', { id: 'payments-title' }, 'Payments'),
      h(
        'form',
        { role: 'search', class: 'search', onSubmit: search },
        h('label', { for: 'payment-search' }, 'Payment id or order id'),
        h(
          'div',
          { class: 'search-row' },
          h('input', {
            id: 'payment-search',
            type: 'search',
            name: 'q',
            autocomplete: 'off',
            value: term,
            onInput: (e: Event) => setTerm((e.currentTarget as HTMLInputElement).value),
          }),
          h('button', { type: 'submit' }, 'Search'),
          searched !== null ? h('button', { type: 'button', onClick: showLatest }, 'Show latest') : null,
        ),
      ),
      h(
        'p',
        { class: 'muted', role: 'status' },
        searched === null ? 'The latest 20 payments.' : `Payments matching “${searched}”.`,
      ),
      payments.state === 'loading'
        ? h('p', { class: 'muted' }, 'Loading payments…')
        : payments.state === 'error'
          ? h('p', { class: 'error', role: 'alert' }, `Payments could not be loaded: ${payments.message}`)
          : h(PaymentList, { payments: payments.value }),
    ),
    h(HealthSections, { query }),
    // gateway-wide figures: the API refuses them to anyone without admin, so they are not asked for
    props.scopes.has('admin') ? h(OperatorSections, { query }) : null,
  )
}
