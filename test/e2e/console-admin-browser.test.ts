import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import type { BrowserContext, Locator, Page } from 'playwright-core'
import { attemptDelivery } from '../../src/core/webhooks/delivery.ts'
import { dispatchWebhookEvents } from '../../src/core/webhooks/dispatch.ts'
import { webhookEndpoints } from '../../src/db/schema/index.ts'
import type { TestApp } from '../helpers/app.ts'
import { artifactsDir } from '../helpers/browser.ts'
import {
  type ConsoleScene,
  consoleUser,
  expectCleanPage,
  noHorizontalScroll,
  openPage,
  signedInPage,
  startConsoleScene,
  type TestConsoleUser,
  type watchPage,
} from '../helpers/console.ts'

// The console's admin pages in Chromium, every other host unreachable. An admin adds a webhook endpoint whose URL
// and description are hostile markup and reads them as text, is refused a javascript: URL and a non-URL in words,
// reads a delivery whose receiver answered 500 with a script as its body (shown inert), redelivers it and rotates a
// secret (shown once) through confirmations; creates an API key (shown once) and revokes it; and finds those
// actions in the audit log under user:<id>. An operator sees Webhooks but neither API keys nor the audit log, and
// the API refuses the key the operator's own session asks for. No chain is needed: payments are only created.

const hostileUrl = `https://example.com/hook?x="><img src=x onerror=alert(1)>`
const hostileDescription = `<img src=x onerror=alert('desc')><script>alert('desc')</script>`
const hostileBody = '<script>alert(1)</script>'

let scene: ConsoleScene<undefined>
let app: TestApp
let receiver: ReturnType<typeof Bun.serve>
let receiverUrl: string
let base: string
let shop: { id: string; key: string }
let admin: TestConsoleUser
let operator: TestConsoleUser
let receiverEndpointId: string
let paymentId: string

beforeAll(async () => {
  // loopback receivers allowed; example.com is never resolved when only stored (and never attempted here)
  scene = await startConsoleScene({
    devnet: false,
    env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT_MS: '5000' },
  })
  ;({ app, base } = scene)
  // a receiver that fails with hostile markup as its body
  receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: () => new Response(hostileBody, { status: 500, headers: { 'content-type': 'text/html' } }),
  })
  receiverUrl = `http://127.0.0.1:${receiver.port}/hook`
  shop = await app.merchant('Admin shop')
  ;[admin, operator] = await Promise.all([
    consoleUser(app, 'Ada Admin', [{ merchantId: shop.id, role: 'admin' }]),
    consoleUser(app, 'Otto Operator', [{ merchantId: shop.id, role: 'operator' }]),
  ])
}, 60_000)

afterAll(async () => {
  receiver?.stop(true)
  await scene?.close()
})

async function endpointsViaApi(): Promise<Array<{ id: string; url: string; description: string | null }>> {
  const res = await app.gql('{ webhookEndpoints { id url description } }', {}, shop.key)
  return res.data.webhookEndpoints
}

async function deliveryViaApi(endpointId: string) {
  const res = await app.gql(
    `query ($id: ID!) { webhookDeliveries(endpointId: $id, first: 5) { edges { node {
      id status attempts eventType attemptLog { statusCode responseBody } } } } }`,
    { id: endpointId },
    shop.key,
  )
  return res.data.webhookDeliveries.edges.map((e: { node: unknown }) => e.node)
}

/** Opens a confirmed action's step inside `scope` and confirms it. */
async function confirm(scope: Locator, label: string) {
  await scope.getByRole('button', { name: label, exact: true }).click()
  await scope.getByRole('button', { name: `Confirm: ${label}` }).click()
}

const noMarkupFromData = async (page: Page) =>
  expect(await page.locator('main img, main script, main iframe').count()).toBe(0)

describe('the admin pages in Chromium', () => {
  let context: BrowserContext
  let page: Page
  let foreign: string[]
  let watched: ReturnType<typeof watchPage>

  beforeAll(async () => {
    ;({ context, page, foreign, watched } = await signedInPage(scene, admin))
  }, 30_000)
  afterAll(() => context?.close())

  test('default: a hostile but valid URL is added and shown as text, its secret once; bad URLs are refused in words and add nothing', async () => {
    await openPage(page, base, 'webhooks')
    await page.getByRole('heading', { name: 'Add an endpoint' }).waitFor()
    const form = page.getByRole('form', { name: 'Add endpoint' })
    await form.getByLabel('Endpoint URL').fill(hostileUrl)
    await form.getByLabel('Description (optional)').fill(hostileDescription)
    await form.getByLabel('payment.completed', { exact: true }).check()
    await form.getByRole('button', { name: 'Add endpoint' }).click()

    const secretBox = page.locator('.secret-once')
    await secretBox.waitFor()
    const [stored] = await endpointsViaApi()
    expect(stored?.description).toBe(hostileDescription)
    const [row] = await app.ctx.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, stored!.id))
    expect(await secretBox.locator('.secret-value').textContent()).toBe(row!.secret)
    expect(await secretBox.textContent()).toContain('Copy it now: it is shown only this once')
    // the URL as the API stored it (the URL parser escapes what it must) and the description, both as text
    const card = page.locator('.endpoint').filter({ hasText: stored!.url })
    await card.waitFor()
    expect(await card.locator('.endpoint-url').textContent()).toBe(stored!.url)
    expect(stored!.url.startsWith('https://example.com/hook?x=')).toBe(true)
    expect(await card.getByText(hostileDescription, { exact: true }).count()).toBe(1)
    expect(await card.locator('.endpoint-events').textContent()).toBe('payment.completed')
    await noMarkupFromData(page)
    await page.screenshot({ path: join(artifactsDir, 'console-webhooks.png'), fullPage: true })

    // once dismissed, the secret is nowhere on the page, nor when the page is opened again
    await secretBox.getByRole('button', { name: 'Done: I have copied it' }).click()
    await secretBox.waitFor({ state: 'detached' })
    expect(await page.locator('body').textContent()).not.toContain('whsec_')
    await page.getByRole('link', { name: 'Overview' }).click()
    await page.getByRole('heading', { name: /^Overview/ }).waitFor()
    await page.getByRole('link', { name: 'Webhooks' }).click()
    await page.locator('.endpoint').first().waitFor()
    expect(await page.locator('body').textContent()).not.toContain('whsec_')

    for (const [bad, words] of [
      ['javascript:alert(1)', 'url must be http or https'],
      ['not a URL', 'url is not a valid URL'],
    ] as const) {
      await form.getByLabel('Endpoint URL').fill(bad)
      await form.getByLabel('payment.created', { exact: true }).check()
      await form.getByRole('button', { name: 'Add endpoint' }).click()
      await form
        .getByRole('alert')
        .filter({ hasText: `The endpoint was not added: INVALID_INPUT: ${words}` })
        .waitFor()
    }
    expect((await endpointsViaApi()).map((e) => e.id)).toEqual([stored!.id])
    expect(await page.locator('.endpoint').count()).toBe(1)
  }, 60_000)

  test('default: an endpoint is edited (disabled) and deleted through a confirmation', async () => {
    const [hostile] = await endpointsViaApi()
    const card = page.locator('.endpoint').filter({ hasText: hostile!.url })
    await card.getByRole('button', { name: 'Edit' }).click()
    await card.getByLabel('Enabled (deliveries are sent)').uncheck()
    await card.getByRole('button', { name: 'Save endpoint' }).click()
    await page.waitForFunction(() => document.querySelector('.endpoint-enabled')?.textContent === 'No')
    const edited = await app.gql('{ webhookEndpoints { enabled } }', {}, shop.key)
    expect(edited.data.webhookEndpoints).toEqual([{ enabled: false }])

    // cancelling the confirmation deletes nothing
    await card.getByRole('button', { name: 'Delete endpoint' }).click()
    await card.getByRole('button', { name: 'Cancel' }).click()
    expect(await endpointsViaApi()).toHaveLength(1)
    await confirm(card, 'Delete endpoint')
    await page.locator('main > p[role="status"]').filter({ hasText: 'is deleted.' }).waitFor()
    expect(await endpointsViaApi()).toEqual([])
  }, 30_000)

  test('default: a delivery shows its payload and the 500 answer with a script body as text; it is redelivered after confirming', async () => {
    const created = await app.gql(
      `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
        ... on WebhookEndpointWithSecret { endpoint { id } } } }`,
      { input: { url: receiverUrl, events: ['PAYMENT_CREATED'] } },
      shop.key,
    )
    receiverEndpointId = created.data.createWebhookEndpoint.endpoint.id
    const payment = await app.gql(
      `mutation { createPayment(input: { chain: "devnet", asset: "ETH", amount: "1" }) {
        ... on CreatePaymentPayload { payment { id } } } }`,
      {},
      shop.key,
    )
    paymentId = payment.data.createPayment.payment.id
    // the outbox becomes a delivery, and one attempt reaches the receiver (the pump itself does not run)
    const [delivery] = await dispatchWebhookEvents(app.ctx)
    expect(await attemptDelivery(app.ctx, delivery!.id)).toMatchObject({ kind: 'retry' })

    // opened afresh (not reloaded: the document stays) to list the endpoint the API just made
    await page.getByRole('link', { name: 'Overview' }).click()
    await page.getByRole('heading', { name: /^Overview/ }).waitFor()
    await page.getByRole('link', { name: 'Webhooks' }).click()
    await page.locator('.endpoint').filter({ hasText: receiverUrl }).getByRole('link').click()
    await page.getByRole('heading', { name: 'Webhook deliveries' }).waitFor()
    const item = page.locator('.delivery')
    await item.waitFor()
    expect(await item.locator('.delivery-type').textContent()).toBe('payment.created')
    expect(await item.locator('.delivery-status').textContent()).toBe('pending')
    expect(await item.locator('.delivery-attempts').textContent()).toBe('1')
    const payload = JSON.parse((await item.locator('pre.payload').textContent()) ?? '')
    expect(payload).toMatchObject({ type: 'payment.created', data: { id: paymentId } })
    expect(await item.locator('pre.payload').textContent()).toContain('\n  "type": "payment.created"')
    expect(await item.locator('.attempt-status').textContent()).toBe('500')
    expect(await item.locator('pre.response-body').textContent()).toBe(hostileBody)
    await noMarkupFromData(page)

    await confirm(item, 'Redeliver')
    await item.getByRole('status').filter({ hasText: 'Queued for delivery again.' }).waitFor()
    await page.waitForFunction(() => document.querySelector('.delivery-attempts')?.textContent === '0')
    const [after] = await deliveryViaApi(receiverEndpointId)
    expect(after).toMatchObject({ status: 'pending', attempts: 0 })
    await page.screenshot({ path: join(artifactsDir, 'console-webhook-deliveries.png'), fullPage: true })
  }, 60_000)

  test('default: rotating a secret asks first, then shows the new secret once', async () => {
    await page.getByRole('link', { name: '← All endpoints' }).click()
    const card = page.locator('.endpoint').filter({ hasText: receiverUrl })
    await card.waitFor()
    const [before] = await app.ctx.db
      .select()
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, receiverEndpointId))
    await card
      .getByLabel('After rotating, the old secret keeps signing for')
      .selectOption({ label: '1 hour' })
    await card.getByRole('button', { name: 'Rotate secret' }).click()
    expect(await card.locator('.confirm-text').textContent()).toContain('keeps signing too for 1 hour')
    await card.getByRole('button', { name: 'Confirm: Rotate secret' }).click()
    const secretBox = page.locator('.secret-once')
    await secretBox.waitFor()
    const [row] = await app.ctx.db
      .select()
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, receiverEndpointId))
    expect(row!.secret).not.toBe(before!.secret)
    expect(row!.previousSecret).toBe(before!.secret)
    const overlapMs = row!.previousSecretExpiresAt!.getTime() - Date.now()
    expect(overlapMs).toBeGreaterThan(3_500_000)
    expect(overlapMs).toBeLessThanOrEqual(3_600_000)
    expect(await secretBox.locator('.secret-value').textContent()).toBe(row!.secret)
    await secretBox.getByRole('button', { name: 'Done: I have copied it' }).click()
    expect(await page.locator('body').textContent()).not.toContain('whsec_')
  }, 30_000)

  test('default: an API key is created with scopes and shown once, then revoked after confirming: it stops working', async () => {
    await openPage(page, base, 'api-keys')
    const form = page.getByRole('form', { name: 'Create a key' })
    await form.getByLabel('Name').fill('Deploy <b>bot</b>')
    await form.getByLabel('payments:read', { exact: true }).check()
    await form.getByLabel('webhooks:write', { exact: true }).check()
    await form.getByLabel(/^Expires/).fill('2035-06-30T12:00')
    await form.getByRole('button', { name: 'Create key' }).click()
    const secretBox = page.locator('.secret-once')
    await secretBox.waitFor()
    const key = (await secretBox.locator('.secret-value').textContent()) ?? ''
    expect(key).toMatch(/^tg_[0-9a-f]{16}_/)
    // the key works, with the scopes chosen
    const ok = await app.gql('{ webhookEndpoints { id } }', {}, key)
    expect(ok.errors).toBeUndefined()
    const refused = await app.gql('{ auditLog(first: 1) { edges { node { id } } } }', {}, key)
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')

    const card = page.locator('.api-key').filter({ hasText: 'Deploy <b>bot</b>' })
    await card.waitFor()
    expect(await card.locator('.key-scopes').textContent()).toBe('payments:read, webhooks:write')
    expect(await card.locator('.key-state').textContent()).toBe('Active')
    expect(await card.locator('.key-prefix').textContent()).toBe(key.slice(3, 19))
    expect(await card.locator('time').nth(1).getAttribute('datetime')).toBe(
      new Date('2035-06-30T12:00').toISOString(),
    )
    await secretBox.getByRole('button', { name: 'Done: I have copied it' }).click()
    expect(await page.locator('body').textContent()).not.toContain(key)

    await confirm(card, 'Revoke key')
    // said at the page's level, since the card's button goes once the key is revoked
    await page
      .locator('main > p[role="status"]')
      .filter({ hasText: 'The key “Deploy <b>bot</b>” is revoked.' })
      .waitFor()
    await page.waitForFunction(() =>
      [...document.querySelectorAll('.key-state')].some((e) => e.textContent === 'Revoked'),
    )
    const after = await app.gql('{ webhookEndpoints { id } }', {}, key)
    expect(after.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED')
    await noMarkupFromData(page)
  }, 30_000)

  test('default: the audit log lists those actions newest first under user:<id>; at 375 px nothing scrolls sideways', async () => {
    await openPage(page, base, 'audit')
    await page.locator('.audit-entry').first().waitFor()
    const actions = await page.locator('.audit-entry').evaluateAll((items) =>
      items.map((li) => ({
        actor: li.querySelector('.audit-actor')?.textContent,
        name: li.querySelector('.audit-actor-name')?.textContent,
        action: li.querySelector('.audit-action')?.textContent,
      })),
    )
    const mine = actions.filter((a) => a.actor === `user:${admin.id}`).map((a) => a.action)
    // each shown under the admin's name, with the id beside it
    expect(new Set(actions.filter((a) => a.actor === `user:${admin.id}`).map((a) => a.name))).toEqual(
      new Set([admin.name]),
    )
    expect(mine.filter((a) => a !== 'console.login_succeeded')).toEqual([
      'apikey.revoked',
      'apikey.created',
      'webhook.secret_rotated',
    ])
    expect(
      await page
        .locator('.audit-entry')
        .filter({ hasText: 'webhook.secret_rotated' })
        .locator('.audit-data')
        .textContent(),
    ).toBe('{\n  "overlapSeconds": 3600\n}')

    await page.setViewportSize({ width: 375, height: 800 })
    expect(await noHorizontalScroll(page)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'console-audit-375.png'), fullPage: true })
    for (const [name, id, ready] of [
      ['webhooks', undefined, '.endpoint'],
      ['webhooks', receiverEndpointId, '.delivery'],
      ['api-keys', undefined, '.api-key'],
    ] as const) {
      await openPage(page, base, name, id)
      await page.locator(ready).first().waitFor()
      expect(await noHorizontalScroll(page)).toBe(true)
    }
    await page.screenshot({ path: join(artifactsDir, 'console-api-keys-375.png'), fullPage: true })

    await expectCleanPage(page, { foreign, watched })
  }, 30_000)
})

describe('an operator in Chromium', () => {
  test('error: sees Webhooks but not API keys or the audit log; createApiKey through the session answers FORBIDDEN', async () => {
    const { context, page, foreign, watched } = await signedInPage(scene, operator, { width: 375 })
    const menu = page.getByRole('navigation', { name: 'Console pages' })
    expect(await menu.getByRole('link').allTextContents()).toContain('Webhooks')
    expect(await menu.getByRole('link', { name: 'API keys' }).count()).toBe(0)
    expect(await menu.getByRole('link', { name: 'Audit log' }).count()).toBe(0)

    await menu.getByRole('link', { name: 'Webhooks' }).click()
    await page.locator('.endpoint').filter({ hasText: receiverUrl }).waitFor()
    expect(await page.getByRole('button', { name: 'Rotate secret' }).count()).toBe(1)
    // the API keys page is not open to the role: the console shows the overview instead
    await openPage(page, base, 'api-keys')
    await page.getByRole('heading', { name: /^Overview/ }).waitFor()
    expect(await page.getByRole('heading', { name: 'API keys' }).count()).toBe(0)
    expect(await noHorizontalScroll(page)).toBe(true)

    const keysBefore = await app.gql('{ me { apiKeys { id } } }', {}, shop.key)
    const session = await (await context.request.get(`${base}/console/api/session`)).json()
    const answer = await context.request.post(`${base}/graphql`, {
      headers: {
        'content-type': 'application/json',
        'x-csrf-token': session.csrfToken,
        'x-tollgate-merchant': shop.id,
      },
      data: { query: 'mutation { createApiKey(name: "sneaky", scopes: [ADMIN]) { __typename } }' },
    })
    const body = await answer.json()
    expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    const keysAfter = await app.gql('{ me { apiKeys { id } } }', {}, shop.key)
    expect(keysAfter.data.me.apiKeys).toEqual(keysBefore.data.me.apiKeys)

    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 30_000)
})
