import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { createPayment } from '../../src/core/payments/create.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { processReconcile } from '../../src/jobs/reconcile.ts'
import type { TestApp } from '../helpers/app.ts'
import { artifactsDir } from '../helpers/browser.ts'
import type { Devnet } from '../helpers/chain.ts'
import {
  type ConsoleScene,
  consoleUser,
  expectCleanPage,
  noHorizontalScroll,
  signIn,
  startConsoleScene,
  type TestConsoleUser,
  watchedPage,
  type watchPage,
} from '../helpers/console.ts'
import { fundWallet, paidPayments } from '../helpers/devnet-app.ts'

// The console's overview in Chromium, every other host unreachable: an admin sees the volume chart (uPlot's
// canvas) with its exact table, payments by status, the chains with their lag, webhook health, the job queues and
// each chain's reconciliation, also at 375 px; a viewer sees the same overview without the gateway-wide sections.
// One devnet, one gateway and one browser for the file; a completed payment and a reconciliation run are real.

let scene: ConsoleScene
let devnet: Devnet
let app: TestApp
let base: string
let admin: TestConsoleUser
let viewer: TestConsoleUser

beforeAll(async () => {
  scene = await startConsoleScene()
  ;({ devnet, app, base } = scene)
  const shop = await app.merchant('Overview shop')
  // one payment completed on chain and scanned, one still waiting
  await paidPayments(app, devnet, shop.id, [['ETH', '1.5']], { confirmations: 2 })
  await createPayment(app.ctx, shop.id, { chain: 'devnet', asset: 'ETH', amount: '0.2' })
  // the operator funded the treasury: the scheduled reconciliation books it and keeps its report
  await fundWallet(devnet, roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury').address, {
    ETH: '1',
  })
  await processReconcile(app.ctx, 'devnet')
  // a reconciliation waits in its queue for later
  await app.ctx.queues.reconcile.add('reconcile', { chain: 'devnet' }, { delay: 3_600_000 })
  admin = await consoleUser(app, 'Ada Admin', [{ merchantId: shop.id, role: 'admin' }])
  viewer = await consoleUser(app, 'Vic Viewer', [{ merchantId: shop.id, role: 'viewer' }])
}, 90_000)

afterAll(() => scene?.close())

/** Rows of a table as arrays of their cells' texts (header cells of a row included). */
const rows = (page: Page, selector: string) =>
  page.$$eval(`${selector} tbody tr`, (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.textContent ?? '')),
  )

/** Pixels of the chart's canvases that uPlot drew on (not fully transparent). */
const drawnPixels = (page: Page) =>
  page.$$eval('.volume .chart canvas', (canvases) =>
    canvases.reduce((sum, c) => {
      const canvas = c as HTMLCanvasElement
      const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? []
      let drawn = 0
      for (let i = 3; i < data.length; i += 4) if ((data[i] ?? 0) > 0) drawn++
      return sum + drawn
    }, 0),
  )

describe('the overview as an admin', () => {
  let context: BrowserContext
  let page: Page
  let foreign: string[]
  let watched: ReturnType<typeof watchPage>

  beforeAll(async () => {
    ;({ context, page, foreign, watched } = await watchedPage(scene))
  })
  afterAll(() => context?.close())

  test('default: the volume chart is drawn by uPlot on a canvas, the same figures exact in a table, by day and by hour', async () => {
    await signIn(page, base, admin)
    const today = new Date().toISOString().slice(0, 10)
    await page.locator('.volume-table tbody tr').first().waitFor()
    expect(await rows(page, '.volume-table')).toEqual([[today, 'ETH on devnet', '1.5', '1']])
    await page.locator('.volume .chart canvas').first().waitFor()
    expect(await page.locator('.volume .chart .uplot').count()).toBe(1)
    expect(await drawnPixels(page)).toBeGreaterThan(100)
    // the canvas is one image to assistive technology, pointing to the table
    expect(await page.locator('.volume .chart').getAttribute('role')).toBe('img')
    expect(await page.locator('.volume .chart').getAttribute('aria-label')).toContain('ETH on devnet')
    expect(await page.locator('.volume .u-legend').textContent()).toContain('ETH on devnet')

    await page.getByRole('button', { name: 'By hour' }).click()
    await page.getByRole('columnheader', { name: 'Hour (UTC)' }).waitFor()
    expect(await page.getByRole('button', { name: 'By hour' }).getAttribute('aria-pressed')).toBe('true')
    const [[hour, ...rest] = []] = await rows(page, '.volume-table')
    expect(hour).toMatch(new RegExp(`^${today} \\d\\d:00 UTC$`))
    expect(rest).toEqual(['ETH on devnet', '1.5', '1'])
    expect(await drawnPixels(page)).toBeGreaterThan(100)
    await page.getByRole('button', { name: 'By day' }).click()
    await page.getByRole('columnheader', { name: 'Day (UTC)' }).waitFor()
  }, 60_000)

  test('default: payments by status, the chains with their lag, webhook health, the queues and the reconciliation', async () => {
    const counts = Object.fromEntries(
      await page.$$eval('.status-count', (items) =>
        items.map((i) => [
          i.querySelector('.status-count-name')?.textContent,
          i.querySelector('.status-count-value')?.textContent,
        ]),
      ),
    )
    expect(counts).toMatchObject({ PENDING: '1', COMPLETED: '1', EXPIRED: '0' })

    const [chain] = await rows(page, '.chains-table')
    expect(chain?.[0]).toBe('devnet')
    expect(chain?.[1]).toMatch(/^(Up to date|Behind: .+|Unavailable: .+)$/)
    expect(chain?.[2]).toMatch(/^\d+$/)
    expect(chain?.[3]).not.toBe('—')

    const webhooks = page.locator('.webhook-health')
    expect(await webhooks.locator('p').first().textContent()).toBe('Deliveries are going through.')
    expect(await webhooks.locator('dt').allTextContents()).toContain('Endpoints failing')

    await page.getByRole('heading', { name: 'Job queues (whole gateway)' }).waitFor()
    const queues = await rows(page, '.queues-table')
    expect(queues.map((q) => q[0])).toEqual([
      'address-pool',
      'scan',
      'expire',
      'payouts',
      'reconcile',
      'rates',
    ])
    expect(queues.find((q) => q[0] === 'reconcile')).toEqual(['reconcile', '0', '0', '1', '0'])

    const reconciliation = page.locator('.reconciliation')
    await reconciliation.first().waitFor()
    expect(await reconciliation.locator('h3').allTextContents()).toEqual(['devnet'])
    expect(await reconciliation.locator('.reconciliation-summary').textContent()).toBe(
      'The books and the chain agree.',
    )
    const facts = Object.fromEntries(
      await reconciliation
        .locator('dl')
        .evaluate((dl) =>
          [...dl.querySelectorAll('dt')].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]),
        ),
    )
    expect(facts).toMatchObject({
      Settled: 'Yes',
      'Balances compared': '6',
      'Funding booked': '1 ETH (treasury)',
      'Last failure': 'None',
    })
    expect(facts.Checked).not.toBe('—')
    await page.screenshot({ path: join(artifactsDir, 'console-overview-admin.png'), fullPage: true })
  }, 30_000)

  test('default: at 375 px the chart narrows with the page; nothing scrolls sideways; no CSP violation with the chart on the page', async () => {
    await page.setViewportSize({ width: 375, height: 800 })
    await page.waitForFunction(() => {
      const chart = document.querySelector('.volume .chart .uplot') as HTMLElement | null
      return chart !== null && chart.getBoundingClientRect().width <= 375
    })
    expect(await noHorizontalScroll(page)).toBe(true)
    expect(await drawnPixels(page)).toBeGreaterThan(100)
    await page.screenshot({ path: join(artifactsDir, 'console-overview-admin-375.png'), fullPage: true })

    await expectCleanPage(page, { foreign, watched })
  }, 30_000)
})

describe('the overview as a viewer', () => {
  test('default: the same figures without the gateway-wide sections; no error, nothing foreign, no CSP violation', async () => {
    const { context, page, foreign, watched } = await watchedPage(scene, { width: 375 })
    const graphql: string[] = []
    page.on('request', (r) => {
      if (r.url().endsWith('/graphql')) graphql.push(r.postData() ?? '')
    })
    await signIn(page, base, viewer)
    await page.locator('.volume-table tbody tr').first().waitFor()
    await page.locator('.chains-table tbody tr').first().waitFor()
    await page.locator('.webhook-health').waitFor()
    expect(await rows(page, '.volume-table')).toEqual([
      [new Date().toISOString().slice(0, 10), 'ETH on devnet', '1.5', '1'],
    ])
    expect(await page.locator('.status-count').count()).toBeGreaterThan(0)
    expect(await page.locator('.volume .chart canvas').count()).toBeGreaterThan(0)
    expect(await page.getByRole('heading', { name: 'Job queues (whole gateway)' }).count()).toBe(0)
    expect(await page.getByRole('heading', { name: 'Reconciliation per chain' }).count()).toBe(0)
    // nor asked for: the API would refuse them
    expect(graphql.some((body) => body.includes('queues') || body.includes('reconciliation'))).toBe(false)
    expect(await page.locator('.error').count()).toBe(0)
    expect(await noHorizontalScroll(page)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'console-overview-viewer-375.png'), fullPage: true })

    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 60_000)
})
