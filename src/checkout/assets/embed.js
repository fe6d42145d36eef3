// Opens a Tollgate checkout in an overlay on a merchant's page and reports its status to that page.
//
//   <script src="https://pay.example.com/pay/assets/embed.js"></script>
//   const checkout = TollgateCheckout.open(checkoutUrl, {
//     onStatus: (payment) => { if (payment.status === 'COMPLETED') showThankYou() },
//     onClose: () => {},
//   })
//
// Every status also fires a `tollgate:status` event on `window` (detail = the payment). Links marked
// `data-tollgate-checkout` open in the overlay instead of navigating.
;(() => {
  function open(checkoutUrl, options = {}) {
    const url = new URL(checkoutUrl, location.href)
    url.searchParams.set('embed', '1')
    const previousFocus = document.activeElement
    const overlay = document.createElement('div')
    overlay.setAttribute('role', 'dialog')
    overlay.setAttribute('aria-modal', 'true')
    overlay.setAttribute('aria-label', 'Payment')
    overlay.style.cssText =
      'position:fixed;inset:0;z-index:2147483647;background:rgba(10,12,16,.6);display:flex;' +
      'align-items:center;justify-content:center;padding:1rem'
    const frame = document.createElement('iframe')
    frame.src = url.href
    frame.title = 'Payment'
    frame.allow = 'clipboard-write'
    frame.style.cssText =
      'width:min(28rem,100%);height:min(44rem,100%);border:0;border-radius:12px;background:#fff'
    const close = document.createElement('button')
    close.type = 'button'
    close.textContent = 'Close'
    close.setAttribute('aria-label', 'Close the payment window')
    close.style.cssText =
      'position:absolute;top:.75rem;right:.75rem;font:600 1rem system-ui,sans-serif;padding:.5rem .9rem;' +
      'border-radius:6px;border:0;background:#fff;color:#16181d;cursor:pointer'
    overlay.append(frame, close)
    document.body.append(overlay)
    frame.focus()

    function onMessage(event) {
      // only the frame this call opened, from the checkout's own origin
      if (event.source !== frame.contentWindow || event.origin !== url.origin) return
      const data = event.data
      if (!data || data.source !== 'tollgate-checkout') return
      options.onStatus?.(data.payment, data.type)
      window.dispatchEvent(new CustomEvent('tollgate:status', { detail: data.payment }))
    }
    function onKey(event) {
      if (event.key === 'Escape') dismiss()
    }
    function dismiss() {
      window.removeEventListener('message', onMessage)
      document.removeEventListener('keydown', onKey)
      overlay.remove()
      previousFocus?.focus?.()
      options.onClose?.()
    }
    window.addEventListener('message', onMessage)
    document.addEventListener('keydown', onKey)
    close.addEventListener('click', dismiss)
    return { close: dismiss, frame }
  }

  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('a[data-tollgate-checkout]') : null
    if (!link) return
    event.preventDefault()
    open(link.href)
  })

  window.TollgateCheckout = { open }
})()
