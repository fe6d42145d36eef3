import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { totpCode } from '../../src/core/access/totp.ts'
import type { TestApp } from '../helpers/app.ts'
import { artifactsDir } from '../helpers/browser.ts'
import {
  type ConsoleScene,
  consolePassword,
  consoleUser,
  expectCleanPage,
  noHorizontalScroll,
  payAndScan,
  signIn,
  signInRefusals,
  startConsoleScene,
  type TestConsoleUser,
  watchedPage,
  type watchPage,
} from '../helpers/console.ts'

// The console in Chromium against the gateway's own handler on a socket, every other host unreachable: a viewer
// with two-factor signs in with the keyboard, picks a merchant, reads the balances and payments (one order id is
// hostile markup), searches by order id, and signs out.

const xssOrderId = `<img src=x onerror=alert(1)>"><script>alert('order')</script>`
const plainOrderId = 'order-plain-42'

let scene: ConsoleScene
let app: TestApp
let base: string
let shop: { id: string; key: string }
let xssPayment: string
let plainPayment: string
let viewer: TestConsoleUser

beforeAll(async () => {
  scene = await startConsoleScene()
  ;({ app, base } = scene)
  shop = await app.merchant('Console shop')
  const otherShop = await app.merchant('Second shop')
  // paid on chain and scanned: the shop has a balance, and the hostile order id is a completed payment
  xssPayment = await createPayment(xssOrderId)
  await payAndScan(app, scene.devnet, [[await paymentAddress(xssPayment), '1.5']])
  plainPayment = await createPayment(plainOrderId)

  viewer = await consoleUser(app, 'Vera Viewer', [
    { merchantId: shop.id, role: 'viewer' },
    { merchantId: otherShop.id, role: 'viewer' },
  ])
}, 90_000)

afterAll(() => scene?.close())

async function createPayment(orderId: string): Promise<string> {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id orderId } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', amount: '1.5', orderId } },
    shop.key,
  )
  const payment = res.data?.createPayment?.payment
  if (!payment) throw new Error(`createPayment: ${JSON.stringify(res)}`)
  expect(payment.orderId).toBe(orderId)
  return payment.id
}

async function paymentAddress(id: string): Promise<string> {
  const res = await app.gql('query ($id: ID!) { payment(id: $id) { address } }', { id }, shop.key)
  return res.data.payment.address
}

async function signInWithKeyboard(page: Page, passwordTyped: string) {
  // the email field has the focus when the form opens
  await page.getByLabel('Email').waitFor()
  await page.waitForFunction((id) => document.activeElement?.id === id, 'email')
  await page.keyboard.type(viewer.email)
  await page.keyboard.press('Tab')
  expect(await page.evaluate(() => document.activeElement?.id)).toBe('password')
  await page.keyboard.type(passwordTyped)
  await page.keyboard.press('Enter')
}

describe('the console in Chromium', () => {
  let context: BrowserContext
  let page: Page
  let foreign: string[]
  let watched: ReturnType<typeof watchPage>

  beforeAll(async () => {
    // expected refusals: the first session check before signing in, the wrong password, TOTP_REQUIRED (all 401 of
    // session or login), and the stale CSRF token the test provokes
    ;({ context, page, foreign, watched } = await watchedPage(scene, {
      expected: (url, status) => signInRefusals(url, status) || (url.endsWith('/graphql') && status === 403),
    }))
  })
  afterAll(() => context?.close())

  test('default: sign in with password then TOTP by keyboard, pick the merchant, see balances and payments; the hostile order id is text', async () => {
    const opened = await page.goto(`${base}/console`)
    expect(opened?.status()).toBe(200)
    expect(opened?.headers()['content-security-policy']).toContain("script-src 'self'")
    expect(await page.title()).toBe('Tollgate console')

    // a wrong password is refused in words
    await signInWithKeyboard(page, 'not the password at all')
    await page.getByRole('alert').filter({ hasText: 'The email, password or code is not right.' }).waitFor()
    expect(await page.getByLabel('Authenticator code').count()).toBe(0)

    // the right one asks for the code; the code field takes the focus (the password field kept it until then)
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('password')
    await page.keyboard.press('ControlOrMeta+A')
    await page.keyboard.type(consolePassword)
    await page.keyboard.press('Enter')
    await page.getByLabel('Authenticator code').waitFor()
    await page.waitForFunction((id) => document.activeElement?.id === id, 'totp')
    await page.keyboard.type(totpCode(viewer.secret, new Date(Date.now() + 30_000)))
    await page.keyboard.press('Enter')

    // two memberships: the picker, operated by keyboard
    await page.getByRole('heading', { name: 'Choose a merchant' }).waitFor()
    expect(await page.getByRole('button', { name: /Second shop/ }).count()).toBe(1)
    await page.getByRole('button', { name: /Console shop/ }).focus()
    await page.keyboard.press('Enter')

    await page.getByRole('heading', { name: 'Overview of Console shop' }).waitFor()
    expect(await page.locator('.user-name').textContent()).toBe('Vera Viewer')
    expect(await page.locator('.user-role').textContent()).toBe('viewer')
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(1)

    // the balance of the completed payment
    await page.locator('.balance').first().waitFor()
    expect(await page.locator('.balance-asset').allTextContents()).toEqual(['ETH on devnet'])
    expect(await page.locator('.balance-available .amount').textContent()).toBe('1.5')

    // the latest payments, newest first: the hostile order id shown as the literal text it is
    await page.locator('.payment').nth(1).waitFor()
    expect(await page.locator('.payment-id').allTextContents()).toEqual([plainPayment, xssPayment])
    expect(await page.locator('.payment-order').allTextContents()).toEqual([plainOrderId, xssOrderId])
    expect(await page.locator('.payment-status').allTextContents()).toEqual(['PENDING', 'COMPLETED'])
    expect(await page.locator('main img, main script').count()).toBe(0)
    await page.screenshot({ path: join(artifactsDir, 'console-overview.png'), fullPage: true })
  }, 60_000)

  test('default: searching by the hostile order id finds that payment only; by payment id too', async () => {
    const search = page.getByLabel('Payment id or order id')
    await search.focus()
    // the focused field shows a visible outline
    const outline = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement as Element)
      return `${style.outlineStyle} ${style.outlineWidth}`
    })
    expect(outline).toBe('solid 3px')
    await page.keyboard.type(xssOrderId)
    await page.keyboard.press('Enter')
    await page.getByRole('status').filter({ hasText: 'Payments matching' }).waitFor()
    await page.waitForFunction(() => document.querySelectorAll('.payment').length === 1)
    expect(await page.locator('.payment-id').allTextContents()).toEqual([xssPayment])
    expect(await page.locator('.payment-order').allTextContents()).toEqual([xssOrderId])

    await search.fill(plainPayment)
    await page.keyboard.press('Enter')
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('.payment-id')].map((e) => e.textContent).join() === id,
      plainPayment,
    )
  }, 30_000)

  test('behavior: a payment that changes shows on the overview without a reload (SSE under the session)', async () => {
    await page.getByRole('button', { name: 'Show latest' }).click()
    await page.locator('.payment').nth(1).waitFor()
    const streams = await page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => e.name.endsWith('/graphql'))
        .map((e) => e.name),
    )
    expect(streams.length).toBeGreaterThan(0)
    const liveOrder = 'order-live-7'
    const id = await createPayment(liveOrder)
    app.ctx.bus.publish([{ paymentId: id, merchantId: shop.id, seq: 1, type: 'payment.created' }])
    await page.locator('.payment-order', { hasText: liveOrder }).waitFor()
    expect(await page.locator('.payment-id').first().textContent()).toBe(id)
  }, 30_000)

  test('error: a stale CSRF token is renewed once through GET /console/api/session and the call retried', async () => {
    // another GET of the session rotates the token: the page's copy no longer works
    const rotated = await context.request.get(`${base}/console/api/session`)
    expect(rotated.status()).toBe(200)
    const statuses: string[] = []
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname
      if (path === '/graphql' || path === '/console/api/session') statuses.push(`${path} ${r.status()}`)
    })
    await page.getByLabel('Payment id or order id').fill(xssOrderId)
    await page.keyboard.press('Enter')
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('.payment-id')].map((e) => e.textContent).join() === id,
      xssPayment,
    )
    expect(statuses).toEqual(['/graphql 403', '/console/api/session 200', '/graphql 200'])
  }, 30_000)

  test('default: at 375 px wide nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 375, height: 800 })
    await page.getByRole('button', { name: 'Show latest' }).click()
    await page.locator('.payment').nth(1).waitFor()
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375)
    expect(await noHorizontalScroll(page)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'console-overview-375.png'), fullPage: true })
  }, 30_000)

  test('behavior: a reload keeps the session and the merchant chosen (no picker again), with a new CSRF token', async () => {
    const sessionAnswers: number[] = []
    page.on('response', (r) => {
      if (r.url().endsWith('/console/api/session')) sessionAnswers.push(r.status())
    })
    await page.reload()
    await page.getByRole('heading', { name: 'Overview of Console shop' }).waitFor()
    expect(await page.getByRole('heading', { name: 'Choose a merchant' }).count()).toBe(0)
    expect(await page.locator('.merchant-name').textContent()).toBe('Console shop')
    expect(sessionAnswers).toEqual([200])
    // only the merchant's id is kept in the browser, never the session or its token
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }))
    expect(stored).toContain(shop.id)
    expect(stored).not.toMatch(/tgs_|csrf/i)
  }, 30_000)

  test('default: signing out ends the session and shows the sign-in form; nothing foreign, no alert, no CSP violation', async () => {
    const [logout] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/console/api/logout')),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ])
    expect(logout.method()).toBe('POST')
    expect(logout.headers()['x-csrf-token']).toMatch(/^[A-Za-z0-9_-]{43}$/)
    await page.getByRole('heading', { name: 'Sign in to the Tollgate console' }).waitFor()
    expect(await page.getByRole('status').textContent()).toBe('You are signed out.')
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375)
    // the cookie's session is over: the API no longer knows it
    expect((await context.request.get(`${base}/console/api/session`)).status()).toBe(401)

    await expectCleanPage(page, { foreign, watched })
  }, 30_000)
})

describe('two-factor enrollment in the console', () => {
  test('default: a user without two-factor is nudged, scans the QR code (or reads the secret), confirms a code, and the next sign-in asks for one', async () => {
    // expected: no session yet, TOTP_REQUIRED, and the wrong code the test enters on purpose
    const { context, page, foreign, watched } = await watchedPage(scene, {
      width: 375,
      expected: (url, status) =>
        (url.includes('/console/api/') && status === 401) ||
        (url.endsWith('/console/api/totp/confirm') && status === 400),
    })
    const { email } = await consoleUser(app, 'Enid', [{ merchantId: shop.id, role: 'viewer' }], {
      totp: false,
    })
    await page.goto(`${base}/console`)
    await page.getByLabel('Email').fill(email)
    await page.getByLabel('Password').fill(consolePassword)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('note').filter({ hasText: 'Two-factor authentication is off.' }).waitFor()
    await page.getByRole('link', { name: 'Turn it on' }).click()
    await page.getByRole('heading', { name: 'Your account' }).waitFor()
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).click()
    const qr = page.getByRole('img', { name: 'QR code of your two-factor secret' })
    await qr.waitFor()
    expect(await qr.getAttribute('src')).toStartWith('data:image/svg+xml;base64,')
    // the image really loaded under the CSP (img-src data:)
    expect(await qr.evaluate((img) => (img as HTMLImageElement).naturalWidth > 0)).toBe(true)
    const secret = (await page.locator('.totp-secret').textContent()) ?? ''
    expect(secret).toMatch(/^[A-Z2-7]{32}$/)
    await page.waitForFunction((id) => document.activeElement?.id === id, 'enroll-code')
    await page.keyboard.type('000000' === totpCode(secret, new Date()) ? '111111' : '000000')
    await page.keyboard.press('Enter')
    await page.getByRole('alert').filter({ hasText: 'the code does not match' }).waitFor()
    await page.getByLabel('Code from the app').fill(totpCode(secret, new Date()))
    await page.getByRole('button', { name: 'Turn on two-factor' }).click()
    await page.getByRole('status').filter({ hasText: 'Two-factor authentication is on' }).waitFor()
    expect(await page.getByRole('note').count()).toBe(0)
    expect(await noHorizontalScroll(page)).toBe(true)

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('Email').fill(email)
    await page.getByLabel('Password').fill(consolePassword)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByLabel('Authenticator code').waitFor()
    await page.getByLabel('Authenticator code').fill(totpCode(secret, new Date(Date.now() + 30_000)))
    await page.getByRole('button', { name: 'Sign in' }).click()
    // back on the page it was on (the hash route stays), now saying two-factor is on
    await page.locator('.totp-state').filter({ hasText: 'On: every sign-in asks for a code' }).waitFor()

    // the password changes on the same page: mismatched new ones are caught before anything is sent
    await page.getByLabel('Current password').fill(consolePassword)
    await page.getByLabel('New password', { exact: true }).fill('a brand new passphrase of words')
    await page.getByLabel('New password again').fill('a brand new passphrase of wordz')
    await page.getByRole('button', { name: 'Change password' }).click()
    await page.getByRole('alert').filter({ hasText: 'The two new passwords differ.' }).waitFor()
    await page.getByLabel('New password again').fill('a brand new passphrase of words')
    await page.getByRole('button', { name: 'Change password' }).click()
    await page.getByRole('status').filter({ hasText: 'Your password is changed' }).waitFor()
    expect(await page.getByLabel('Current password').inputValue()).toBe('')
    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 60_000)
})

describe('the console without a session', () => {
  test('error: a locked account reads as locked with the time to retry; RATE_LIMITED in words', async () => {
    const { context, page, foreign, watched } = await watchedPage(scene, {
      width: 375,
      expected: (url) => url.includes('/console/api/'),
    })
    const { email } = await consoleUser(app, 'Locked', [{ merchantId: shop.id, role: 'viewer' }], {
      totp: false,
    })
    await page.goto(`${base}/console`)
    await page.getByLabel('Email').fill(email)
    for (let i = 0; i < 5; i++) {
      await page.getByLabel('Password').fill(`wrong password ${i}`)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('alert').waitFor()
      await page.getByRole('button', { name: 'Sign in' }).and(page.locator(':enabled')).waitFor()
    }
    await page.getByLabel('Password').fill(consolePassword)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page
      .getByRole('alert')
      .filter({
        hasText: /^Too many failed sign-ins: this account is locked\. Try again in \d+ minutes \(at .+\)\.$/,
      })
      .waitFor()
    // past the per-email attempt limit (10 a window) the limit answers, in words too
    for (let i = 0; i < 5; i++) {
      await page.getByRole('button', { name: 'Sign in' }).and(page.locator(':enabled')).waitFor()
      await page.getByRole('button', { name: 'Sign in' }).click()
    }
    await page
      .getByRole('alert')
      .filter({ hasText: /^Too many sign-in attempts\. Try again in \d+ minutes \(at .+\)\.$/ })
      .waitFor()
    expect(await noHorizontalScroll(page)).toBe(true)
    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 60_000)
})

describe('confirmed actions by keyboard', () => {
  test('default: an operator cancels a pending payment with the keyboard alone; the first Cancel on the confirmation keeps it', async () => {
    const operator = await consoleUser(app, 'Otto Operator', [{ merchantId: shop.id, role: 'operator' }])
    const pending = await createPayment('order-keyboard-cancel')
    const { context, page, foreign, watched } = await signedInPageFor(operator)
    await page.goto(`${base}/console#/payments/${pending}`)
    const cancel = page.getByRole('button', { name: 'Cancel payment' })
    await cancel.waitFor()
    await cancel.focus()
    await page.keyboard.press('Enter')
    // the confirmation says what will happen and takes the focus; Tab reaches its own Cancel
    const confirm = page.getByRole('button', { name: 'Confirm: Cancel payment' })
    await confirm.waitFor()
    await focusOn(page, 'Confirm: Cancel payment')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Enter')
    await cancel.waitFor()
    expect(await statusOf(pending)).toBe('PENDING')
    await cancel.focus()
    await page.keyboard.press('Enter')
    await focusOn(page, 'Confirm: Cancel payment')
    await page.keyboard.press('Enter')
    await waitForStatus(pending, 'CANCELED')
    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 60_000)
})

/** Waits until the focused element is the button labelled `label` (the confirmation moves the focus itself). */
async function focusOn(page: Page, label: string) {
  await page.waitForFunction((text) => document.activeElement?.textContent === text, label)
}

async function signedInPageFor(user: TestConsoleUser) {
  const opened = await watchedPage(scene, {})
  await signIn(opened.page, base, user)
  return opened
}

async function statusOf(id: string): Promise<string> {
  const res = await app.gql('query ($id: ID!) { payment(id: $id) { status } }', { id }, shop.key)
  return res.data.payment.status
}

async function waitForStatus(id: string, status: string) {
  for (let i = 0; i < 100 && (await statusOf(id)) !== status; i++) await Bun.sleep(100)
  expect(await statusOf(id)).toBe(status)
}
