import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { artifactsDir, expectRateLockCountingDown } from '../helpers/browser.ts'
import type { Devnet } from '../helpers/chain.ts'
import { type CheckoutGateway, startDevnetCheckout } from '../helpers/checkout-gateway.ts'
import { waitFor } from '../helpers/processes.ts'

// The hosted checkout of an invoice, in Chromium, against a real API and worker: a 25.00 USD invoice payable in
// ETH (pinned at 2500 USD) or USDT (pinned at 1 USD). The buyer picks an asset on the invoice page, lands on that
// method's payment page, pays it on anvil and watches it complete; without JavaScript the plain forms do the same.

let gateway: CheckoutGateway<Devnet>

type Method = { chain: string; asset: { symbol: string }; amountDue: string; rate: string }
type Invoice = { id: string; status: string; checkoutUrl: string; rateLockedUntil: string; methods: Method[] }
type ChosenPayment = {
  id: string
  status: string
  address: string
  amountDue: string
  asset: { symbol: string }
}

beforeAll(async () => {
  // ETH/USD and USDT/USD pinned by the operator (no rates job needed)
  gateway = await startDevnetCheckout({
    merchant: 'Invoice shop',
    prefix: 'checkout-invoice',
    pins: { 'ETH/USD': '2500', 'USDT/USD': '1' },
  })
}, 60_000)

afterAll(() => gateway?.stop())

const gql = (query: string, variables: Record<string, unknown> = {}) => gateway.gql(query, variables)

const invoiceFields = `id status checkoutUrl rateLockedUntil
  methods { chain asset { symbol } amountDue rate }`

/** A 25.00 USD invoice payable in ETH or USDT on the devnet. */
async function createInvoice(): Promise<Invoice> {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
        ... on CreateInvoicePayload { invoice { ${invoiceFields} } }
        ... on UserError { code message } } }`,
    {
      input: {
        price: { amount: '25.00', currency: 'USD' },
        accept: [
          { chain: 'devnet', asset: 'ETH' },
          { chain: 'devnet', asset: 'USDT' },
        ],
      },
    },
  )
  const invoice = res.data?.createPayment?.invoice as Invoice | undefined
  if (!invoice) throw new Error(`createPayment: ${JSON.stringify(res)}`)
  return invoice
}

async function invoiceState(id: string): Promise<Invoice & { payments: ChosenPayment[] }> {
  const res = await gql(
    `query ($id: ID!) { invoice(id: $id) { ${invoiceFields}
      payments { id status address amountDue asset { symbol } } } }`,
    { id },
  )
  return res.data.invoice
}

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent())?.trim()
const method = (page: Page, symbol: string) => page.locator(`.method[data-symbol="${symbol}"]`)
const methodText = (page: Page, symbol: string, part: 'amount' | 'rate' | 'action') =>
  text(page, `.method[data-symbol="${symbol}"] .method-${part}`)
const amountOf = (invoice: Invoice, symbol: string) =>
  invoice.methods.find((m) => m.asset.symbol === symbol)?.amountDue

function watchErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text())
  })
  return errors
}

describe('checkout of an invoice in Chromium', () => {
  test('default: the invoice page shows the price and each method’s amount, counts the lock down; choosing USDT leads to its payment, which completes when paid', async () => {
    const invoice = await createInvoice()
    expect(amountOf(invoice, 'ETH')).toBe('0.01')
    expect(amountOf(invoice, 'USDT')).toBe('25')
    const page = await gateway.browser.newPage({ viewport: { width: 390, height: 844 } })
    const errors = watchErrors(page)
    await page.goto(invoice.checkoutUrl)
    expect(await page.title()).toBe('Pay 25.00 USD')
    expect(await text(page, 'h1')).toBe('Pay 25.00 USD')
    expect(await text(page, '#received')).toBe('0.00 USD')
    expect(await text(page, '#remaining')).toBe('25.00 USD')
    expect(await text(page, '#status-text')).toBe('Choose how you want to pay')
    expect(await methodText(page, 'ETH', 'amount')).toBe('0.01 ETH')
    expect(await methodText(page, 'ETH', 'rate')).toBe('1 ETH = 2,500.00 USD')
    expect(await methodText(page, 'USDT', 'amount')).toBe('25 USDT')
    expect(await methodText(page, 'USDT', 'rate')).toBe('1 USDT = 1.00 USD')
    // the script counts the lock (15 minutes) and the expiry down
    expect(await page.locator('#rate-countdown').getAttribute('datetime')).toBe(invoice.rateLockedUntil)
    await expectRateLockCountingDown(page)
    expect(await text(page, '#expiry')).toMatch(/^Expires in \d+:\d\d(:\d\d)?$/)
    await page.screenshot({ path: join(artifactsDir, 'checkout-invoice.png') })

    await method(page, 'USDT').getByRole('button').click()
    await page.waitForURL(/\/pay\/pay_/)
    const [chosen] = (await invoiceState(invoice.id)).payments
    expect(chosen).toMatchObject({ asset: { symbol: 'USDT' }, amountDue: '25', status: 'PENDING' })
    expect(await text(page, 'h1')).toBe('Pay 25.00 USD')
    expect(await text(page, '.quote-amount')).toBe('25 USDT')
    expect(await page.locator('#amount').inputValue()).toBe('25')
    expect(await page.locator('#address').inputValue()).toBe(chosen!.address)
    expect(chosen!.address).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect(await page.locator('#other-method').textContent()).toBe('Pay with another method')
    expect(
      new URL(await page.locator('#other-method').evaluate((a) => (a as HTMLAnchorElement).href)),
    ).toEqual(new URL(invoice.checkoutUrl))
    await page.waitForFunction(() => document.documentElement.dataset.transport === 'ws')
    await page.screenshot({ path: join(artifactsDir, 'checkout-invoice-usdt.png') })

    await gateway.node.payToken(chosen!.address, 25_000_000n)
    await page.waitForSelector('#status[data-status="PROCESSING"]', { timeout: 20_000 })
    await gateway.node.mine(2)
    await page.waitForSelector('#status[data-status="COMPLETED"]', { timeout: 20_000 })
    expect(await text(page, '#status-text')).toBe('Payment complete. Thank you!')
    await page.screenshot({ path: join(artifactsDir, 'checkout-invoice-completed.png') })

    // the invoice is paid in full, and its page says so with nothing left to choose
    await waitFor(
      'the invoice to complete',
      async () => (await invoiceState(invoice.id)).status === 'COMPLETED',
      20_000,
    )
    await page.goto(invoice.checkoutUrl)
    expect(await text(page, '#status-text')).toBe('Paid in full. Thank you!')
    expect(await text(page, '#received')).toBe('25.00 USD')
    expect(await text(page, '#remaining')).toBe('0.00 USD')
    expect(await page.locator('form').count()).toBe(0)
    expect(errors).toEqual([])
    await page.close()
  })

  test('default: without JavaScript the invoice page shows the lock’s end, and its plain form chooses ETH', async () => {
    const invoice = await createInvoice()
    const context = await gateway.browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 390, height: 844 },
    })
    const page = await context.newPage()
    await page.goto(invoice.checkoutUrl)
    expect(await text(page, 'h1')).toBe('Pay 25.00 USD')
    expect(await text(page, '#remaining')).toBe('25.00 USD')
    expect(await methodText(page, 'ETH', 'amount')).toBe('0.01 ETH')
    expect(await methodText(page, 'USDT', 'amount')).toBe('25 USDT')
    expect(await text(page, '#rate-lock')).toBe(
      `Rate locked until ${new Date(invoice.rateLockedUntil).toUTCString()}`,
    )
    await page.screenshot({ path: join(artifactsDir, 'checkout-invoice-no-script.png') })

    await method(page, 'ETH').getByRole('button').click()
    await page.waitForURL(/\/pay\/pay_/)
    const [chosen] = (await invoiceState(invoice.id)).payments
    expect(chosen).toMatchObject({ asset: { symbol: 'ETH' }, amountDue: '0.01', status: 'PENDING' })
    expect(await text(page, 'h1')).toBe('Pay 25.00 USD')
    expect(await text(page, '.quote-amount')).toBe('0.01 ETH')
    expect(await page.locator('#address').inputValue()).toBe(chosen!.address)
    expect(await text(page, '#status-text')).toBe('Waiting for your payment')
    await page.screenshot({ path: join(artifactsDir, 'checkout-invoice-eth-no-script.png') })

    // back to the invoice: ETH was chosen, and choosing it again lands on the same payment
    await page.locator('#other-method').click()
    await page.waitForURL(/\/pay\/inv_/)
    expect(await methodText(page, 'ETH', 'action')).toBe('Continue with ETH')
    await method(page, 'ETH').getByRole('button').click()
    await page.waitForURL(/\/pay\/pay_/)
    expect(new URL(page.url()).pathname).toBe(`/pay/${chosen!.id}`)
    expect((await invoiceState(invoice.id)).payments).toHaveLength(1)
    await context.close()
  })
})
