import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { createTestApp, type TestApp, testConfig } from '../../test/helpers/app.ts'
import { invoices, payments } from '../db/schema/index.ts'

// The hosted checkout of invoices: the invoice page and its method forms, over the real HTTP handler. ETH and
// USDT are pinned at 2500 and 1 USD, so a 25.00 USD invoice is 0.01 ETH or 25 USDT.

let app: TestApp
let key: string

type Invoice = { id: string; clientSecret: string; checkoutUrl: string }

async function createInvoice(accept = ['ETH', 'USDT']): Promise<Invoice> {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreateInvoicePayload { invoice { id clientSecret checkoutUrl } }
      ... on UserError { code message } } }`,
    {
      input: {
        price: { amount: '25.00', currency: 'USD' },
        accept: accept.map((asset) => ({ chain: 'devnet', asset })),
        orderId: '<script>alert(1)</script>',
      },
    },
    key,
  )
  const invoice = res.data?.createPayment?.invoice as Invoice | undefined
  if (!invoice) throw new Error(`createPayment: ${JSON.stringify(res)}`)
  return invoice
}

const request = (path: string, init?: RequestInit) => app.fetch(new Request(`http://localhost${path}`, init))
const invoicePath = (i: Invoice, secret = i.clientSecret) =>
  `/pay/${i.id}?secret=${encodeURIComponent(secret)}`
const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
})
const choose = (i: Invoice, asset: string, extra: Record<string, string> = {}) =>
  request(`/pay/${i.id}/methods`, form({ secret: i.clientSecret, chain: 'devnet', asset, ...extra }))
const methodsOf = (invoiceId: string) =>
  app.ctx.db.select().from(payments).where(eq(payments.invoiceId, invoiceId))

beforeAll(async () => {
  app = await createTestApp({
    env: { PUBLIC_URL: 'https://pay.example.com' },
    config: {
      ...testConfig(),
      pricing: { pairs: { 'ETH/USD': { pin: '2500' }, 'USDT/USD': { pin: '1' } } },
    },
  })
  key = (await app.merchant('Invoice shop')).key
})
afterAll(() => app.close())

describe('invoice page', () => {
  test('default: checkoutUrl opens the price, what arrived and what is left, the lock’s end and one form per method', async () => {
    const invoice = await createInvoice()
    const url = new URL(invoice.checkoutUrl)
    expect(`${url.origin}${url.pathname}`).toBe(`https://pay.example.com/pay/${invoice.id}`)
    const res = await request(`${url.pathname}${url.search}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-store')
    // the forms may post to the page's own origin (and PUBLIC_URL's, where the choice lands), nowhere else
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("form-action 'self' https://pay.example.com;")
    expect(csp).toContain("frame-ancestors 'none'")
    const html = await res.text()
    expect(html).toContain('<title>Pay 25.00 USD</title>')
    expect(html).toContain('<h1 id="checkout-title">Pay <span data-field="price">25.00 USD</span></h1>')
    expect(html).toContain('<dd id="received">0.00 USD</dd>')
    expect(html).toContain('<dd id="remaining">25.00 USD</dd>')
    expect(html).toContain('Choose how you want to pay')
    const [row] = await app.ctx.db.select().from(invoices).where(eq(invoices.id, invoice.id))
    const lock = row!.rateLockedUntil
    expect(html).toContain(
      `<span id="rate-lock-label">Rate locked until</span> <time id="rate-countdown" datetime="${lock.toISOString()}">`,
    )
    expect(html).toContain('<span class="method-amount">0.01 ETH</span>')
    expect(html).toContain('<span class="method-rate">1 ETH = 2,500.00 USD</span>')
    expect(html).toContain('<span class="method-amount">25 USDT</span>')
    expect(html).toContain('<span class="method-rate">1 USDT = 1.00 USD</span>')
    expect(
      html.match(new RegExp(`<form method="post" action="/pay/${invoice.id}/methods">`, 'g')),
    ).toHaveLength(2)
    expect(html).toContain(`<input type="hidden" name="secret" value="${invoice.clientSecret}">`)
    expect(html).toContain('<input type="hidden" name="asset" value="eip155:31337/erc20:')
    expect(html).toContain('<script src="/pay/assets/checkout.js" defer></script>')
    // the order id is the merchant's: not on the page
    expect(html).not.toContain('alert(1)')
  })

  test('error: a wrong secret, a missing secret and an unknown id get the payment page’s 404', async () => {
    const invoice = await createInvoice()
    const responses = await Promise.all([
      request(invoicePath(invoice, `${invoice.clientSecret}x`)),
      request(`/pay/${invoice.id}`),
      request(`/pay/inv_0000?secret=${encodeURIComponent(invoice.clientSecret)}`),
      request('/pay/pay_0000?secret=x'),
    ])
    expect(responses.map((r) => r.status)).toEqual([404, 404, 404, 404])
    const bodies = await Promise.all(responses.map((r) => r.text()))
    expect(new Set(bodies).size).toBe(1)
    expect(bodies[0]).not.toContain('25.00')
    // and a form with a wrong secret chooses nothing
    const post = await request(
      `/pay/${invoice.id}/methods`,
      form({ secret: `${invoice.clientSecret}x`, chain: 'devnet', asset: 'USDT' }),
    )
    expect(post.status).toBe(404)
    expect(await post.text()).toBe(bodies[0] as string)
    expect(await methodsOf(invoice.id)).toHaveLength(0)
  })

  test('behavior: choosing a method answers 303 to its payment’s page; choosing it again lands on the same payment', async () => {
    const invoice = await createInvoice()
    const res = await choose(invoice, 'USDT')
    expect(res.status).toBe(303)
    const [payment, ...others] = await methodsOf(invoice.id)
    expect(others).toHaveLength(0)
    expect(payment).toMatchObject({
      chain: 'devnet',
      asset: 'eip155:31337/erc20:0x5fbdb2315678afecb367f032d93f642f64180aa3',
      rate: '1',
    })
    expect(payment!.amountDue).toBe(25_000_000n)
    expect(res.headers.get('location')).toBe(
      `https://pay.example.com/pay/${payment!.id}?secret=${encodeURIComponent(payment!.clientSecret)}`,
    )
    const again = await choose(invoice, 'USDT')
    expect(again.status).toBe(303)
    expect(again.headers.get('location')).toBe(res.headers.get('location'))
    expect(await methodsOf(invoice.id)).toHaveLength(1)
    // the page says the method was chosen before
    expect(await (await request(invoicePath(invoice))).text()).toContain(
      '<span class="method-action">Continue with USDT</span>',
    )
    // an embedded page stays embedded
    const embedded = await choose(invoice, 'USDT', { embed: '1' })
    expect(embedded.headers.get('location')).toBe(`${res.headers.get('location')}&embed=1`)
  })

  test('behavior: a method’s payment page links back to the invoice with the invoice’s own secret', async () => {
    const invoice = await createInvoice()
    const location = new URL((await choose(invoice, 'ETH')).headers.get('location') as string)
    const page = await request(`${location.pathname}${location.search}`)
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('<title>Pay 25.00 USD</title>')
    expect(html).toContain('<p class="quote-amount"><span data-field="amountDue">0.01</span> ETH</p>')
    expect(html).toContain(
      `<a id="other-method" href="/pay/${invoice.id}?secret=${encodeURIComponent(invoice.clientSecret)}">Pay with another method</a>`,
    )
    // the payment's own secret is not the invoice's
    expect(location.searchParams.get('secret')).not.toBe(invoice.clientSecret)
    const embedded = await (await request(`${location.pathname}${location.search}&embed=1`)).text()
    expect(embedded).toContain(
      `href="/pay/${invoice.id}?secret=${encodeURIComponent(invoice.clientSecret)}&amp;embed=1"`,
    )
    // a payment of its own has no invoice to go back to
    const own = await app.gql(
      `mutation { createPayment(input: { chain: "devnet", asset: "USDT", amount: "5" }) {
        ... on CreatePaymentPayload { payment { checkoutUrl } } } }`,
      {},
      key,
    )
    const ownUrl = new URL(own.data.createPayment.payment.checkoutUrl)
    const ownHtml = await (await request(`${ownUrl.pathname}${ownUrl.search}`)).text()
    expect(ownHtml).not.toContain('other-method')
  })

  test('error: an asset the invoice does not accept shows the page again with the reason, 400, and writes nothing', async () => {
    const invoice = await createInvoice(['ETH'])
    const res = await choose(invoice, 'USDT')
    expect(res.status).toBe(400)
    expect(res.headers.get('content-security-policy')).toContain("form-action 'self'")
    const html = await res.text()
    expect(html).toContain(
      '<p class="notice error" id="error" role="alert">this invoice does not accept USDT on devnet; it accepts ETH on devnet</p>',
    )
    expect(html).toContain('<span class="method-amount">0.01 ETH</span>')
    expect(html).not.toContain('USDT</span>')
    expect(await methodsOf(invoice.id)).toHaveLength(0)
    // missing fields read the same way
    const empty = await request(`/pay/${invoice.id}/methods`, form({ secret: invoice.clientSecret }))
    expect(empty.status).toBe(400)
    expect(await empty.text()).toContain('Choose one of the methods below.')
    const unknown = await choose(invoice, 'DOGE')
    expect(unknown.status).toBe(400)
    expect(await methodsOf(invoice.id)).toHaveLength(0)
  })

  test('error: a closed invoice refuses a choice with 409 and shows no methods', async () => {
    const invoice = await createInvoice()
    await app.ctx.db
      .update(invoices)
      .set({ status: 'COMPLETED', amountReceivedFiat: '25', completedAt: new Date() })
      .where(eq(invoices.id, invoice.id))
    const res = await choose(invoice, 'ETH')
    expect(res.status).toBe(409)
    const html = await res.text()
    expect(html).toContain('the invoice is COMPLETED: no method can be chosen')
    expect(html).toContain('Paid in full. Thank you!')
    expect(html).toContain('<dd id="remaining">0.00 USD</dd>')
    expect(html).not.toContain('<form')
    expect(html).toContain('<p class="lock" id="rate-lock" hidden>')
    expect(await methodsOf(invoice.id)).toHaveLength(0)
  })

  test('args: methods, content types, sizes and paths are guarded before anything is chosen', async () => {
    const invoice = await createInvoice()
    const methods = `/pay/${invoice.id}/methods`
    const get = await request(`${methods}?secret=${encodeURIComponent(invoice.clientSecret)}`)
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST')
    const postPage = await request(invoicePath(invoice), form({ secret: invoice.clientSecret }))
    expect(postPage.status).toBe(405)
    expect(postPage.headers.get('allow')).toBe('GET, HEAD')
    const json = await request(methods, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret: invoice.clientSecret, chain: 'devnet', asset: 'ETH' }),
    })
    expect(json.status).toBe(415)
    const multipart = new FormData()
    for (const [k, v] of Object.entries({ secret: invoice.clientSecret, chain: 'devnet', asset: 'ETH' }))
      multipart.set(k, v)
    expect((await request(methods, { method: 'POST', body: multipart })).status).toBe(415)
    const padded = form({
      secret: invoice.clientSecret,
      chain: 'devnet',
      asset: 'ETH',
      pad: 'x'.repeat(4000),
    })
    expect((await request(methods, padded)).status).toBe(413)
    // a streamed body without a length is counted as it arrives
    const chunk = new TextEncoder().encode(`pad=${'x'.repeat(1000)}&`)
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 10) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const streamed = await request(methods, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: stream,
    })
    expect(streamed.status).toBe(413)
    for (const path of [
      `/pay/${invoice.id}/other?secret=${encodeURIComponent(invoice.clientSecret)}`,
      `/pay/${invoice.id}/methods/x?secret=${encodeURIComponent(invoice.clientSecret)}`,
      `/pay/${invoice.id}/qr.svg?secret=${encodeURIComponent(invoice.clientSecret)}`,
      `/pay/inv_${'a'.repeat(100)}?secret=${encodeURIComponent(invoice.clientSecret)}`,
      `${invoicePath(invoice, 's'.repeat(500))}`,
    ])
      expect((await request(path)).status).toBe(404)
    expect(await methodsOf(invoice.id)).toHaveLength(0)
  })
})
