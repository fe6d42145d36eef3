import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page, Response } from 'playwright-core'
import { parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { refundStatusText } from '../../src/checkout/refund-page.ts'
import { artifactsDir } from '../helpers/browser.ts'
import type { Devnet } from '../helpers/chain.ts'
import { type CheckoutGateway, startDevnetCheckout } from '../helpers/checkout-gateway.ts'
import { waitFor } from '../helpers/processes.ts'
import { passDeadline } from '../helpers/refunds.ts'

// The refund link's page in Chromium, against a real API and worker on anvil: a completed ETH payment (its order id
// hostile markup) is refunded from the balance, an underpaid USDT payment from its uncredited funds, each through
// refundPayment without `to`; the buyer opens the refundUrl, types an address and submits the plain form.

let gateway: CheckoutGateway<Devnet>
/** COMPLETED, 1 ETH: refunds from the merchant's balance. */
let completed: Payment
/** UNDERPAID, 4 of 10 USDT received: a refund of its uncredited funds. */
let underpaid: Payment

type Payment = { id: string; address: string; orderId: string | null }
type Refund = { id: string; status: string; amount: string; reason: string | null; refundUrl: string }

const xssOrderId = `"><img src=x onerror="alert('order')"><script>alert('order')</script>`
const xssReason = `<script>alert('reason')</script>"><img src=x onerror="alert('reason')">`

beforeAll(async () => {
  gateway = await startDevnetCheckout({ merchant: 'Refund shop', prefix: 'refund-page' })
  // the treasury is never funded: a claimed refund's payout waits QUEUED, its refund PENDING
  completed = await createPayment('ETH', '1', xssOrderId)
  underpaid = await createPayment('USDT', '10')
  expect(completed.orderId).toBe(xssOrderId)
  await gateway.node.payNative(completed.address, parseEther('1'))
  await gateway.node.payToken(underpaid.address, 4_000_000n)
  await gateway.node.mine(2)
  await waitFor(
    'the ETH payment to complete',
    async () => (await statusOf(completed.id)) === 'COMPLETED',
    20_000,
  )
  await waitFor(
    'the USDT payment to see 4 USDT',
    async () => (await statusOf(underpaid.id)) === 'PARTIALLY_PAID',
  )
  await passDeadline(gateway.sql, underpaid.id)
  await waitFor(
    'the USDT payment to end UNDERPAID',
    async () => (await statusOf(underpaid.id)) === 'UNDERPAID',
    20_000,
  )
}, 90_000)

afterAll(() => gateway?.stop())

const gql = (query: string, variables: Record<string, unknown> = {}) => gateway.gql(query, variables)

async function createPayment(asset: string, amount: string, orderId?: string): Promise<Payment> {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address orderId } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset, amount, ...(orderId ? { orderId } : {}) } },
  )
  const payment = res.data?.createPayment?.payment as Payment | undefined
  if (!payment) throw new Error(`createPayment: ${JSON.stringify(res)}`)
  return payment
}

async function statusOf(paymentId: string): Promise<string> {
  return (await gql('query ($id: ID!) { payment(id: $id) { status } }', { id: paymentId })).data.payment
    .status
}

let keys = 0
/** A refund through a link: refundPayment without `to`. */
async function createRefund(
  paymentId: string,
  input: { amount?: string; reason?: string } = {},
): Promise<Refund> {
  const res = await gql(
    `mutation ($input: RefundPaymentInput!) { refundPayment(input: $input) {
      ... on RefundPaymentPayload { refund { id status amount reason refundUrl } }
      ... on UserError { code field message } } }`,
    { input: { paymentId, idempotencyKey: `page-${++keys}`, ...input } },
  )
  const refund = res.data?.refundPayment?.refund as Refund | undefined
  if (!refund?.refundUrl) throw new Error(`refundPayment: ${JSON.stringify(res)}`)
  return refund
}

/** The refund as stored, and the withdrawals that pay it. */
async function stored(refundId: string) {
  const [row] = await gateway.sql<
    { status: string; to_address: string | null; withdrawal_id: string | null }[]
  >`
    SELECT status, to_address, withdrawal_id FROM refunds WHERE id = ${refundId}`
  const payouts = await gateway.sql<{ id: string; to_address: string; amount: string; status: string }[]>`
    SELECT id, to_address, amount::text, status FROM withdrawals WHERE refund_id = ${refundId}`
  return { ...row!, payouts: [...payouts] }
}

const freshAddress = () => privateKeyToAccount(generatePrivateKey()).address

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent())?.trim()

/** A phone-sized page that records errors (scripts, CSP, failed subresources) and any dialog a script would open. */
async function openPage(context: Browser | BrowserContext = gateway.browser) {
  const page = await context.newPage({ viewport: { width: 375, height: 812 } })
  // a missing element fails its assertion at once instead of waiting for the test's timeout
  page.setDefaultTimeout(5_000)
  const errors: string[] = []
  const dialogs: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  // the page's own 4xx answers are expected; a CSP violation or a stylesheet that fails to load is not
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) errors.push(msg.text())
  })
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document' && r.status() >= 400)
      errors.push(`${r.status()} ${r.url()}`)
  })
  page.on('requestfailed', (r) => errors.push(`failed: ${r.url()}`))
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message())
    void dialog.dismiss()
  })
  return { page, errors, dialogs }
}

/** Types `to` and submits the form; the answer to the POST (the redirect, or the page re-rendered). */
async function submit(page: Page, to: string): Promise<Response> {
  await page.locator('#refund-to').fill(to)
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.locator('#refund-submit').click(),
  ])
  await page.waitForLoadState('load')
  return answer
}

/** Nothing on the page is wider than the viewport (no sideways scrolling on a phone). */
const overflow = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)

describe('refund link page in Chromium', () => {
  test('default: the buyer enters a fresh address: 303 back to the page, which shows the status and the address; the refund has it and a withdrawal', async () => {
    const refund = await createRefund(completed.id, { amount: '0.1', reason: 'damaged in transit' })
    expect(refund.status).toBe('AWAITING_ADDRESS')
    const { page, errors, dialogs } = await openPage()
    const opened = await page.goto(refund.refundUrl)
    expect(opened?.status()).toBe(200)
    expect(await page.title()).toBe('Refund of 0.1 ETH')
    expect(await text(page, 'h1')).toBe('Refund of 0.1 ETH')
    expect(await text(page, '#refund-amount')).toBe('0.1')
    expect(await text(page, '#refund-status')).toBe(refundStatusText.AWAITING_ADDRESS)
    expect(await text(page, 'label[for="refund-to"]')).toBe('Your devnet address')
    expect(await page.locator('#refund-error').count()).toBe(0)
    expect(await overflow(page)).toBeLessThanOrEqual(0)
    await page.screenshot({ path: join(artifactsDir, 'refund-form.png') })

    // typed in lower case: stored checksummed
    const to = freshAddress()
    const answer = await submit(page, to.toLowerCase())
    expect(answer.status()).toBe(303)
    expect(page.url()).toBe(refund.refundUrl)
    const row = await stored(refund.id)
    expect(['PENDING', 'SENT']).toContain(row.status)
    expect(row.to_address).toBe(to)
    expect(row.payouts).toHaveLength(1)
    expect(row.payouts[0]).toMatchObject({
      id: row.withdrawal_id,
      to_address: to,
      amount: (10n ** 17n).toString(),
    })

    expect(await text(page, '#refund-status')).toBe(refundStatusText[row.status as 'PENDING' | 'SENT'])
    expect(await text(page, '#refund-address')).toBe(to)
    expect(await page.locator('form').count()).toBe(0)
    expect(await page.locator('#refund-to').count()).toBe(0)
    expect(await overflow(page)).toBeLessThanOrEqual(0)
    await page.screenshot({ path: join(artifactsDir, 'refund-claimed.png') })

    // the merchant reads the same, and the link is spent
    const read = await gql(
      'query ($id: ID!) { refund(id: $id) { status to refundUrl withdrawal { id to } } }',
      {
        id: refund.id,
      },
    )
    expect(read.data.refund).toEqual({
      status: row.status,
      to,
      refundUrl: null,
      withdrawal: { id: row.withdrawal_id, to },
    })
    expect(errors).toEqual([])
    expect(dialogs).toEqual([])
    await page.close()
  })

  test('error: without JavaScript, garbage, a Bitcoin address and a bad checksum each get 400 with the reason and the form again, writing nothing; then a good address claims it', async () => {
    const refund = await createRefund(underpaid.id)
    expect(refund.amount).toBe('4')
    const context = await gateway.browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 375, height: 812 },
    })
    context.setDefaultTimeout(5_000)
    const page = await context.newPage()
    await page.goto(refund.refundUrl)
    expect(await text(page, 'h1')).toBe('Refund of 4 USDT')

    const good = freshAddress()
    // one letter's case flipped: still hex, the EIP-55 checksum no longer matches
    const flip = good.slice(2).search(/[a-fA-F]/) + 2
    const badChecksum = `${good.slice(0, flip)}${good[flip] === good[flip]!.toLowerCase() ? good[flip]!.toUpperCase() : good[flip]!.toLowerCase()}${good.slice(flip + 1)}`
    const refused: [string, RegExp][] = [
      ['not an address at all', /^not a valid devnet address: not a 0x-prefixed 20-byte hex address$/],
      ['bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', /^not a valid devnet address: not a 0x-prefixed/],
      [badChecksum, /^not a valid devnet address: bad EIP-55 checksum$/],
    ]
    for (const [to, reason] of refused) {
      const answer = await submit(page, to)
      expect(answer.status()).toBe(400)
      expect(await text(page, '#refund-error')).toMatch(reason)
      expect(await text(page, 'h1')).toBe('Refund of 4 USDT')
      expect(await text(page, '#refund-status')).toBe(refundStatusText.AWAITING_ADDRESS)
      expect(await page.locator('form #refund-to').count()).toBe(1)
      expect(await page.locator('form #refund-submit').count()).toBe(1)
      expect(await overflow(page)).toBeLessThanOrEqual(0)
      expect(await stored(refund.id)).toEqual({
        status: 'AWAITING_ADDRESS',
        to_address: null,
        withdrawal_id: null,
        payouts: [],
      })
    }
    await page.screenshot({ path: join(artifactsDir, 'refund-refused.png') })

    // the form the refusal rendered again carries the secret: the right address now goes through, still no script
    const answer = await submit(page, good)
    expect(answer.status()).toBe(303)
    expect(page.url()).toBe(refund.refundUrl)
    const row = await stored(refund.id)
    expect(row).toMatchObject({ status: 'PENDING', to_address: good })
    expect(row.payouts).toEqual([
      { id: row.withdrawal_id!, to_address: good, amount: '4000000', status: 'QUEUED' },
    ])
    expect(await text(page, '#refund-status')).toBe(refundStatusText.PENDING)
    expect(await text(page, '#refund-address')).toBe(good)
    expect(await page.locator('#refund-error').count()).toBe(0)
    await context.close()
  })

  test('error: a link used in one tab, submitted again from a second tab opened before, gets 409 and says it was used; the first address stays', async () => {
    const refund = await createRefund(completed.id, { amount: '0.2' })
    const first = await openPage()
    const second = await openPage()
    await Promise.all([first.page.goto(refund.refundUrl), second.page.goto(refund.refundUrl)])
    const to = freshAddress()
    expect((await submit(first.page, to)).status()).toBe(303)

    const other = freshAddress()
    const answer = await submit(second.page, other)
    expect(answer.status()).toBe(409)
    expect(await text(second.page, '#refund-error')).toBe('this refund link was already used')
    expect(await text(second.page, '#refund-address')).toBe(to)
    expect(await second.page.locator('form').count()).toBe(0)
    expect(await overflow(second.page)).toBeLessThanOrEqual(0)
    await second.page.screenshot({ path: join(artifactsDir, 'refund-used.png') })

    const row = await stored(refund.id)
    expect(row.to_address).toBe(to)
    expect(row.payouts.map((w) => w.to_address)).toEqual([to])
    // the link itself, opened again, shows where the refund goes and no form
    await second.page.goto(refund.refundUrl)
    expect(await text(second.page, '#refund-address')).toBe(to)
    expect(await second.page.locator('form').count()).toBe(0)
    expect([...first.errors, ...second.errors]).toEqual([])
    await Promise.all([first.page.close(), second.page.close()])
  })

  test('error: a wrong secret or an unknown id is a 404 that shows nothing of the refund; the page has a strict CSP and no script', async () => {
    const refund = await createRefund(completed.id, { amount: '0.05' })
    const url = new URL(refund.refundUrl)
    const secret = url.searchParams.get('secret')!
    const wrongSecret = new URL(url)
    wrongSecret.searchParams.set('secret', `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`)
    const unknownId = new URL(url)
    unknownId.pathname = `/refund/rf_${crypto.randomUUID().replaceAll('-', '')}`
    const noSecret = new URL(url)
    noSecret.search = ''
    const { page, errors } = await openPage()
    for (const target of [wrongSecret, unknownId, noSecret]) {
      const res = await page.goto(target.href)
      expect(res?.status()).toBe(404)
      expect(await text(page, 'h1')).toBe('Refund not found')
      expect(await page.content()).not.toContain('0.05')
      expect(await page.locator('form').count()).toBe(0)
      expect(await overflow(page)).toBeLessThanOrEqual(0)
    }
    await page.screenshot({ path: join(artifactsDir, 'refund-not-found.png') })
    // a POST with a wrong secret is refused the same way and writes nothing
    const posted = await fetch(`${url.origin}${url.pathname}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ secret: wrongSecret.searchParams.get('secret')!, to: freshAddress() }),
      redirect: 'manual',
    })
    expect(posted.status).toBe(404)
    expect((await stored(refund.id)).status).toBe('AWAITING_ADDRESS')

    const res = await page.goto(refund.refundUrl)
    expect(res?.status()).toBe(200)
    const headers = await res!.allHeaders()
    const csp = Object.fromEntries(
      headers['content-security-policy']!.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/)
        return [name, values.join(' ')]
      }),
    )
    expect(csp['default-src']).toBe("'none'")
    expect(csp['script-src']).toBe("'self'")
    expect(csp['style-src']).toBe("'self'")
    expect(csp['frame-ancestors']).toBe("'none'")
    expect(csp['base-uri']).toBe("'none'")
    expect(csp['form-action']).toBe(`'self' ${url.origin}`)
    expect(headers['content-security-policy']).not.toContain('unsafe-inline')
    expect(headers['cache-control']).toBe('no-store')
    expect(headers['referrer-policy']).toBe('no-referrer')
    expect(headers['x-content-type-options']).toBe('nosniff')
    expect(await page.locator('script').count()).toBe(0)
    expect(await page.evaluate(() => document.querySelectorAll('[onload],[onerror],[onclick]').length)).toBe(
      0,
    )
    // its stylesheet loaded under that policy
    expect(await page.locator('main').evaluate((m) => getComputedStyle(m).borderRadius)).toBe('12px')
    expect(errors).toEqual([])
    await page.close()
  })

  test('behavior: hostile markup in the payment’s order id and the refund’s reason never reaches the page, and a hostile address is refused inertly', async () => {
    const refund = await createRefund(completed.id, { amount: '0.15', reason: xssReason })
    // stored verbatim: the merchant's API gives both back
    expect(refund.reason).toBe(xssReason)
    const { page, errors, dialogs } = await openPage()
    await page.goto(refund.refundUrl)
    const html = await page.content()
    for (const needle of ['alert(', '<img', 'onerror', xssReason, xssOrderId, 'damaged in transit'])
      expect(html).not.toContain(needle)
    expect(await page.evaluate(() => document.querySelectorAll('script, img, iframe').length)).toBe(0)
    expect(await text(page, 'main')).not.toContain('alert')

    // typed as the address: refused with a reason that does not echo it
    const answer = await submit(page, `"><img src=x onerror="alert('to')"><script>alert('to')</script>`)
    expect(answer.status()).toBe(400)
    expect(await text(page, '#refund-error')).toBe(
      'not a valid devnet address: not a 0x-prefixed 20-byte hex address',
    )
    expect(await page.evaluate(() => document.querySelectorAll('script, img, iframe').length)).toBe(0)
    expect(await page.content()).not.toContain('alert(')
    expect(dialogs).toEqual([])
    expect(errors).toEqual([])
    expect((await stored(refund.id)).status).toBe('AWAITING_ADDRESS')
    await page.close()
  })
})
