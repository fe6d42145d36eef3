import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { parseEther } from 'viem'
import { startScreeningPump } from '../../src/jobs/kyt-pump.ts'
import type { TestApp } from '../helpers/app.ts'
import { artifactsDir } from '../helpers/browser.ts'
import type { Devnet } from '../helpers/chain.ts'
import {
  type ConsoleScene,
  consoleUser,
  expectCleanPage,
  noHorizontalScroll,
  openPage,
  scanChain,
  signedInPage,
  startConsoleScene,
  type TestConsoleUser,
  type watchPage,
} from '../helpers/console.ts'
import { impersonate, kytTestConfig, payNativeFrom, sdnAddresses } from '../helpers/kyt.ts'
import { waitFor } from '../helpers/processes.ts'

// The Compliance page in Chromium, every other host unreachable: a payment paid from an SDN-listed address is held
// by screening, and so is a customer's deposit from it; a compliance officer reads the sanctions provider's
// answers, rejects the deposit, downloads the report, and releases the payment with a note (hostile markup, shown
// as text); the payment completes and the audit log names the officer. A viewer sees no Compliance page and the API refuses them the release.

const hostileNote = 'Known customer, checked by phone <img src=x onerror=alert(1)>'
const listedPayer = sdnAddresses('ETH')[0] as string

let scene: ConsoleScene
let devnet: Devnet
let app: TestApp
let base: string
let shop: { id: string; key: string }
let heldPayment: string
let heldDeposit: string
let depositTx: string
let officer: TestConsoleUser
let viewer: TestConsoleUser

const paymentQuery = `query ($id: ID!) { payment(id: $id) { id status kyt { id state decidedBy note } } }`
const paymentOf = async (id: string) => (await app.gql(paymentQuery, { id }, shop.key)).data.payment

beforeAll(async () => {
  scene = await startConsoleScene({
    config: (chain) => kytTestConfig(chain.url, { settings: { sweeps: { enabled: false } } }),
  })
  ;({ devnet, app, base } = scene)
  shop = await app.merchant('Compliance shop')
  officer = await consoleUser(app, 'Cora Compliance', [{ merchantId: shop.id, role: 'compliance' }])
  viewer = await consoleUser(app, 'Vic Viewer', [{ merchantId: shop.id, role: 'viewer' }])

  // paid in full by an address on the OFAC SDN list: scanned, screened, held
  const created = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', amount: '1.5', orderId: 'order-held-1' } },
    shop.key,
  )
  const payment = created.data.createPayment.payment as { id: string; address: string }
  heldPayment = payment.id
  // and a customer's deposit from the same address
  const customer = await app.gql(
    `mutation { depositAddress(input: { chain: "devnet", customerId: "cust-7" }) {
      ... on CustomerAddress { address } ... on UserError { code message } } }`,
    {},
    shop.key,
  )
  await impersonate(devnet, listedPayer)
  await payNativeFrom(devnet, listedPayer, payment.address, parseEther('1.5'))
  const deposited = await payNativeFrom(
    devnet,
    listedPayer,
    customer.data.depositAddress.address,
    parseEther('0.25'),
  )
  depositTx = deposited.transactionHash
  await scanChain(app, devnet, { screen: true })
  const pump = startScreeningPump(app.ctx, () => {}, { idleMs: 50 })
  try {
    await waitFor(`${heldPayment} HELD`, async () => (await paymentOf(heldPayment)).status === 'HELD')
    heldDeposit = await waitFor('the held deposit', async () => {
      const res = await app.gql('{ deposits(status: HELD) { edges { node { id txHash } } } }', {}, shop.key)
      return res.data.deposits.edges.find((e: { node: { txHash: string } }) => e.node.txHash === depositTx)
        ?.node.id as string | undefined
    })
  } finally {
    await pump.stop()
  }
}, 120_000)

afterAll(() => scene?.close())

/** The queue's item of the held payment. */
const heldItem = (page: Page) => page.locator('.kyt-item', { hasText: heldPayment })

describe('the Compliance page', () => {
  let context: BrowserContext
  let page: Page
  let foreign: string[]
  let watched: ReturnType<typeof watchPage>

  beforeAll(async () => {
    ;({ context, page, foreign, watched } = await signedInPage(scene, officer))
  })
  afterAll(() => context?.close())

  test('default: the officer opens Compliance from the menu and sees the held payment with the sanctions provider’s answer', async () => {
    await page
      .getByRole('navigation', { name: 'Console pages' })
      .getByRole('link', { name: 'Compliance' })
      .click()
    await page.getByRole('heading', { name: 'Compliance', level: 1 }).waitFor()
    await heldItem(page).waitFor()
    expect(await page.locator('.kyt-item').count()).toBe(2)
    const item = heldItem(page)
    // the link to the payment, what was screened, the verdict and its reason
    expect(await item.getByRole('link', { name: heldPayment }).getAttribute('href')).toBe(
      `#/payments/${heldPayment}`,
    )
    expect(await item.locator('.kyt-addresses').textContent()).toBe(listedPayer)
    expect(await item.locator('.kyt-verdict').textContent()).toBe('BLOCK')
    expect(await item.locator('.kyt-reason').textContent()).toBe('KYT_BLOCKED: a provider blocks an address')
    expect(await item.getByText('1.5 ETH on devnet').count()).toBe(1)
    // every provider's answer: here the offline sanctions list
    const answer = item.locator('.kyt-answer')
    expect(await answer.count()).toBe(1)
    expect(await answer.locator('.kyt-provider').textContent()).toBe('sanctions')
    expect(await answer.locator('.kyt-answer-verdict').textContent()).toBe('BLOCK')
    expect(await answer.locator('.kyt-categories').textContent()).toContain('sanctions')
    // the officer may decide: both actions are offered
    expect(await item.getByRole('button', { name: 'Release', exact: true }).count()).toBe(1)
    expect(await item.getByRole('button', { name: 'Reject', exact: true }).count()).toBe(1)
    await page.screenshot({ path: join(artifactsDir, 'console-compliance.png'), fullPage: true })
  }, 30_000)

  test('default: the held customer deposit shows with its screening; Reject with a note leaves it uncredited', async () => {
    const item = page.locator('.kyt-item', { hasText: `Deposit ${heldDeposit}` })
    expect(await item.getByText('cust-7').count()).toBe(1)
    expect(await item.getByText('0.25 ETH on devnet').count()).toBeGreaterThan(0)
    expect(await item.locator('.kyt-answer .kyt-provider').textContent()).toBe('sanctions')
    expect(await item.locator('.kyt-answer .kyt-answer-verdict').textContent()).toBe('BLOCK')
    await item.getByRole('button', { name: 'Reject', exact: true }).click()
    const confirm = item.getByRole('group', { name: 'Reject' })
    await confirm.getByLabel('Note (required)').fill('Sender on the OFAC list')
    await confirm.getByRole('button', { name: 'Confirm: Reject' }).click()
    await page
      .locator('.compliance > [role=status]')
      .filter({ hasText: `Deposit ${heldDeposit} rejected. It is now REJECTED.` })
      .waitFor()
    await item.waitFor({ state: 'detached' })
    expect(await page.locator('.kyt-item').count()).toBe(1)
    const res = await app.gql(
      'query ($id: ID!) { deposit(id: $id) { status credited } }',
      { id: heldDeposit },
      shop.key,
    )
    expect(res.data.deposit).toEqual({ status: 'REJECTED', credited: '0' })
  }, 30_000)

  test('default: the report for the period downloads as CSV through a blob: link and holds the held screening', async () => {
    const checkId = (await paymentOf(heldPayment)).kyt[0].id as string
    const today = new Date().toISOString().slice(0, 10)
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
    await page.getByLabel('From').fill(today)
    await page.getByLabel('To').fill(tomorrow)
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ])
    expect(download.url()).toStartWith('blob:')
    expect(download.suggestedFilename()).toBe(`kyt-report-${today}-to-${tomorrow}.csv`)
    const csv = await readFile((await download.path()) as string, 'utf8')
    const [header, ...rows] = csv.trimEnd().split('\n')
    expect(header).toStartWith('screenedAt,checkId,merchantId,')
    // the payment's screening, still held, and the deposit's, rejected a moment ago
    expect(rows).toHaveLength(2)
    const held = rows.find((r) => r.includes(`,${checkId},`)) as string
    expect(held).toContain(`,${checkId},${shop.id},devnet,inbound,`)
    expect(held).toContain(`,${heldPayment},`)
    expect(held).toContain(',held,block,KYT_BLOCKED,')
    const rejected = rows.find((r) => r !== held) as string
    expect(rejected).toContain(`,${depositTx},`)
    expect(rejected).toContain(',rejected,block,KYT_BLOCKED,')
    expect(rejected).toContain(`,user:${officer.id},`)
    expect(rejected).toEndWith(',Sender on the OFAC list')
    await page
      .getByRole('status')
      .filter({ hasText: /^Saved kyt-report-.+\.csv: 2 screenings\.$/ })
      .waitFor()
  }, 30_000)

  test('default: Release refuses an empty note, then releases with a hostile note shown as text; the payment completes and the audit log names the officer', async () => {
    const item = heldItem(page)
    await item.getByRole('button', { name: 'Release', exact: true }).click()
    const confirm = item.getByRole('group', { name: 'Release' })
    await confirm.getByText(`Release payment ${heldPayment}?`, { exact: false }).waitFor()
    // the note field has the focus; confirming without a note is refused in words, nothing is sent
    await page.waitForFunction(() => document.activeElement?.tagName === 'TEXTAREA')
    await confirm.getByRole('button', { name: 'Confirm: Release' }).click()
    await confirm.getByRole('alert').filter({ hasText: 'A note is required.' }).waitFor()
    expect((await paymentOf(heldPayment)).status).toBe('HELD')

    await confirm.getByLabel('Note (required)').fill(hostileNote)
    await confirm.getByRole('button', { name: 'Confirm: Release' }).click()
    // announced on the page (the item's own outcome goes with the item)
    await page
      .locator('.compliance > [role=status]')
      .filter({ hasText: `Payment ${heldPayment} released. It is now COMPLETED.` })
      .waitFor()
    // the item leaves the queue
    await page.locator('.kyt-queue-empty').waitFor()
    expect(await page.locator('.kyt-item').count()).toBe(0)

    // decided: who and the note, as the characters it is
    const decided = page.locator('.kyt-decided-item', { hasText: heldPayment })
    await decided.waitFor()
    expect(await decided.locator('.kyt-state').textContent()).toBe('RELEASED')
    expect(await decided.locator('.kyt-decided-by').textContent()).toBe(`user:${officer.id}`)
    expect(await decided.locator('.kyt-note').textContent()).toBe(hostileNote)
    expect(await page.locator('main img, main script').count()).toBe(0)

    // the API: the payment completed, its screening released by the officer with the note
    const payment = await paymentOf(heldPayment)
    expect(payment.status).toBe('COMPLETED')
    expect(payment.kyt).toEqual([
      { id: payment.kyt[0].id, state: 'RELEASED', decidedBy: `user:${officer.id}`, note: hostileNote },
    ])
    const audit = await app.gql(
      '{ auditLog(first: 20) { edges { node { action actor targetType targetId data } } } }',
      {},
      shop.key,
    )
    const released = audit.data.auditLog.edges
      .map((e: { node: Record<string, unknown> }) => e.node)
      .filter((n: { action: string }) => n.action === 'payment.released')
    expect(released).toHaveLength(1)
    expect(released[0]).toMatchObject({
      actor: `user:${officer.id}`,
      targetType: 'payment',
      targetId: heldPayment,
      data: { note: hostileNote },
    })
    await page.screenshot({ path: join(artifactsDir, 'console-compliance-released.png'), fullPage: true })
  }, 30_000)

  test('default: at 375 px wide nothing scrolls sideways; nothing foreign, no dialog, no CSP violation', async () => {
    await page.setViewportSize({ width: 375, height: 800 })
    await openPage(page, base, 'compliance')
    await page.locator('.kyt-decided-item').first().waitFor()
    await page.locator('.kyt-decided-item details summary').first().click()
    expect(await noHorizontalScroll(page)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'console-compliance-375.png'), fullPage: true })

    await expectCleanPage(page, { foreign, watched })
  }, 30_000)
})

describe('the Compliance page for a viewer', () => {
  test('error: no Compliance entry in the menu, the route shows the overview, and releasePayment through the session is FORBIDDEN', async () => {
    const { context, page, foreign, watched } = await signedInPage(scene, viewer, { width: 375 })
    const menu = page.getByRole('navigation', { name: 'Console pages' })
    await menu.getByRole('link', { name: 'Overview' }).waitFor()
    expect(await menu.getByRole('link', { name: 'Compliance' }).count()).toBe(0)
    await openPage(page, base, 'compliance')
    await page.getByRole('heading', { name: /^Overview/ }).waitFor()
    expect(await page.getByRole('heading', { name: 'Compliance', exact: true }).count()).toBe(0)

    // the API is what refuses: the viewer's own session, with its CSRF token and merchant
    const session = await context.request.get(`${base}/console/api/session`)
    const { csrfToken } = await session.json()
    const res = await context.request.post(`${base}/graphql`, {
      headers: {
        'content-type': 'application/json',
        'x-csrf-token': csrfToken,
        'x-tollgate-merchant': shop.id,
      },
      data: {
        query: `mutation ($id: ID!) { releasePayment(id: $id, note: "looks fine") {
          __typename ... on UserError { code } } }`,
        variables: { id: heldPayment },
      },
    })
    const body = await res.json()
    const code = body.errors?.[0]?.extensions?.code ?? body.data?.releasePayment?.code
    expect(code).toBe('FORBIDDEN')
    // the report too
    const csv = await context.request.get(`${base}/exports/kyt.csv?from=2025-01-01&to=2099-01-01`, {
      headers: { 'x-tollgate-merchant': shop.id },
    })
    expect(csv.status()).toBe(403)

    expect(await noHorizontalScroll(page)).toBe(true)
    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 60_000)
})
