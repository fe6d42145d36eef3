import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { createTestApp, type TestApp } from '../../test/helpers/app.ts'
import { payments } from '../db/schema/index.ts'
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
  })
})
