import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import jsQR from 'jsqr'
import type { Page } from 'playwright-core'
import { PNG } from 'pngjs'
import { parseEther } from 'viem'
import { artifactsDir } from '../helpers/browser.ts'
import type { Devnet } from '../helpers/chain.ts'
import { type CheckoutGateway, startDevnetCheckout } from '../helpers/checkout-gateway.ts'
import { spawnApi, waitFor } from '../helpers/processes.ts'

let gateway: CheckoutGateway<Devnet>

type Payment = { id: string; address: string; paymentUri: string; checkoutUrl: string }

beforeAll(async () => {
  gateway = await startDevnetCheckout({ merchant: 'Browser shop', prefix: 'checkout' })
}, 60_000)

afterAll(() => gateway?.stop())

const gql = (query: string, variables: Record<string, unknown> = {}) => gateway.gql(query, variables)

async function createPayment(asset: string, amount: string): Promise<Payment> {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address paymentUri checkoutUrl } } } }`,
    { input: { chain: 'devnet', asset, amount } },
  )
  return res.data.createPayment.payment
}

async function currentUri(id: string): Promise<string> {
  return (await gql('query ($id: ID!) { payment(id: $id) { paymentUri } }', { id })).data.payment.paymentUri
}

/** What a phone camera would read: the QR element as pixels, decoded by a QR reader. */
async function readQr(page: Page): Promise<string | undefined> {
  const png = PNG.sync.read(await page.locator('#qr svg').screenshot())
  return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data
}

async function openCheckout(payment: Payment, query = '') {
  const page = await gateway.browser.newPage({ viewport: { width: 390, height: 844 } })
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text())
  })
  await page.goto(`${payment.checkoutUrl}${query}`)
  // a marker that a reload would wipe
  await page.evaluate(() => {
    ;(window as unknown as { loadedOnce: boolean }).loadedOnce = true
  })
  return { page, errors }
}

const waitForStatus = (page: Page, status: string) =>
  page.waitForSelector(`#status[data-status="${status}"]`, { timeout: 20_000 })

describe('checkout page in Chromium', () => {
  test('default: a native payment goes from waiting to COMPLETED live over graphql-ws, without a reload', async () => {
    const payment = await createPayment('ETH', '0.05')
    const { page, errors } = await openCheckout(payment)
    expect(await page.locator('h1').textContent()).toBe('Pay 0.05 ETH')
    expect(await page.locator('#address').inputValue()).toBe(payment.address)
    expect(await page.locator('#status-text').textContent()).toBe('Waiting for your payment')
    expect(await page.locator('#countdown').textContent()).toMatch(/^in (59|60):\d\d$/)
    expect(await readQr(page)).toBe(payment.paymentUri)
    await page.waitForFunction(() => document.documentElement.dataset.transport === 'ws')
    await page.screenshot({ path: join(artifactsDir, 'checkout-waiting.png') })

    await gateway.node.payNative(payment.address, parseEther('0.05'))
    await waitForStatus(page, 'PROCESSING')
    expect(await page.locator('#status-text').textContent()).toMatch(
      /^Payment received, confirming \(\d of 2\)$/,
    )
    await gateway.node.mine(2)
    await waitForStatus(page, 'COMPLETED')
    expect(await page.locator('#status-text').textContent()).toBe('Payment complete. Thank you!')
    expect(await page.locator('#expiry').isHidden()).toBe(true)
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'checkout-completed.png') })
    expect(errors).toEqual([])
    await page.close()
  })

  test('behavior: over server-sent events, a partial token payment shows what remains and a new QR, then completes', async () => {
    const payment = await createPayment('USDT', '10')
    const { page, errors } = await openCheckout(payment, '&transport=sse')
    await page.waitForFunction(() => document.documentElement.dataset.transport === 'sse')

    await gateway.node.payToken(payment.address, 4_000_000n)
    await waitForStatus(page, 'PARTIALLY_PAID')
    expect(await page.locator('#status-text').textContent()).toBe('Partially paid: 6 USDT still to send')
    expect(await page.locator('#amount').inputValue()).toBe('6')
    const remainingUri = await currentUri(payment.id)
    expect(remainingUri).toContain('uint256=6000000')
    await page.waitForFunction(
      (uri) => document.getElementById('wallet-link')?.getAttribute('href') === uri,
      remainingUri,
    )
    await waitFor('the QR to show the remaining amount', async () => (await readQr(page)) === remainingUri)
    await page.screenshot({ path: join(artifactsDir, 'checkout-partial.png') })

    await gateway.node.payToken(payment.address, 6_000_000n)
    await gateway.node.mine(2)
    await waitForStatus(page, 'COMPLETED')
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true)
    expect(errors).toEqual([])
    await page.close()
  })

  test('behavior: deadlines render live: nothing paid becomes EXPIRED, a partial payment UNDERPAID', async () => {
    const nothing = await createPayment('ETH', '1')
    const partial = await createPayment('ETH', '1')
    const a = await openCheckout(nothing)
    const b = await openCheckout(partial)
    await gateway.node.payNative(partial.address, parseEther('0.25'))
    await gateway.node.mine(2)
    await waitForStatus(b.page, 'PARTIALLY_PAID')
    // the deadline passes; the worker's expiry job notices within its interval
    await gateway.sql`UPDATE payments SET expires_at = now() - interval '1 second' WHERE id IN ${gateway.sql([nothing.id, partial.id])}`
    await waitForStatus(a.page, 'EXPIRED')
    await waitForStatus(b.page, 'UNDERPAID')
    expect(await a.page.locator('#status-text').textContent()).toBe(
      'This payment has expired. Do not send funds to this address.',
    )
    expect(await b.page.locator('#status-text').textContent()).toBe(
      'Expired with 0.25 of 1 ETH received. Contact the merchant.',
    )
    expect(await a.page.locator('#expiry').isHidden()).toBe(true)
    await a.page.screenshot({ path: join(artifactsDir, 'checkout-expired.png') })
    await b.page.screenshot({ path: join(artifactsDir, 'checkout-underpaid.png') })
    await Promise.all([a.page.close(), b.page.close()])
  })

  test('behavior: keyboard only: Tab reaches the copy button, Enter copies the address and says so', async () => {
    const payment = await createPayment('ETH', '0.01')
    const context = await gateway.browser.newContext()
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gateway.api.url })
    const page = await context.newPage()
    await page.goto(payment.checkoutUrl)
    const focusOrder: string[] = []
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Tab')
      focusOrder.push(
        await page.evaluate(() => document.activeElement?.id || document.activeElement?.className || ''),
      )
    }
    expect(focusOrder).toEqual(['wallet-link', 'address', 'copy'])
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => document.getElementById('copied')?.textContent === 'Address copied')
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(payment.address)
    // every form control has a label
    const unlabeled = await page.evaluate(
      () =>
        [...document.querySelectorAll('input')].filter((i) => !document.querySelector(`label[for="${i.id}"]`))
          .length,
    )
    expect(unlabeled).toBe(0)
    await context.close()
  })

  test('default: the documented example page embeds the checkout and hears COMPLETED through postMessage', async () => {
    const payment = await createPayment('ETH', '0.02')
    // the merchant's page lives on another origin than the gateway
    const shop = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () =>
        new Response(Bun.file(join(import.meta.dir, '../../examples/embed.html')), {
          headers: { 'content-type': 'text/html' },
        }),
    })
    try {
      const page = await gateway.browser.newPage()
      await page.goto(`http://localhost:${shop.port}/?checkout=${encodeURIComponent(payment.checkoutUrl)}`)
      await page.click('#pay')
      const frame = page.frameLocator('iframe[title="Payment"]')
      await frame.locator('#status[data-status="PENDING"]').waitFor()
      expect(await frame.locator('body').getAttribute('class')).toBe('embed')
      await gateway.node.payNative(payment.address, parseEther('0.02'))
      await gateway.node.mine(2)
      await page.waitForSelector('text=Paid, thank you! Your order is on its way.', { timeout: 20_000 })
      const events = await page.locator('#events li').allTextContents()
      expect(events[0]).toBe('PENDING (0 of 0.02 ETH)')
      expect(events.at(-1)).toBe('COMPLETED (0.02 of 0.02 ETH)')
      await page.screenshot({ path: join(artifactsDir, 'checkout-embedded.png') })
      await page.keyboard.press('Escape')
      expect(await page.locator('iframe').count()).toBe(0)
      await page.close()
    } finally {
      shop.stop(true)
    }
  })

  test('behavior: a page refused for its address’s cap on live streams says it is reconnecting, and goes live once a stream ends', async () => {
    // a second API process that admits one live stream per address (every page here comes from 127.0.0.1)
    const capped = await spawnApi({ ...gateway.env, SUBSCRIPTIONS_MAX_PER_IP: '1' })
    try {
      const first = await createPayment('ETH', '0.04')
      const second = await createPayment('ETH', '0.06')
      const onCapped = (p: Payment) => p.checkoutUrl.replace(gateway.api.url, capped.url)
      const a = await openCheckout({ ...first, checkoutUrl: onCapped(first) })
      await a.page.waitForFunction(() => document.documentElement.dataset.transport === 'ws')
      const b = await openCheckout({ ...second, checkoutUrl: onCapped(second) })
      await b.page.waitForFunction(() => document.getElementById('live')?.textContent === 'Reconnecting…')
      expect(await b.page.locator('#status[data-status="PENDING"]').count()).toBe(1)
      await a.page.close()
      await gateway.node.payNative(second.address, parseEther('0.06'))
      await waitForStatus(b.page, 'PROCESSING')
      expect(await b.page.locator('#live').isHidden()).toBe(true)
      expect(b.errors).toEqual([])
      await b.page.close()
    } finally {
      await capped.stop()
    }
  })

  test('error: a wrong secret shows "Payment not found" and nothing of the payment', async () => {
    const payment = await createPayment('ETH', '0.03')
    const page = await gateway.browser.newPage()
    const res = await page.goto(payment.checkoutUrl.replace('secret=', 'secret=x'))
    expect(res?.status()).toBe(404)
    expect(await page.locator('h1').textContent()).toBe('Payment not found')
    expect(await page.content()).not.toContain(payment.address)
    await page.close()
  })
})
