import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import jsQR from 'jsqr'
import type { Page } from 'playwright-core'
import { PNG } from 'pngjs'
import { parseEther } from 'viem'
import { formatFiat } from '../../src/checkout/fiat.ts'
import { parseDecimal, priceToUnits } from '../../src/core/pricing/decimal.ts'
import { artifactsDir, expectRateLockCountingDown } from '../helpers/browser.ts'
import type { Devnet } from '../helpers/chain.ts'
import { type CheckoutGateway, startDevnetCheckout } from '../helpers/checkout-gateway.ts'
import { waitFor } from '../helpers/processes.ts'

// The hosted checkout of fiat-priced payments, in Chromium, against a real API and worker: the gateway prices ETH
// in USD at the operator's pinned rate, and the worker re-quotes a payment whose lock ran out.

const ethUsd = '3456.78'

let gateway: CheckoutGateway<Devnet>

type Payment = { id: string; address: string; paymentUri: string; checkoutUrl: string }
type Quote = {
  amountDue: string
  rate: string
  rateLockedUntil: string
  paymentUri: string
  amountRemaining: string
  amountRemainingFiat: string
}

beforeAll(async () => {
  // ETH/USD pinned by the operator: the rate book answers it with no rates job
  gateway = await startDevnetCheckout({
    merchant: 'Priced shop',
    prefix: 'checkout-pricing',
    pins: { 'ETH/USD': ethUsd },
  })
}, 60_000)

afterAll(() => gateway?.stop())

const gql = (query: string, variables: Record<string, unknown> = {}) => gateway.gql(query, variables)

/** A payment of 25.00 USD, in ETH. */
async function createPricedPayment(): Promise<Payment> {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
        ... on CreatePaymentPayload { payment { id address paymentUri checkoutUrl } }
        ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', price: { amount: '25.00', currency: 'USD' } } },
  )
  const payment = res.data?.createPayment?.payment as Payment | undefined
  if (!payment) throw new Error(`createPayment: ${JSON.stringify(res)}`)
  return payment
}

async function quoteOf(id: string): Promise<Quote> {
  const res = await gql(
    `query ($id: ID!) { payment(id: $id) {
      amountDue rate rateLockedUntil paymentUri amountRemaining amountRemainingFiat } }`,
    { id },
  )
  return res.data.payment
}

/** What a phone camera would read: the QR element as pixels, decoded by a QR reader. */
async function readQr(page: Page): Promise<string | undefined> {
  const png = PNG.sync.read(await page.locator('#qr svg').screenshot())
  return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data
}

async function openCheckout(payment: Payment, options: { clock?: boolean } = {}) {
  const page = await gateway.browser.newPage({ viewport: { width: 390, height: 844 } })
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text())
  })
  // a clock the test can move forward (it runs on by itself meanwhile)
  if (options.clock) await page.clock.install()
  await page.goto(payment.checkoutUrl)
  // a marker that a reload would wipe
  await page.evaluate(() => {
    ;(window as unknown as { loadedOnce: boolean }).loadedOnce = true
  })
  return { page, errors }
}

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent())?.trim()
const loadedOnce = (page: Page) =>
  page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)

describe('checkout of a fiat-priced payment in Chromium', () => {
  test('default: the page leads with 25.00 USD, then the amount in ETH and the rate, and counts the rate lock down', async () => {
    const payment = await createPricedPayment()
    const quote = await quoteOf(payment.id)
    expect(quote.rate).toBe(ethUsd)
    const { page, errors } = await openCheckout(payment)
    expect(await text(page, 'h1')).toBe('Pay 25.00 USD')
    expect(await page.title()).toBe('Pay 25.00 USD')
    expect(await text(page, '.quote-amount')).toBe(`${quote.amountDue} ETH`)
    expect(await text(page, '#rate')).toBe('1 ETH = 3,456.78 USD')
    expect(await page.locator('#amount').inputValue()).toBe(quote.amountDue)
    expect(await page.locator('#rate-countdown').getAttribute('datetime')).toBe(quote.rateLockedUntil)
    // the lock is 15 minutes (the default rateLockSeconds)
    await expectRateLockCountingDown(page)
    expect(await page.locator('#rate-ended').isHidden()).toBe(true)
    expect(await readQr(page)).toBe(payment.paymentUri)
    await page.screenshot({ path: join(artifactsDir, 'checkout-priced.png') })
    expect(errors).toEqual([])
    await page.close()
  })

  test('behavior: after the lock runs out the page says so, and the worker’s re-quote brings a new amount, QR, link and countdown without a reload', async () => {
    const payment = await createPricedPayment()
    // quoted earlier at 3000 USD/ETH, locked for two more minutes
    const earlierAmount = priceToUnits(parseDecimal('25.00'), parseDecimal('3000'), 18)
    await gateway.sql`UPDATE payments SET rate = '3000', amount_due = ${earlierAmount.toString()},
      rate_locked_until = now() + interval '2 minutes' WHERE id = ${payment.id}`
    const earlier = await quoteOf(payment.id)
    expect(earlier.amountDue).toBe('0.008333333333333334')
    const { page, errors } = await openCheckout(payment, { clock: true })
    expect(await text(page, '.quote-amount')).toBe('0.008333333333333334 ETH')
    expect(await text(page, '#rate')).toBe('1 ETH = 3,000.00 USD')
    expect(await text(page, '#rate-lock')).toMatch(/^Rate locked for (1:[0-5]\d|2:00)$/)
    expect(await readQr(page)).toBe(earlier.paymentUri)

    // the payer's two minutes pass: the page says what happens next
    await page.clock.fastForward('02:01')
    await page.waitForSelector('#rate-ended:not([hidden])')
    expect(await text(page, '#rate-ended')).toBe(
      'The rate lock has ended: the amount will be updated at the current rate.',
    )
    expect(await page.locator('#rate-lock').isHidden()).toBe(true)

    // and on the gateway's clock too: the worker's expiry pass quotes it again at the current rate
    await gateway.sql`UPDATE payments SET rate_locked_until = now() - interval '1 second' WHERE id = ${payment.id}`
    const requoted = await waitFor(
      'the worker to quote the payment again',
      async () => {
        const q = await quoteOf(payment.id)
        return q.rate === ethUsd ? q : undefined
      },
      20_000,
    )
    expect(requoted.amountDue).not.toBe(earlier.amountDue)
    expect(requoted.amountDue).toBe('0.007232164037051823')
    await page.waitForFunction(
      (uri) => document.getElementById('wallet-link')?.getAttribute('href') === uri,
      requoted.paymentUri,
      { timeout: 20_000 },
    )
    expect(await text(page, '.quote-amount')).toBe(`${requoted.amountDue} ETH`)
    expect(await text(page, '#rate')).toBe('1 ETH = 3,456.78 USD')
    expect(await page.locator('#amount').inputValue()).toBe(requoted.amountDue)
    expect(await page.locator('#rate-countdown').getAttribute('datetime')).toBe(requoted.rateLockedUntil)
    // a new countdown (from the page's clock, two minutes ahead of the gateway's)
    expect(await page.locator('#rate-lock').isVisible()).toBe(true)
    expect(await text(page, '#rate-lock')).toMatch(/^Rate locked for 1[23]:[0-5]\d$/)
    expect(await page.locator('#rate-ended').isHidden()).toBe(true)
    expect(await text(page, '#requoted')).toBe(
      'The amount was updated at the current rate. Send the new amount.',
    )
    await waitFor('the QR to show the new amount', async () => (await readQr(page)) === requoted.paymentUri)
    expect(await loadedOnce(page)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'checkout-priced-requoted.png') })

    // what the script wrote is what the server renders for a page without JavaScript
    const context = await gateway.browser.newContext({ javaScriptEnabled: false })
    const plain = await context.newPage()
    await plain.goto(payment.checkoutUrl)
    for (const selector of ['h1', '.quote-amount', '#rate', '#status-text'])
      expect(await text(plain, selector)).toBe((await text(page, selector)) as string)
    expect(await plain.locator('#amount').inputValue()).toBe(requoted.amountDue)
    expect(await plain.locator('#wallet-link').getAttribute('href')).toBe(requoted.paymentUri)
    await context.close()
    expect(errors).toEqual([])
    await page.close()
  })

  test('default: without JavaScript the page shows the price, the amount, the rate and when the lock ends', async () => {
    const payment = await createPricedPayment()
    const quote = await quoteOf(payment.id)
    const context = await gateway.browser.newContext({ javaScriptEnabled: false })
    const page = await context.newPage()
    await page.goto(payment.checkoutUrl)
    expect(await text(page, 'h1')).toBe('Pay 25.00 USD')
    expect(await text(page, '.quote-amount')).toBe(`${quote.amountDue} ETH`)
    expect(await text(page, '#rate')).toBe('1 ETH = 3,456.78 USD')
    expect(await text(page, '#rate-lock')).toBe(
      `Rate locked until ${new Date(quote.rateLockedUntil).toUTCString()}`,
    )
    expect(await page.locator('#rate-countdown').getAttribute('datetime')).toBe(quote.rateLockedUntil)
    expect(await page.locator('#amount').inputValue()).toBe(quote.amountDue)
    await page.screenshot({ path: join(artifactsDir, 'checkout-priced-no-script.png') })
    await context.close()
  })

  test('behavior: a partial payment says what remains in ETH and in USD, live; an overpayment says how much more came, in both', async () => {
    const payment = await createPricedPayment()
    const quote = await quoteOf(payment.id)
    const due = parseEther(quote.amountDue)
    const { page, errors } = await openCheckout(payment)
    await page.waitForFunction(() => document.documentElement.dataset.transport === 'ws')

    const half = due / 2n
    await gateway.node.payNative(payment.address, half)
    await page.waitForSelector('#status[data-status="PARTIALLY_PAID"]', { timeout: 20_000 })
    const partial = await quoteOf(payment.id)
    expect(await text(page, '#status-text')).toBe(
      `Partially paid: ${partial.amountRemaining} ETH (${formatFiat(partial.amountRemainingFiat, 2)} USD) still to send`,
    )
    // about half of 25.00 USD (the fiat value is rounded down)
    expect(partial.amountRemainingFiat).toMatch(/^12\.\d\d?$/)
    expect(await page.locator('#amount').inputValue()).toBe(partial.amountRemaining)
    expect(await page.locator('#overpaid').isHidden()).toBe(true)

    // the rest and 0.001 ETH more: 3.45678 USD at the payment's rate, shown rounded down
    await gateway.node.payNative(payment.address, due - half + parseEther('0.001'))
    await page.waitForSelector('#status[data-status="PROCESSING"]', { timeout: 20_000 })
    await page.waitForSelector('#overpaid:not([hidden])')
    expect(await text(page, '#overpaid')).toBe(
      'You sent 0.001 ETH (3.45 USD) more than the amount due. Contact the merchant about the difference.',
    )
    expect(await page.locator('#rate-lock').isHidden()).toBe(true)
    await gateway.node.mine(2)
    await page.waitForSelector('#status[data-status="COMPLETED"]', { timeout: 20_000 })
    expect(await text(page, '#overpaid')).toContain('(3.45 USD)')
    await page.screenshot({ path: join(artifactsDir, 'checkout-priced-overpaid.png') })
    expect(await loadedOnce(page)).toBe(true)
    expect(errors).toEqual([])
    await page.close()
  })
})
