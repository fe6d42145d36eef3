import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { createTestApp, type TestApp } from '../../test/helpers/app.ts'
import { payments } from '../db/schema/index.ts'
import { formatFiat, formatRate } from './fiat.ts'
import { jsonForScript } from './html.ts'
import { statusText } from './messages.ts'
import { loadCheckoutView } from './view.ts'

let app: TestApp
let key: string
let payment: { id: string; clientSecret: string; address: string; paymentUri: string; checkoutUrl: string }

async function createPayment(input: Record<string, unknown>) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id clientSecret address paymentUri checkoutUrl } } } }`,
    { input },
    key,
  )
  return res.data.createPayment.payment as typeof payment
}

/**
 * A payment priced at 25.00 USD and quoted at 2500 USD per ETH (0.01 ETH), as createPayment stores one when the
 * gateway prices in USD; the row is written here so the test needs no rate source.
 */
async function pricedPayment(set: Partial<typeof payments.$inferInsert> = {}): Promise<typeof payment> {
  const p = await createPayment({ chain: 'devnet', asset: 'ETH', amount: '0.01' })
  await app.ctx.db
    .update(payments)
    .set({
      priceAmount: '25.00',
      priceCurrency: 'USD',
      rate: '2500',
      rateSources: {
        method: 'fallback',
        sources: [{ provider: 'desk', rate: '2500', at: new Date().toISOString() }],
      },
      rateAt: new Date(),
      rateLockedUntil: new Date(Date.now() + 15 * 60_000),
      ...set,
    })
    .where(eq(payments.id, p.id))
  return p
}

const get = (path: string, init?: RequestInit) => app.fetch(new Request(`http://localhost${path}`, init))
const pagePath = (p = payment) => `/pay/${p.id}?secret=${encodeURIComponent(p.clientSecret)}`

beforeAll(async () => {
  app = await createTestApp({ env: { PUBLIC_URL: 'https://pay.example.com/' } })
  key = (await app.merchant('Checkout shop')).key
  payment = await createPayment({
    chain: 'devnet',
    asset: 'USDT',
    amount: '12.5',
    orderId: '<script>alert(1)</script>',
  })
})
afterAll(() => app.close())

describe('checkout page', () => {
  test('default: the page shows amount, asset, network, address, QR and status, and links its assets', async () => {
    const res = await get(pagePath())
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const html = await res.text()
    expect(html).toContain('Pay <span data-field="amountDue">12.5</span> USDT')
    expect(html).toContain(`value="${payment.address}"`)
    expect(html).toContain('Waiting for your payment')
    expect(html).toContain('token contract <code title="0x5FbDB2315678afecb367f032d93F642f64180aa3"')
    expect(html).toContain('(eip155:31337)')
    expect(html).toContain(`href="${payment.paymentUri.replaceAll('&', '&amp;')}"`)
    expect(html).toMatch(/<svg [^>]*role="img" aria-label="QR code of the payment link for 12.5 USDT"/)
    expect(html).toContain('<script src="/pay/assets/checkout.js" defer></script>')
    // the order id is the merchant's, not the payer's: it is not on the page at all
    expect(html).not.toContain('alert(1)')
  })

  test('default: checkoutUrl from the API opens the page, under PUBLIC_URL', async () => {
    expect(payment.checkoutUrl).toBe(
      `https://pay.example.com/pay/${payment.id}?secret=${encodeURIComponent(payment.clientSecret)}`,
    )
    const url = new URL(payment.checkoutUrl)
    expect((await get(`${url.pathname}${url.search}`)).status).toBe(200)
  })

  test('behavior: headers forbid framing, referrers and foreign scripts; embed mode allows framing only', async () => {
    const page = await get(pagePath())
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(page.headers.get('referrer-policy')).toBe('no-referrer')
    expect(page.headers.get('cache-control')).toBe('no-store')
    const embedded = await get(`${pagePath()}&embed=1`)
    expect(embedded.headers.get('content-security-policy')).toContain('frame-ancestors *')
    expect(await embedded.text()).toContain('<body class="embed">')
  })

  test('behavior: the QR endpoint serves the current payment URI as SVG', async () => {
    const res = await get(`/pay/${payment.id}/qr.svg?secret=${encodeURIComponent(payment.clientSecret)}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/svg+xml')
    const svg = await res.text()
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg).toContain(`aria-label="QR code of ${payment.paymentUri.replaceAll('&', '&amp;')}"`)
  })

  test('behavior: static assets are served with their types; the embed script to any origin', async () => {
    const js = await get('/pay/assets/checkout.js')
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(await js.text()).toContain('paymentUpdated(id: $id, clientSecret: $secret)')
    expect((await get('/pay/assets/checkout.css')).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    )
    const embed = await get('/pay/assets/embed.js')
    expect(embed.headers.get('access-control-allow-origin')).toBe('*')
    expect(await embed.text()).toContain('window.TollgateCheckout = { open }')
  })

  test('behavior: the page reflects the status in the database (partially paid shows what remains)', async () => {
    const p = await createPayment({ chain: 'devnet', asset: 'USDT', amount: '10' })
    await app.ctx.db
      .update(payments)
      .set({ status: 'PARTIALLY_PAID', amountReceived: 4_000_000n })
      .where(eq(payments.id, p.id))
    const html = await (await get(pagePath(p))).text()
    expect(html).toContain('Partially paid: 6 USDT still to send')
    expect(html).toContain('<input id="amount" readonly value="6"')
    const view = await loadCheckoutView(app.ctx, p.id, p.clientSecret)
    expect(view?.paymentUri).toContain('uint256=6000000')
  })

  test('default: an asset-priced payment shows no price, rate or rate lock', async () => {
    const html = await (await get(pagePath())).text()
    // what shows: the page without the script's state (which carries every sentence the script may need)
    const shown = html.slice(0, html.indexOf('<script type="application/json"'))
    expect(shown).toContain('<title>Pay 12.5 USDT</title>')
    for (const absent of [
      'data-field="price"',
      'id="quote"',
      'id="rate-lock"',
      'id="overpaid"',
      'Rate locked',
    ])
      expect(shown).not.toContain(absent)
  })

  test('behavior: a fiat-priced payment leads with its price, then the amount in the asset, the rate and the lock’s end as a <time>', async () => {
    const lockedUntil = new Date(Date.now() + 14 * 60_000)
    const p = await pricedPayment({ rateLockedUntil: lockedUntil })
    const html = await (await get(pagePath(p))).text()
    expect(html).toContain('<title>Pay 25.00 USD</title>')
    expect(html).toContain('<h1 id="checkout-title">Pay <span data-field="price">25.00 USD</span></h1>')
    expect(html).toContain('<p class="quote-amount"><span data-field="amountDue">0.01</span> ETH</p>')
    expect(html).toContain('1 ETH = <span data-field="rate">2,500.00</span> USD')
    expect(html).toContain(
      `<p class="lock" id="rate-lock"><span id="rate-lock-label">Rate locked until</span> <time id="rate-countdown" datetime="${lockedUntil.toISOString()}">${lockedUntil.toUTCString()}</time></p>`,
    )
    expect(html).toContain('<p class="lock" id="rate-ended" hidden>')
    expect(html).toContain('<input id="amount" readonly value="0.01"')
    expect(html).toContain('Waiting for your payment')
    const view = (await loadCheckoutView(app.ctx, p.id, p.clientSecret))!
    expect(view).toMatchObject({
      price: { amount: '25.00', currency: 'USD' },
      priceDecimals: 2,
      rate: '2500',
      rateLockedUntil: lockedUntil.toISOString(),
      amountRemainingFiat: '25',
    })
  })

  test('behavior: once the lock ran out and no new quote came yet, the page says the amount will be updated', async () => {
    const p = await pricedPayment({ rateLockedUntil: new Date(Date.now() - 1000) })
    const html = await (await get(pagePath(p))).text()
    expect(html).toContain('<p class="lock" id="rate-lock" hidden>')
    expect(html).toContain(
      '<p class="lock" id="rate-ended">The rate lock has ended: the amount will be updated at the current rate.</p>',
    )
  })

  test('behavior: a priced payment’s under- and overpayment are stated in the asset and in the currency', async () => {
    const partial = await pricedPayment({ status: 'PARTIALLY_PAID', amountReceived: 4_000_000_000_000_000n })
    const partialHtml = await (await get(pagePath(partial))).text()
    expect(partialHtml).toContain('Partially paid: 0.006 ETH (15.00 USD) still to send')
    expect(partialHtml).toContain('<input id="amount" readonly value="0.006"')
    const short = await pricedPayment({
      status: 'UNDERPAID',
      amountReceived: 4_000_000_000_000_000n,
      rateLockedUntil: new Date(Date.now() - 1000),
    })
    const shortHtml = await (await get(pagePath(short))).text()
    expect(shortHtml).toContain(
      'Expired with 0.004 of 0.01 ETH received (10.00 of 25.00 USD). Contact the merchant.',
    )
    // a finished payment has no lock to count down or renew
    expect(shortHtml).toContain('<p class="lock" id="rate-lock" hidden>')
    expect(shortHtml).toContain('<p class="lock" id="rate-ended" hidden>')
    const over = await pricedPayment({ status: 'COMPLETED', amountReceived: 10_400_000_000_000_000n })
    const overHtml = await (await get(pagePath(over))).text()
    expect(overHtml).toContain('Payment complete. Thank you!')
    expect(overHtml).toContain(
      '<p class="notice" id="overpaid">You sent 0.0004 ETH (1.00 USD) more than the amount due. Contact the merchant about the difference.</p>',
    )
  })

  test('error: a wrong secret, a missing secret and an unknown id all get the same 404', async () => {
    const wrong = await get(`/pay/${payment.id}?secret=${encodeURIComponent(`${payment.clientSecret}x`)}`)
    const missing = await get(`/pay/${payment.id}`)
    const unknown = await get(`/pay/pay_0000?secret=${encodeURIComponent(payment.clientSecret)}`)
    const bodies = await Promise.all([wrong, missing, unknown].map((r) => r.text()))
    expect([wrong.status, missing.status, unknown.status]).toEqual([404, 404, 404])
    expect(new Set(bodies).size).toBe(1)
    expect(bodies[0]).toContain('Payment not found')
    expect(bodies[0]).not.toContain(payment.address)
  })

  test('args: hostile paths and methods are refused without a lookup', async () => {
    const secret = encodeURIComponent(payment.clientSecret)
    for (const path of [
      `/pay/${payment.id}/other?secret=${secret}`,
      `/pay/${payment.id}/qr.svg/x?secret=${secret}`,
      `/pay/..%2F..%2Fetc?secret=${secret}`,
      `/pay/pay_${'a'.repeat(100)}?secret=${secret}`,
      `/pay/${payment.id}?secret=${'s'.repeat(500)}`,
      '/pay/assets/../../package.json',
      '/pay/assets/nope.js',
    ])
      expect((await get(path)).status).toBe(404)
    const post = await get(pagePath(), { method: 'POST', body: 'x' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })
})

describe('checkout helpers', () => {
  test('args: JSON in a script element cannot close it', () => {
    const out = jsonForScript({ a: '</script><script>alert(1)</script>', b: '\u2028' })
    expect(out).not.toContain('</script>')
    expect(JSON.parse(out)).toEqual({ a: '</script><script>alert(1)</script>', b: '\u2028' })
  })

  test('default: every status has a sentence with its values filled in', async () => {
    const view = (await loadCheckoutView(app.ctx, payment.id, payment.clientSecret))!
    expect(statusText({ ...view, status: 'PROCESSING', confirmations: 1, confirmationsRequired: 3 })).toBe(
      'Payment received, confirming (1 of 3)',
    )
    expect(
      statusText({
        ...view,
        status: 'UNDERPAID',
        amountReceived: '2',
        amountDue: '12.5',
        amountRemaining: '10.5',
      }),
    ).toBe('Expired with 2 of 12.5 USDT received. Contact the merchant.')
    for (const status of ['PENDING', 'COMPLETED', 'EXPIRED', 'HELD', 'REJECTED'] as const)
      expect(statusText({ ...view, status })).not.toContain('{')
    const priced = { ...view, price: { amount: '1250', currency: 'JPY' }, priceDecimals: 0 }
    expect(
      statusText({
        ...priced,
        status: 'PARTIALLY_PAID',
        amountRemaining: '10.5',
        amountRemainingFiat: '1050',
      }),
    ).toBe('Partially paid: 10.5 USDT (1,050 JPY) still to send')
  })

  test('args: fiat keeps the currency’s minor units and groups thousands, from the decimal string', () => {
    expect(formatFiat('25.00', 2)).toBe('25.00')
    expect(formatFiat('12.5', 2)).toBe('12.50')
    expect(formatFiat('0', 2)).toBe('0.00')
    expect(formatFiat('1234567', 2)).toBe('1,234,567.00')
    expect(formatFiat('2500', 0)).toBe('2,500')
    expect(formatFiat('1.234', 3)).toBe('1.234')
    // beyond a float's exact range, every digit stays
    expect(formatFiat('123456789012345678.99', 2)).toBe('123,456,789,012,345,678.99')
    expect(formatFiat('not a number', 2)).toBe('not a number')
  })

  test('args: a rate is grouped, keeps every significant digit and at least the minor units', () => {
    expect(formatRate('3456.78', 2)).toBe('3,456.78')
    expect(formatRate('97123.4500', 2)).toBe('97,123.45')
    expect(formatRate('1', 2)).toBe('1.00')
    expect(formatRate('0.00001234', 2)).toBe('0.00001234')
    expect(formatRate('149.5', 0)).toBe('149.5')
    expect(formatRate('150.000', 0)).toBe('150')
  })
})
