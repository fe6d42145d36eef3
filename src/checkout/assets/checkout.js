// The checkout page's live part. The server renders the whole page; this script keeps it current through the
// paymentUpdated subscription (graphql-ws, or server-sent events when WebSockets are blocked), runs the expiry
// countdown (and, for a fiat-priced payment, the rate lock's), copies values, and tells a host page (when
// embedded) about every status. The subscription answers a CheckoutPayment: the payer's fields only (no order id,
// metadata or history), which is all the page reads. A re-quote (the lock ran out unpaid) arrives as an update
// like any other: a new amount due, rate, lock and payment URI. On an invoice's page (state.page 'invoice') it
// only runs the two countdowns: choosing a method there is a plain form that leaves the page.
;(() => {
  const state = JSON.parse(document.getElementById('checkout-state').textContent)
  const $ = (id) => document.getElementById(id)
  let view = state.view
  let finished = false
  const endStatuses = ['COMPLETED', 'EXPIRED', 'UNDERPAID']
  const countdownStatuses = ['PENDING', 'PARTIALLY_PAID']
  const query =
    'subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) { ' +
    'status amountDue amountReceived amountPending droppedDeposit amountRemaining overpaidAmount confirmations confirmationsRequired ' +
    'paymentUri expiresAt price { amount currency } rate rateLockedUntil amountReceivedFiat amountRemainingFiat ' +
    'overpaidFiat } }'
  const variables = { id: view.id, secret: state.clientSecret }
  const params = new URLSearchParams(location.search)

  // fiat values and rates are formatted on their decimal strings, as src/checkout/fiat.ts does on the server
  const plainDecimal = /^(\d+)(?:\.(\d+))?$/
  const group = (whole) => whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')

  function formatFiat(text, decimals) {
    const match = plainDecimal.exec(text)
    if (!match) return text
    const fraction = (match[2] ?? '').padEnd(decimals, '0')
    return fraction ? `${group(match[1])}.${fraction}` : group(match[1])
  }

  function formatRate(text, decimals) {
    const match = plainDecimal.exec(text)
    if (!match) return text
    return formatFiat(`${match[1]}.${(match[2] ?? '').replace(/0+$/, '')}`.replace(/\.$/, ''), decimals)
  }

  function fill(template, v) {
    const fiat = (text) => (text == null ? '' : formatFiat(text, v.priceDecimals ?? 0))
    const values = {
      symbol: v.asset.symbol,
      currency: v.price ? v.price.currency : '',
      price: fiat(v.price ? v.price.amount : null),
      amountReceivedFiat: fiat(v.amountReceivedFiat),
      amountRemainingFiat: fiat(v.amountRemainingFiat),
      overpaidFiat: fiat(v.overpaidFiat),
    }
    return template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : String(v[key] ?? '')))
  }

  function message(v) {
    // seen in the mempool, in no block yet: the buyer's money is on its way, not yet confirming
    if (v.status === 'PROCESSING' && v.confirmations === 0 && v.amountPending !== '0')
      return state.mempoolNotes.unconfirmed
    return fill((v.price && state.pricedMessages[v.status]) || state.messages[v.status], v)
  }

  function renderMempool() {
    const note = $('mempool')
    const text =
      view.droppedDeposit && countdownStatuses.includes(view.status)
        ? state.mempoolNotes[view.droppedDeposit]
        : ''
    note.hidden = text === ''
    note.textContent = text
  }

  // the elements that show one field of the payment (the amount due; the price and rate when priced in fiat)
  function fieldText(field) {
    if (field === 'price')
      return `${formatFiat(view.price.amount, view.priceDecimals ?? 0)} ${view.price.currency}`
    if (field === 'rate') return formatRate(view.rate ?? '', view.priceDecimals ?? 0)
    return String(view[field] ?? '')
  }

  function publicFields(v) {
    return {
      id: v.id,
      status: v.status,
      asset: v.asset.symbol,
      chain: v.chain,
      amountDue: v.amountDue,
      amountReceived: v.amountReceived,
      amountRemaining: v.amountRemaining,
      confirmations: v.confirmations,
      confirmationsRequired: v.confirmationsRequired,
    }
  }

  function notifyHost(type) {
    // only the embedded page talks to its parent; the host filters by the iframe it opened
    if (window.parent === window) return
    window.parent.postMessage({ source: 'tollgate-checkout', type, payment: publicFields(view) }, '*')
  }

  async function refreshQr() {
    const res = await fetch(
      `/pay/${encodeURIComponent(view.id)}/qr.svg?secret=${encodeURIComponent(state.clientSecret)}`,
    )
    if (res.ok) $('qr').innerHTML = await res.text()
  }

  function render(next) {
    const previous = view
    view = { ...view, ...next }
    const status = $('status')
    status.dataset.status = view.status
    $('status-text').textContent = message(view)
    renderMempool()
    $('amount').value = view.status === 'PARTIALLY_PAID' ? view.amountRemaining : view.amountDue
    for (const el of document.querySelectorAll('[data-field]')) {
      const text = fieldText(el.dataset.field)
      if (el.textContent !== text) el.textContent = text
    }
    if (view.price) renderPriced(previous)
    if (view.paymentUri !== previous.paymentUri) {
      $('wallet-link').href = view.paymentUri
      refreshQr()
    }
    tick()
    if (view.status !== previous.status || view.confirmations !== previous.confirmations) notifyHost('status')
    if (endStatuses.includes(view.status)) finished = true
  }

  function renderPriced(previous) {
    const overpaid = $('overpaid')
    overpaid.hidden = view.overpaidAmount === '0' || view.overpaidAmount == null
    overpaid.textContent = overpaid.hidden ? '' : fill(state.notes.overpaid, view)
    // quoted again: the lock moved on, and with a new rate the amount changed; say so once, until the next one
    if (previous.rateLockedUntil !== view.rateLockedUntil && previous.amountDue !== view.amountDue) {
      const notice = $('requoted')
      notice.textContent = state.notes.requoted
      notice.hidden = false
    }
    if (!countdownStatuses.includes(view.status)) $('requoted').hidden = true
  }

  function secondsUntil(iso) {
    return Math.max(0, Math.floor((Date.parse(iso) - Date.now()) / 1000))
  }

  function clock(left) {
    const h = Math.floor(left / 3600)
    const m = Math.floor((left % 3600) / 60)
    const s = left % 60
    const pad = (n) => String(n).padStart(2, '0')
    return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`
  }

  function tickRateLock() {
    const lock = $('rate-lock')
    const ended = $('rate-ended')
    if (!view.price || !lock) return
    const waiting = countdownStatuses.includes(view.status) && view.rateLockedUntil
    const left = waiting ? secondsUntil(view.rateLockedUntil) : 0
    lock.hidden = !waiting || left === 0
    ended.hidden = !waiting || left > 0
    if (lock.hidden) return
    const time = $('rate-countdown')
    $('rate-lock-label').textContent = state.notes.lockedFor
    time.dateTime = view.rateLockedUntil
    time.textContent = clock(left)
  }

  function tick() {
    tickRateLock()
    const expiry = $('expiry')
    if (!countdownStatuses.includes(view.status)) {
      expiry.hidden = true
      return
    }
    expiry.hidden = false
    const left = secondsUntil(view.expiresAt)
    $('countdown').textContent = left === 0 ? 'now' : `in ${clock(left)}`
  }

  function live(text) {
    const el = $('live')
    el.hidden = !text
    el.textContent = text
  }

  // the server holds too many live streams for this address (many payers behind one NAT): try again later
  function overCap(errors) {
    return (errors ?? []).some((e) => e.extensions?.code === 'TOO_MANY_SUBSCRIPTIONS')
  }

  function onResult(result) {
    if (result.errors?.length) {
      live('Live updates stopped. Reload the page to see the latest status.')
      finished = true
      return
    }
    live('')
    if (result.data?.paymentUpdated) render(result.data.paymentUpdated)
  }

  function connectSse(attempt = 0) {
    const url = `/graphql?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify(variables))}`
    const source = new EventSource(url)
    document.documentElement.dataset.transport = 'sse'
    source.addEventListener('next', (event) => {
      const result = JSON.parse(event.data)
      if (overCap(result.errors)) {
        source.close()
        live('Reconnecting…')
        setTimeout(() => connectSse(attempt + 1), Math.min(30_000, 1000 * 2 ** Math.min(attempt + 1, 5)))
        return
      }
      onResult(result)
      if (finished) source.close()
    })
    source.addEventListener('complete', () => source.close())
    source.onerror = () => {
      if (!finished) live('Reconnecting…')
    }
  }

  function connectWs(attempt) {
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws')
    let acknowledged = false
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init' }))
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data)
      if (msg.type === 'connection_ack') {
        acknowledged = true
        document.documentElement.dataset.transport = 'ws'
        live('')
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }))
      } else if (msg.type === 'next' || msg.type === 'error') {
        const result = msg.type === 'next' ? msg.payload : { errors: msg.payload }
        // over a cap the socket closes without finishing, and reconnects after a while
        if (overCap(result.errors)) return ws.close(1000)
        onResult(result)
        if (finished || msg.type === 'error') ws.close(1000)
      } else if (msg.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }))
      }
    }
    ws.onclose = () => {
      if (finished) return
      // never got through: the network blocks WebSockets, so use server-sent events instead
      if (!acknowledged && attempt === 0) return connectSse()
      live('Reconnecting…')
      setTimeout(() => connectWs(attempt + 1), Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)))
    }
  }

  for (const button of document.querySelectorAll('button[data-copy]')) {
    button.addEventListener('click', async () => {
      const input = $(button.dataset.copy)
      try {
        await navigator.clipboard.writeText(input.value)
      } catch {
        input.select()
        document.execCommand('copy')
      }
      button.textContent = 'Copied'
      $('copied').textContent = `${button.dataset.copy === 'address' ? 'Address' : 'Amount'} copied`
      setTimeout(() => {
        button.textContent = 'Copy'
        $('copied').textContent = ''
      }, 3000)
    })
  }

  setInterval(tick, 1000)
  tick()
  if (state.page === 'invoice') return
  notifyHost('ready')
  if (endStatuses.includes(view.status)) return
  if (params.get('transport') === 'sse' || !('WebSocket' in window)) connectSse()
  else connectWs(0)
})()
