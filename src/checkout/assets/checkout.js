// The checkout page's live part. The server renders the whole page; this script keeps it current through the
// paymentUpdated subscription (graphql-ws, or server-sent events when WebSockets are blocked), runs the expiry
// countdown, copies values, and tells a host page (when embedded) about every status. The subscription answers
// a CheckoutPayment: the payer's fields only (no order id, metadata or history), which is all the page reads.
;(() => {
  const state = JSON.parse(document.getElementById('checkout-state').textContent)
  const $ = (id) => document.getElementById(id)
  let view = state.view
  let finished = false
  const endStatuses = ['COMPLETED', 'EXPIRED', 'UNDERPAID']
  const countdownStatuses = ['PENDING', 'PARTIALLY_PAID']
  const query =
    'subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) { ' +
    'status amountDue amountReceived amountRemaining confirmations confirmationsRequired paymentUri expiresAt } }'
  const variables = { id: view.id, secret: state.clientSecret }
  const params = new URLSearchParams(location.search)

  function message(v) {
    return state.messages[v.status].replace(/\{(\w+)\}/g, (_, key) =>
      key === 'symbol' ? v.asset.symbol : String(v[key] ?? ''),
    )
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
    $('amount').value = view.status === 'PARTIALLY_PAID' ? view.amountRemaining : view.amountDue
    if (view.paymentUri !== previous.paymentUri) {
      $('wallet-link').href = view.paymentUri
      refreshQr()
    }
    tick()
    if (view.status !== previous.status || view.confirmations !== previous.confirmations) notifyHost('status')
    if (endStatuses.includes(view.status)) finished = true
  }

  function tick() {
    const expiry = $('expiry')
    if (!countdownStatuses.includes(view.status)) {
      expiry.hidden = true
      return
    }
    expiry.hidden = false
    const left = Math.max(0, Math.floor((Date.parse(view.expiresAt) - Date.now()) / 1000))
    const h = Math.floor(left / 3600)
    const m = Math.floor((left % 3600) / 60)
    const s = left % 60
    const pad = (n) => String(n).padStart(2, '0')
    $('countdown').textContent =
      left === 0 ? 'now' : h > 0 ? `in ${h}:${pad(m)}:${pad(s)}` : `in ${m}:${pad(s)}`
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
  notifyHost('ready')
  if (endStatuses.includes(view.status)) return
  if (params.get('transport') === 'sse' || !('WebSocket' in window)) connectSse()
  else connectWs(0)
})()
