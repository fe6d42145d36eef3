import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import type { TestApp } from '../helpers/app.ts'
import { artifactsDir } from '../helpers/browser.ts'
import {
  type ConsoleScene,
  consoleUser,
  expectCleanPage,
  noHorizontalScroll,
  openPage,
  payAndScan,
  signedInPage,
  signInRefusals,
  startConsoleScene,
  type TestConsoleUser,
} from '../helpers/console.ts'

// The console's Payments pages in Chromium, every other host unreachable: an operator finds a paid payment by
// the transaction that paid it and by its deposit address, reads its facts, hostile metadata as text, timeline and
// transfer with the explorer link the operator configured; cancels a pending payment through the confirmation
// step and accepts an exception; hostile search text answers "no payments". A viewer sees no actions and the
// pages fit 375 px.

const hostileNote = '<img src=x onerror=alert(1)>'
const explorer = {
  tx: 'https://explorer.example/tx/{tx}',
  address: 'https://explorer.example/address/{address}',
}

let scene: ConsoleScene
let app: TestApp
let base: string
let shop: { id: string; key: string }
let operator: TestConsoleUser
let viewer: TestConsoleUser
/** Paid in full (COMPLETED) with hostile metadata. */
let paid: { id: string; address: string; txHash: string }
/** Left PENDING for the operator to cancel. */
let toCancel: { id: string; address: string }
/** Left PENDING: the viewer must not be offered to cancel it. */
let pending: { id: string; address: string }
/** Canceled, then paid anyway: an exception (PAID_AFTER_CANCEL). */
let exceptional: { id: string; address: string }

const paymentFields =
  '... on CreatePaymentPayload { payment { id address } } ... on UserError { code message }'

async function createPayment(input: Record<string, unknown>): Promise<{ id: string; address: string }> {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ${paymentFields} } }`,
    { input: { chain: 'devnet', asset: 'ETH', amount: '0.25', ...input } },
    shop.key,
  )
  const payment = res.data?.createPayment?.payment
  if (!payment) throw new Error(`createPayment: ${JSON.stringify(res)}`)
  return payment
}

async function statusOf(id: string): Promise<{ status: string; resolution: string | null }> {
  const res = await app.gql('query ($id: ID!) { payment(id: $id) { status resolution } }', { id }, shop.key)
  return res.data.payment
}

beforeAll(async () => {
  scene = await startConsoleScene({ settings: { explorer } })
  ;({ app, base } = scene)
  shop = await app.merchant('Payments shop')

  // enough older payments that the list pages ("Load more")
  for (let i = 0; i < 18; i++) await createPayment({ orderId: `filler-${i}` })
  exceptional = await createPayment({ orderId: 'order-exception' })
  const canceled = await app.gql(
    'mutation ($id: ID!) { cancelPayment(id: $id) { ... on Payment { status } } }',
    { id: exceptional.id },
    shop.key,
  )
  expect(canceled.data.cancelPayment.status).toBe('CANCELED')
  const created = await createPayment({ orderId: 'order-paid', metadata: { note: hostileNote, n: 1 } })
  const [receipt] = await payAndScan(app, scene.devnet, [
    [created.address, '0.25'],
    [exceptional.address, '0.1'],
  ])
  paid = { ...created, txHash: receipt!.transactionHash }
  expect((await statusOf(paid.id)).status).toBe('COMPLETED')
  toCancel = await createPayment({ orderId: 'order-to-cancel' })
  pending = await createPayment({ orderId: 'order-pending' })

  operator = await consoleUser(app, 'Olga Operator', [{ merchantId: shop.id, role: 'operator' }])
  viewer = await consoleUser(app, 'Vic Viewer', [{ merchantId: shop.id, role: 'viewer' }])
}, 90_000)

afterAll(() => scene?.close())

/** Submits `term` in the search box and waits for the API's answer to be shown. */
async function search(page: Page, term: string) {
  await page.getByLabel('Search payments').fill(term)
  const answered = page.waitForResponse((r) => r.url().endsWith('/graphql'))
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await answered
  await page.locator('.loaded').waitFor()
}

const listedIds = (page: Page) => page.locator('.payment-id').allTextContents()

describe('the Payments pages in Chromium', () => {
  test('default: a viewer sees payments and details but no Refund, Resolve or Cancel; 375 px without sideways scroll', async () => {
    const { context, page, foreign, watched } = await signedInPage(scene, viewer, { width: 375 })
    await openPage(page, base, 'payments')
    await page.getByRole('heading', { name: 'Payments', level: 1, exact: true }).waitFor()
    await page.locator('.payment').first().waitFor()
    expect(await noHorizontalScroll(page)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'console-payments-375.png'), fullPage: true })

    const actions = page.getByRole('button', { name: /Refund|Resolve|Cancel payment/ })
    for (const id of [paid.id, pending.id, exceptional.id]) {
      await openPage(page, base, 'payments', id)
      await page.getByRole('heading', { name: 'Timeline' }).waitFor()
      expect(await actions.count()).toBe(0)
      expect(await page.getByRole('heading', { name: 'Actions' }).count()).toBe(0)
      expect(await noHorizontalScroll(page)).toBe(true)
    }
    // the exception is shown, for a role that may only read it
    expect(await page.locator('.payment-facts').textContent()).toContain('Paid after cancel')
    await openPage(page, base, 'payments', paid.id)
    await page.locator('.transfer').waitFor()
    expect(await noHorizontalScroll(page)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'console-payment-detail-375.png'), fullPage: true })

    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 60_000)

  test('default: an operator finds the paid payment by transaction and by address, reads it, cancels a pending one and accepts an exception', async () => {
    const { context, page, foreign, watched } = await signedInPage(scene, operator)
    await page.getByRole('link', { name: 'Payments', exact: true }).click()
    await page.getByRole('heading', { name: 'Payments', level: 1, exact: true }).waitFor()

    // every payment, newest first, 20 at a time
    await page.locator('.payment').nth(19).waitFor()
    const firstPage = await listedIds(page)
    expect(firstPage).toHaveLength(20)
    expect(firstPage[0]).toBe(pending.id)
    expect([...firstPage].sort().reverse()).toEqual(firstPage)
    await page.getByRole('button', { name: 'Load more' }).click()
    await page.locator('.payment').nth(21).waitFor()
    expect(await listedIds(page)).toHaveLength(22)
    expect(await page.getByRole('button', { name: 'Load more' }).count()).toBe(0)

    // by the paying transaction, and by the address in another letter case: one request asks every alternative
    const requests: string[] = []
    page.on('request', (r) => {
      if (r.url().endsWith('/graphql')) requests.push(r.postData() ?? '')
    })
    await search(page, paid.txHash)
    expect(await listedIds(page)).toEqual([paid.id])
    expect(requests).toHaveLength(1)
    expect(requests[0]).toContain('txHash: $text')
    await search(page, paid.address.toLowerCase())
    expect(await listedIds(page)).toEqual([paid.id])
    await search(page, 'order-paid')
    expect(await listedIds(page)).toEqual([paid.id])
    // the status filter applies to the search
    await page.getByLabel('Status').selectOption('PENDING')
    await page.getByText('No payments found.').waitFor()
    await page.getByLabel('Status').selectOption('COMPLETED')
    await page.getByRole('link', { name: paid.id }).waitFor()

    // hostile search text: no payments, no error
    for (const term of ['x'.repeat(10_000), 'a\u0000b', "<script>alert('search')</script>"]) {
      await search(page, term)
      expect(await page.getByText('No payments found.').count()).toBe(1)
      expect(await page.getByRole('alert').count()).toBe(0)
    }
    expect(await page.locator('main script, main img').count()).toBe(0)

    // the detail: facts, metadata as text, timeline, transfer with its explorer link
    await search(page, paid.id)
    await page.getByRole('link', { name: paid.id }).click()
    await page.getByRole('heading', { name: 'Timeline' }).waitFor()
    expect(new URL(page.url()).hash).toBe(`#/payments/${paid.id}`)
    const facts = (await page.locator('.payment-facts').textContent()) ?? ''
    expect(facts).toContain('Completed')
    expect(facts).toContain('0.25 ETH on devnet')
    expect(facts).toContain(paid.address)
    expect(facts).toContain('order-paid')
    expect(JSON.parse((await page.locator('pre.metadata').textContent()) ?? '')).toEqual({
      note: hostileNote,
      n: 1,
    })
    expect(await page.locator('img').count()).toBe(0)
    const timeline = await page.locator('.timeline li').allTextContents()
    expect(timeline[0]).toStartWith('payment.created: Pending')
    expect(timeline.at(-1)).toContain('→ Completed')
    const transfer = page.locator('.transfer')
    expect(await transfer.locator('.tx-hash').textContent()).toBe(paid.txHash)
    expect(await transfer.textContent()).toContain('0.25 ETH')
    const link = transfer.getByRole('link', { name: /View on explorer/ })
    expect(await link.getAttribute('href')).toBe(`https://explorer.example/tx/${paid.txHash}`)
    expect(await link.getAttribute('target')).toBe('_blank')
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer')
    const addressLink = page.locator('.payment-facts').getByRole('link', { name: /View on explorer/ })
    expect(await addressLink.getAttribute('href')).toBe(`https://explorer.example/address/${paid.address}`)
    // a completed payment is refundable by this role; nothing to cancel or resolve
    expect(await page.getByRole('button', { name: 'Refund' }).count()).toBe(1)
    expect(await page.getByRole('button', { name: /Cancel payment|Resolve/ }).count()).toBe(0)
    await page.screenshot({ path: join(artifactsDir, 'console-payment-detail.png'), fullPage: true })

    // a refund the API refuses says why, in the confirmation step; nothing was refunded
    await page.getByLabel("Buyer's address (optional)").fill('not-an-address')
    await page.getByRole('button', { name: 'Refund' }).click()
    await page.getByRole('button', { name: 'Confirm: Refund' }).click()
    await page
      .getByRole('alert')
      .filter({ hasText: /^INVALID_ADDRESS: / })
      .waitFor()
    const refunds = await app.gql(
      'query ($id: ID!) { payment(id: $id) { refunds { id } } }',
      { id: paid.id },
      shop.key,
    )
    expect(refunds.data.payment.refunds).toEqual([])

    // cancel a pending payment: the confirmation's Cancel keeps it, Confirm cancels it
    await openPage(page, base, 'payments', toCancel.id)
    await page.getByRole('button', { name: 'Cancel payment' }).click()
    const confirmation = page.getByRole('group', { name: 'Cancel payment' })
    await confirmation.getByRole('button', { name: 'Cancel', exact: true }).click()
    await page.getByRole('button', { name: 'Cancel payment' }).waitFor()
    expect((await statusOf(toCancel.id)).status).toBe('PENDING')
    await page.getByRole('button', { name: 'Cancel payment' }).click()
    await page.getByRole('button', { name: 'Confirm: Cancel payment' }).click()
    await page.locator('.notice').filter({ hasText: 'Payment canceled.' }).waitFor()
    await page.locator('.payment-facts').filter({ hasText: 'Canceled' }).waitFor()
    expect(await page.getByRole('button', { name: 'Cancel payment' }).count()).toBe(0)
    expect((await statusOf(toCancel.id)).status).toBe('CANCELED')

    // an exception: accepted as paid through the confirmation step
    await openPage(page, base, 'payments', exceptional.id)
    await page.getByRole('button', { name: 'Resolve: accept as paid' }).click()
    await page.getByRole('button', { name: 'Confirm: Resolve: accept as paid' }).click()
    await page.locator('.notice').filter({ hasText: 'Resolved.' }).waitFor()
    await page.locator('.payment-facts').filter({ hasText: 'Accepted' }).waitFor()
    expect((await statusOf(exceptional.id)).resolution).toBe('ACCEPTED')
    expect(await page.getByRole('button', { name: /Resolve/ }).count()).toBe(0)

    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 90_000)
  test("error: another merchant's payment stays out of sight: its detail route says not found, its order id and address find nothing", async () => {
    const other = await app.merchant('Another shop')
    const res = await app.gql(
      `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ${paymentFields} } }`,
      { input: { chain: 'devnet', asset: 'ETH', amount: '0.5', orderId: 'order-of-another-shop' } },
      other.key,
    )
    const theirs = res.data.createPayment.payment as { id: string; address: string }
    // a person of its own: a TOTP code works once, and the operator signed in moments ago
    const onlyHere = await consoleUser(app, 'Oona Operator', [{ merchantId: shop.id, role: 'operator' }])
    const { context, page, foreign, watched } = await signedInPage(scene, onlyHere, {
      // the forged header below is refused 403: expected, whatever its address
      expected: (url, status) => signInRefusals(url, status) || status === 403,
    })
    await openPage(page, base, 'payments', theirs.id)
    await page.getByRole('alert').filter({ hasText: 'No payment with this id at this merchant.' }).waitFor()
    expect(await page.locator('main').textContent()).not.toContain(theirs.address)
    await openPage(page, base, 'payments')
    for (const term of ['order-of-another-shop', theirs.address, theirs.id]) {
      await search(page, term)
      expect(await listedIds(page)).toEqual([])
    }
    // the header naming another merchant is refused by the gateway, whatever the page would send
    const forged = await page.evaluate(async (merchantId) => {
      const session = await (await fetch('/console/api/session')).json()
      const answer = await fetch('/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-csrf-token': session.csrfToken,
          'x-tollgate-merchant': merchantId,
        },
        body: JSON.stringify({ query: '{ payments(first: 5) { edges { node { id } } } }' }),
      })
      return { status: answer.status, body: await answer.json() }
    }, other.id)
    expect(forged.status).toBe(403)
    expect(forged.body.errors[0].extensions.code).toBe('FORBIDDEN')
    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 60_000)
})
