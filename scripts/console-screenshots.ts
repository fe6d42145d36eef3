#!/usr/bin/env bun
// `bun scripts/console-screenshots.ts [outDir]`: the screenshots of the console in the README. Starts an anvil
// devnet and a gateway in this process (a database of its own on the local Postgres, a Redis prefix of its own, as
// the tests do), seeds a demo merchant the real way (payments paid on chain and scanned, one held by the sanctions
// list, a withdrawal waiting for its second approval, a webhook endpoint with deliveries, API keys), signs an admin
// in with TOTP in Chromium and writes the pages as PNGs to docs/images/ (or outDir). Everything it started is
// stopped and dropped at the end, also when a step fails.
import { mkdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { type Column, eq, type SQL, sql } from 'drizzle-orm'
import type { Browser, Locator, Page } from 'playwright-core'
import { parseEther } from 'viem'
import { createPayment } from '../src/core/payments/create.ts'
import { roleWallet } from '../src/core/payouts/wallet-roles.ts'
import { newScannerState } from '../src/core/scanning/sync.ts'
import { attemptDelivery } from '../src/core/webhooks/delivery.ts'
import { dispatchWebhookEvents } from '../src/core/webhooks/dispatch.ts'
import { paymentEvents, payments } from '../src/db/schema/index.ts'
import { startScreeningPump } from '../src/jobs/kyt-pump.ts'
import { processReconcile } from '../src/jobs/reconcile.ts'
import type { TestApp } from '../test/helpers/app.ts'
import type { Devnet } from '../test/helpers/chain.ts'
import {
  consolePassword,
  consoleUser,
  openPage,
  pageProblems,
  scanChain,
  signIn,
  startConsoleScene,
  type TestConsoleUser,
  watchedPage,
} from '../test/helpers/console.ts'
import { devnetUnits, fundWallet } from '../test/helpers/devnet-app.ts'
import { impersonate, kytTestConfig, payNativeFrom, sdnAddresses } from '../test/helpers/kyt.ts'
import { waitFor } from '../test/helpers/processes.ts'

/** Where the README's images live. */
export const defaultOutDir = resolve(import.meta.dir, '../docs/images')

const usage = `Usage: bun scripts/console-screenshots.ts [outDir]

Writes console-*.png to outDir (default docs/images/): 1280 px wide (800 px high, or down to the end of what the
page is about), and the overview at 375x800 as on a phone.
Needs what the tests need: Postgres on 127.0.0.1:5432 (trust, user postgres; or TEST_PG_URL), Redis on
127.0.0.1:6379 (or REDIS_URL), Chromium at /usr/bin/chromium (or CHROMIUM_PATH); anvil comes from node_modules.
A database and a Redis prefix of its own are created and dropped again.`

/** The demo merchant's name, in the header and the overview's title. */
const merchantName = 'Northwind Coffee'

/** An address the demo withdraws to (nobody's; never sent: the withdrawal waits for its second approval). */
const withdrawalDestination = '0x8ba1f109551bD432803012645Ac136ddd64DBA72'

/**
 * The completed payments, one a day over the last week (the chart's shape): amount in USDT, order id, and how many
 * days ago it completed. All in one asset, so the chart's single axis shows them all.
 */
const completedPayments: ReadonlyArray<{ amount: string; orderId: string; daysAgo: number }> = [
  { amount: '120', orderId: 'order-1038', daysAgo: 6 },
  { amount: '210.5', orderId: 'order-1039', daysAgo: 5 },
  { amount: '95', orderId: 'order-1040', daysAgo: 4 },
  { amount: '340', orderId: 'order-1041', daysAgo: 3 },
  { amount: '185.25', orderId: 'order-1042', daysAgo: 2 },
  { amount: '262', orderId: 'order-1043', daysAgo: 1 },
  { amount: '149.9', orderId: 'order-1044', daysAgo: 0 },
]

/** A running demo gateway and the browser to capture it with: what was seeded, and how to stop it all. */
export type ConsoleDemo = {
  app: TestApp
  devnet: Devnet
  base: string
  browser: Browser
  admin: TestConsoleUser
  /** The demo merchant, with its all-scopes API key. */
  merchant: { id: string; name: string; key: string }
  ids: { payment: string; pending: string; held: string; withdrawal: string; endpoint: string }
  stop(): Promise<void>
}

/** The payload of the mutation or query `field`, as `key` asks it; throws on an error or a UserError answer. */
const gqlOrThrow = async <T>(app: TestApp, key: string, field: string, query: string, variables = {}) => {
  const res = await app.gql(query, variables, key)
  const value = res.data?.[field]
  if (!value || value.code) throw new Error(`${field}: ${JSON.stringify(res)}`)
  return value as T
}

/**
 * Starts a devnet, Chromium and a gateway on the devnet with KYT screening (the offline SDN lists) and USDT
 * withdrawals above 500 needing two approvals, then seeds the demo merchant. `stop()` ends and drops everything,
 * whatever state it is in.
 *
 * @example
 * const demo = await startConsoleDemo()
 * try { await captureConsole(demo, 'docs/images') } finally { await demo.stop() }
 */
export async function startConsoleDemo(): Promise<ConsoleDemo> {
  const scene = await startConsoleScene({
    config: (devnet) =>
      kytTestConfig(devnet.url, {
        settings: {
          sweeps: { enabled: false },
          payouts: { mode: 'batch', approvalAbove: { USDT: '500' }, approvalsRequired: { USDT: 2 } },
        },
      }),
    env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT_MS: '5000' },
  })
  // the merchant's webhook receiver on this machine: answers every delivery 200
  const receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: () => Response.json({ received: true }),
  })
  // the scene's own steps each run even when another fails (see startConsoleScene)
  const stop = async () => {
    receiver.stop(true)
    await scene.close()
  }
  try {
    const { app, devnet, base, browser } = scene
    const seeded = await seed(app, devnet, `http://127.0.0.1:${receiver.port}/webhooks/tollgate`)
    return { app, devnet, base, browser, ...seeded, stop }
  } catch (err) {
    await stop().catch((failed) => console.error('stopping the demo:', failed))
    throw err
  }
}

/** The demo merchant's data, made through the API and the chain as a merchant's backend and buyers would. */
async function seed(app: TestApp, devnet: Devnet, receiverUrl: string) {
  const shop = await app.merchant(merchantName)
  const admin = await consoleUser(app, 'Ada Admin', [{ merchantId: shop.id, role: 'admin' }])
  const mutation = <T>(field: string, query: string, variables = {}) =>
    gqlOrThrow<T>(app, shop.key, field, query, variables)

  const endpoint = await mutation<{ endpoint: { id: string } }>(
    'createWebhookEndpoint',
    `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
      ... on WebhookEndpointWithSecret { endpoint { id } } ... on UserError { code message } } }`,
    {
      input: {
        url: receiverUrl,
        events: ['PAYMENT_COMPLETED', 'PAYMENT_HELD'],
        description: 'Order fulfilment',
      },
    },
  )
  const createKey = (name: string, scopes: string[]) =>
    mutation<{ key: string }>(
      'createApiKey',
      `mutation ($name: String!, $scopes: [ApiKeyScope!]!) { createApiKey(name: $name, scopes: $scopes) {
        ... on ApiKeyCreated { key } ... on UserError { code message } } }`,
      { name, scopes },
    ).then((k) => k.key)
  await createKey('Storefront backend', ['PAYMENTS_READ', 'PAYMENTS_WRITE'])
  const payoutKey = await createKey('Payout service', ['PAYMENTS_READ', 'WITHDRAWALS_WRITE'])
  const approverKey = await createKey('Treasury approver', ['PAYMENTS_READ', 'WITHDRAWALS_APPROVE'])

  // buyers pay in full from anvil's funded account
  const completed: string[] = []
  for (const p of completedPayments) {
    const { payment } = await createPayment(app.ctx, shop.id, {
      chain: 'devnet',
      asset: 'USDT',
      amount: p.amount,
      orderId: p.orderId,
      metadata: { customer: `cus_${p.orderId.slice(-4)}`, channel: 'web' },
    })
    await devnet.payToken(payment.address, devnetUnits('USDT', p.amount))
    completed.push(payment.id)
  }
  const pending = await createPayment(app.ctx, shop.id, {
    chain: 'devnet',
    asset: 'USDT',
    amount: '64.5',
    orderId: 'order-1045',
  })
  const scanner = newScannerState()
  const statusOf = async (id: string) =>
    (await app.gql('query ($id: ID!) { payment(id: $id) { status } }', { id }, shop.key)).data.payment.status
  /** Mines the confirmations, scans, and screens until each payment of `ids` is in `status`. */
  const settle = async (ids: string[], status: string) => {
    await scanChain(app, devnet, { scanner, screen: true })
    const pump = startScreeningPump(app.ctx, () => {}, { idleMs: 50 })
    try {
      for (const id of ids)
        await waitFor(`${id} ${status}`, async () => (await statusOf(id)) === status, 30_000)
    } finally {
      await pump.stop()
    }
  }
  await settle(completed, 'COMPLETED')

  // demo only: the gateway stamps a payment's times as things happen (all now, here); the older ones are moved back
  // whole (created, expiry, completion, events) so the volume chart has a week's shape. The newest, shown in
  // detail, keeps its real times.
  for (const [i, p] of completedPayments.entries()) {
    if (p.daysAgo === 0) continue
    const id = completed[i] as string
    const back = (column: SQL | Column) => sql`${column} - make_interval(days => ${p.daysAgo})`
    await app.ctx.db
      .update(payments)
      .set({
        createdAt: back(payments.createdAt),
        expiresAt: back(payments.expiresAt),
        updatedAt: back(payments.updatedAt),
        completedAt: back(payments.completedAt),
      })
      .where(eq(payments.id, id))
    await app.ctx.db
      .update(paymentEvents)
      .set({ createdAt: back(paymentEvents.createdAt) })
      .where(eq(paymentEvents.paymentId, id))
  }

  // their webhooks, each delivered in one attempt
  const deliverAll = async () => {
    for (const delivery of await dispatchWebhookEvents(app.ctx)) await attemptDelivery(app.ctx, delivery.id)
  }
  await deliverAll()

  // then a buyer pays from an address on the OFAC SDN list: screened, held, announced (the newest delivery)
  const held = await createPayment(app.ctx, shop.id, {
    chain: 'devnet',
    asset: 'ETH',
    amount: '0.75',
    orderId: 'order-1046',
  })
  const listed = sdnAddresses('ETH')[0] as string
  await impersonate(devnet, listed)
  await payNativeFrom(devnet, listed, held.payment.address, parseEther('0.75'))
  await settle([held.payment.id], 'HELD')
  await deliverAll()

  // a large withdrawal: over 500 USDT needs two approvals; the treasury approver gave the first
  const requested = await gqlOrThrow<{ withdrawal: { id: string } }>(
    app,
    payoutKey,
    'requestWithdrawal',
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
      ... on RequestWithdrawalPayload { withdrawal { id status } } ... on UserError { code message } } }`,
    {
      input: {
        chain: 'devnet',
        asset: 'USDT',
        to: withdrawalDestination,
        amount: '1000',
        idempotencyKey: 'payout-2026-week-49',
      },
    },
  )
  const withdrawal = requested.withdrawal.id
  await gqlOrThrow(
    app,
    approverKey,
    'approveWithdrawal',
    `mutation ($id: ID!) { approveWithdrawal(id: $id, reason: "Supplier invoice INV-2291 checked") {
      ... on Withdrawal { id } ... on UserError { code message } } }`,
    { id: withdrawal },
  )

  // the operator funded the treasury; the scheduled reconciliation books it
  await fundWallet(devnet, roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury').address, {
    ETH: '5',
  })
  await processReconcile(app.ctx, 'devnet')

  return {
    admin,
    merchant: { id: shop.id, name: merchantName, key: shop.key },
    ids: {
      payment: completed.at(-1) as string,
      pending: pending.payment.id,
      held: held.payment.id,
      withdrawal,
      endpoint: endpoint.endpoint.id,
    },
  }
}

/** Waits for the page's `h1` and for every "Loading…" in the main content to be gone. */
async function settled(page: Page, heading: string | RegExp) {
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor()
  await page.waitForFunction(() => !/Loading/.test(document.querySelector('main')?.textContent ?? ''))
}

/**
 * Signs the demo's admin in and writes the console's main pages as PNGs to `outDir`: sign-in, overview, a payment's
 * detail (whole page), the withdrawals queue, the compliance queue, an endpoint's webhook deliveries (1280 wide) and
 * the overview at 375×800. Returns the paths written and what went wrong on the way that a picture may not show
 * (page errors, failed responses, dialogs, CSP violations, requests to other hosts): a clean run has none.
 *
 * @example
 * const { written, problems } = await captureConsole(demo, defaultOutDir)
 */
export async function captureConsole(
  demo: ConsoleDemo,
  outDir: string,
): Promise<{ written: string[]; problems: string[] }> {
  mkdirSync(outDir, { recursive: true })
  const written: string[] = []
  // a fixed locale and time zone, so that re-runs lay out the same
  const { context, page, foreign, watched } = await watchedPage(demo, {
    contextOptions: {
      deviceScaleFactor: 1,
      locale: 'en-US',
      timezoneId: 'UTC',
      colorScheme: 'light',
      reducedMotion: 'reduce',
    },
  })
  try {
    /** The viewport, the whole page, or the page from its top down to the end of a locator (at most `maxHeight`). */
    const shot = async (
      name: string,
      extent: 'viewport' | 'page' | Locator = 'viewport',
      maxHeight = 1600,
    ) => {
      const path = join(outDir, name)
      // no focus ring left by the last click in the picture
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur())
      let clip: { x: number; y: number; width: number; height: number } | undefined
      if (typeof extent !== 'string') {
        const box = await extent.boundingBox()
        if (!box) throw new Error(`${name}: what the picture ends with is not shown`)
        const width = page.viewportSize()?.width ?? 1280
        clip = { x: 0, y: 0, width, height: Math.min(maxHeight, Math.ceil(box.y + box.height + 24)) }
      }
      await page.screenshot({
        path,
        fullPage: extent !== 'viewport',
        clip,
        animations: 'disabled',
        caret: 'hide',
      })
      written.push(path)
    }
    const { base, ids } = demo

    await page.goto(`${base}/console`)
    await page.getByRole('heading', { name: 'Sign in to the Tollgate console' }).waitFor()
    await page.getByLabel('Email').fill(demo.admin.email)
    await page.getByLabel('Password').fill(consolePassword)
    await shot('console-sign-in.png', page.getByRole('button', { name: 'Sign in' }))

    await signIn(page, base, demo.admin, demo.merchant.name)
    await settled(page, /^Overview/)
    await page.locator('.volume .chart canvas').first().waitFor()
    await shot('console-overview.png')

    await openPage(page, base, 'payments', ids.payment)
    await settled(page, 'Payment')
    await page.getByRole('heading', { name: 'Transfers' }).waitFor()
    await shot('console-payment.png', 'page')

    await openPage(page, base, 'withdrawals')
    await settled(page, 'Withdrawals')
    await page
      .getByRole('list', { name: 'Queue' })
      .getByRole('article', { name: `Withdrawal ${ids.withdrawal}` })
      .waitFor()
    await shot('console-withdrawals.png')

    await openPage(page, base, 'compliance')
    await settled(page, 'Compliance')
    const heldItem = page.locator('.kyt-item', { hasText: ids.held })
    await heldItem.locator('.kyt-answer').first().waitFor()
    await shot('console-compliance.png', heldItem)

    await openPage(page, base, 'webhooks', ids.endpoint)
    await settled(page, 'Webhook deliveries')
    const delivery = page.locator('.delivery').first()
    await delivery.waitFor()
    await shot('console-webhooks.png', delivery, 2000)

    await page.setViewportSize({ width: 375, height: 800 })
    await openPage(page, base, 'overview')
    await settled(page, /^Overview/)
    await page.locator('.volume .chart canvas').first().waitFor()
    await shot('console-overview-phone.png')
    return { written, problems: await pageProblems(page, { foreign, watched }) }
  } finally {
    await context.close()
  }
}

if (import.meta.main) {
  const arg = process.argv[2]
  if (arg === '--help' || arg === '-h') {
    console.log(usage)
    process.exit(0)
  }
  const outDir = arg ? resolve(arg) : defaultOutDir
  let demo: ConsoleDemo | undefined
  try {
    demo = await startConsoleDemo()
    const { written, problems } = await captureConsole(demo, outDir)
    for (const path of written) console.log(relative(process.cwd(), path))
    if (problems.length > 0) {
      console.error(`The console misbehaved while being captured:\n${problems.join('\n')}`)
      process.exitCode = 1
    }
  } catch (err) {
    console.error(err)
    console.error(`\n${usage}`)
    process.exitCode = 1
  } finally {
    await demo?.stop().catch((err) => {
      console.error('stopping the demo:', err)
      process.exitCode = 1
    })
  }
}
