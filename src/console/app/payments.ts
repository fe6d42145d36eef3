import { h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { PaymentDetail } from './payment-detail.ts'
import { type Listing, runSearch, type Search } from './payment-search.ts'
import { type PaymentSummary, paymentStatuses, statusText } from './payment-text.ts'
import { routeHref } from './route.ts'
import { type Loaded, type PageProps, Time } from './ui.ts'

/** The search term as the status line quotes it: long input is cut, never the page's width. */
const quoted = (term: string) => (term.length > 80 ? `${term.slice(0, 80)}…` : term)

function PaymentCard(props: { p: PaymentSummary }) {
  const { p } = props
  return h(
    'dl',
    null,
    h('dt', null, 'Payment'),
    h('dd', { class: 'payment-id' }, h('a', { href: routeHref('payments', p.id) }, p.id)),
    h('dt', null, 'Status'),
    h(
      'dd',
      { class: 'payment-status' },
      statusText(p.status),
      p.exception ? ` (needs a decision: ${statusText(p.exception)})` : '',
    ),
    h('dt', null, 'Amount'),
    h('dd', null, `${p.amountDue} ${p.asset.symbol} on ${p.chain}`),
    h('dt', null, 'Order'),
    h('dd', { class: 'payment-order' }, p.orderId ?? '—'),
    h('dt', null, 'Address'),
    h('dd', { class: 'payment-address' }, p.address),
    h('dt', null, 'Created'),
    h('dd', null, h(Time, { iso: p.createdAt })),
  )
}

function Results(props: {
  listing: Loaded<Listing>
  more: { busy: boolean; error: string | null }
  onMore: () => void
}) {
  const l = props.listing
  if (l.state === 'loading') return h('p', { class: 'muted' }, 'Loading payments…')
  if (l.state === 'error')
    return h('p', { class: 'error', role: 'alert' }, `Payments could not be loaded: ${l.message}`)
  const { nodes, next } = l.value
  return h(
    'div',
    { class: 'loaded' },
    nodes.length === 0
      ? h('p', { class: 'muted no-payments' }, 'No payments found.')
      : h(
          'ul',
          { class: 'cards payments', 'aria-label': 'Payments' },
          nodes.map((p) => h('li', { key: p.id, class: 'payment' }, h(PaymentCard, { p }))),
        ),
    Object.keys(next).length > 0
      ? h(
          'div',
          { class: 'action' },
          h(
            'button',
            { type: 'button', disabled: props.more.busy, onClick: props.onMore },
            props.more.busy ? 'Loading…' : 'Load more',
          ),
        )
      : null,
    props.more.error
      ? h('p', { class: 'error', role: 'alert' }, `More could not be loaded: ${props.more.error}`)
      : null,
  )
}

function PaymentList(props: PageProps) {
  const [term, setTerm] = useState('')
  const [status, setStatus] = useState('')
  const [search, setSearch] = useState<Search>({ term: '', status: null })
  const [listing, setListing] = useState<Loaded<Listing>>({ state: 'loading' })
  const [more, setMore] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null })
  // the answer to the latest search wins; an older one arriving late is dropped
  const latest = useRef(0)

  useEffect(() => {
    const mine = ++latest.current
    setListing({ state: 'loading' })
    setMore({ busy: false, error: null })
    runSearch(props.query, search).then((result) => {
      if (mine !== latest.current) return
      setListing(
        result.kind === 'data'
          ? { state: 'done', value: result.data }
          : { state: 'error', message: result.kind === 'error' ? result.message : 'signed out' },
      )
    })
  }, [search])

  async function loadMore() {
    if (listing.state !== 'done') return
    const mine = latest.current
    setMore({ busy: true, error: null })
    const result = await runSearch(props.query, search, listing.value)
    if (mine !== latest.current) return
    if (result.kind !== 'data')
      return setMore({ busy: false, error: result.kind === 'error' ? result.message : 'signed out' })
    setListing({ state: 'done', value: result.data })
    setMore({ busy: false, error: null })
  }

  function submit(event: Event) {
    event.preventDefault()
    setSearch({ term: term.trim(), status: status || null })
  }

  function chooseStatus(value: string) {
    setStatus(value)
    setSearch({ term: term.trim(), status: value || null })
  }

  const what = search.status ? `${statusText(search.status).toLowerCase()} payments` : 'payments'
  return h(
    'main',
    { class: 'payments-page' },
    h('h1', null, 'Payments'),
    h(
      'form',
      { role: 'search', class: 'search', onSubmit: submit },
      h('label', { for: 'payments-search' }, 'Search payments'),
      h(
        'p',
        { class: 'hint', id: 'payments-search-hint' },
        'A payment id, order id, deposit address or transaction hash.',
      ),
      h(
        'div',
        { class: 'search-row' },
        h('input', {
          id: 'payments-search',
          type: 'search',
          name: 'q',
          autocomplete: 'off',
          spellcheck: false,
          'aria-describedby': 'payments-search-hint',
          value: term,
          onInput: (e: Event) => setTerm((e.currentTarget as HTMLInputElement).value),
        }),
        h('button', { type: 'submit' }, 'Search'),
      ),
      h('label', { for: 'payments-status' }, 'Status'),
      h(
        'select',
        {
          id: 'payments-status',
          name: 'status',
          value: status,
          onChange: (e: Event) => chooseStatus((e.currentTarget as HTMLSelectElement).value),
        },
        h('option', { value: '' }, 'Any status'),
        paymentStatuses.map((s) => h('option', { key: s, value: s }, statusText(s))),
      ),
    ),
    h(
      'p',
      { class: 'muted', role: 'status' },
      search.term === ''
        ? `All ${what}, newest first.`
        : `${what.charAt(0).toUpperCase()}${what.slice(1)} matching “${quoted(search.term)}”, newest first.`,
    ),
    h(Results, { listing, more, onMore: loadMore }),
  )
}

/**
 * The Payments page: a search by payment id, order id, deposit address or transaction hash (one request asking
 * every alternative), a status filter, and the payments newest first with "Load more"; each links to its detail
 * (`#/payments/<id>`), which this page shows when the route names one.
 *
 * @example
 * h(PaymentsPage, pageProps)
 */
export function PaymentsPage(props: PageProps) {
  if (props.id) return h(PaymentDetail, { ...props, id: props.id })
  return h(PaymentList, props)
}
