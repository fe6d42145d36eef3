import { expect } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import type { ConsoleRole } from '../../src/core/access/console-roles.ts'
import {
  confirmTotp,
  createConsoleUser,
  grantConsoleRole,
  startTotp,
} from '../../src/core/access/console-users.ts'
import { totpCode } from '../../src/core/access/totp.ts'
import type { TestApp } from './app.ts'

// Shared by the console's browser tests: the gateway on a socket, people with roles and two-factor, a browser
// context that refuses every other host, and a sign-in as a person would do it.

/** The password every console test user gets. */
export const consolePassword = 'correct horse battery staple'

/** A console user made by a test: how to sign in as them. */
export type TestConsoleUser = { id: string; email: string; name: string; secret: string }

/**
 * The test app's HTTP handler on a real socket (the browser needs one); `stop` it after.
 *
 * @example
 * const { base, server } = serveGateway(app)
 */
export function serveGateway(app: TestApp) {
  const handle = app.fetch as (request: Request, peer?: string) => Promise<Response>
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (request) => handle(request, '127.0.0.1'),
  })
  return { server, base: `http://127.0.0.1:${server.port}` }
}

/**
 * A console user with TOTP set up and `roles` at merchants (the first creates them).
 *
 * @example
 * const vera = await consoleUser(app, 'Vera Viewer', [{ merchantId: shop.id, role: 'viewer' }])
 */
export async function consoleUser(
  app: TestApp,
  name: string,
  roles: Array<{ merchantId: string; role: ConsoleRole }>,
): Promise<TestConsoleUser> {
  const [first, ...rest] = roles
  if (!first) throw new Error('consoleUser: at least one role')
  const email = `${name.toLowerCase().replace(/[^a-z]+/g, '-')}-${crypto.randomUUID().slice(0, 8)}@example.com`
  const { id } = await createConsoleUser(
    { db: app.ctx.db },
    { email, displayName: name, password: consolePassword, membership: first },
  )
  for (const m of rest) await grantConsoleRole({ db: app.ctx.db }, { email, ...m })
  const { secret } = await startTotp({ db: app.ctx.db }, { userId: id })
  await confirmTotp({ db: app.ctx.db }, { userId: id, code: totpCode(secret, new Date()) })
  return { id, email, name, secret }
}

/**
 * A browser context that refuses (and records) every request to a host other than the gateway's, and records CSP
 * violations on every page.
 *
 * @example
 * const { context, foreign } = await isolatedContext(browser, base, 1280)
 */
export async function isolatedContext(browser: Browser, base: string, width: number) {
  const gatewayHost = new URL(base).host
  const context = await browser.newContext({ viewport: { width, height: 800 } })
  context.setDefaultTimeout(20_000)
  const foreign: string[] = []
  await context.route('**/*', (route) => {
    const url = route.request().url()
    if (new URL(url).host !== gatewayHost) {
      foreign.push(url)
      return route.abort('blockedbyclient')
    }
    return route.continue()
  })
  await context.addInitScript(() => {
    const seen: string[] = []
    ;(globalThis as unknown as { cspViolations: string[] }).cspViolations = seen
    document.addEventListener('securitypolicyviolation', (e) =>
      seen.push(`${e.violatedDirective} ${e.blockedURI}`),
    )
  })
  return { context, foreign }
}

/**
 * Page errors, dialogs, console errors and failed responses (those `expected` does not excuse), for a test to
 * expect none of.
 *
 * @example
 * const watched = watchPage(page)
 * expect(watched.problems).toEqual([])
 */
export function watchPage(page: Page, expected: (url: string, status: number) => boolean = () => false) {
  const problems: string[] = []
  const dialogs: string[] = []
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message())
    void dialog.dismiss()
  })
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of (401|403|429)/.test(msg.text()))
      problems.push(`console: ${msg.text()}`)
  })
  page.on('requestfailed', (r) => {
    // a live stream (SSE) is aborted on purpose when its page is left or the user signs out
    const closedStream =
      r.headers().accept === 'text/event-stream' && r.failure()?.errorText === 'net::ERR_ABORTED'
    if (!closedStream) problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`)
  })
  page.on('response', (r) => {
    if (r.status() >= 400 && !expected(r.url(), r.status())) problems.push(`${r.status()} ${r.url()}`)
  })
  return { problems, dialogs }
}

/** The CSP violations the page recorded (see isolatedContext). */
export const cspViolations = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { cspViolations: string[] }).cspViolations)

/** Whether the page fits its viewport's width. */
export const noHorizontalScroll = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)

/**
 * Refusals every sign-in meets: the first GET /console/api/session (no session yet) and the login's
 * TOTP_REQUIRED before the code is entered, both 401.
 */
export const signInRefusals = (url: string, status: number) =>
  (url.endsWith('/console/api/session') || url.endsWith('/console/api/login')) && status === 401

/**
 * Opens the console and signs `user` in with password and TOTP, then picks `merchantName` when the picker shows.
 * Waits for the overview.
 *
 * @example
 * await signIn(page, base, vera, 'Console shop')
 */
export async function signIn(page: Page, base: string, user: TestConsoleUser, merchantName?: string) {
  await page.goto(`${base}/console`)
  await page.getByLabel('Email').fill(user.email)
  await page.getByLabel('Password').fill(consolePassword)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByLabel('Authenticator code').waitFor()
  // the next step's code: the one for now may have been spent when the user was created
  await page.getByLabel('Authenticator code').fill(totpCode(user.secret, new Date(Date.now() + 30_000)))
  await page.getByRole('button', { name: 'Sign in' }).click()
  if (merchantName) {
    const pick = page.getByRole('button', { name: new RegExp(merchantName) })
    const overview = page.getByRole('heading', { name: /^Overview/ })
    await pick.or(overview).first().waitFor()
    if (await pick.count()) await pick.click()
  }
  await page.getByRole('heading', { name: /^Overview/ }).waitFor()
  expect(await page.locator('.user-name').textContent()).toBe(user.name)
}

/**
 * Opens a page of the console by its hash route (the session stays).
 *
 * @example
 * await openPage(page, base, 'payments', paymentId)
 */
export async function openPage(page: Page, base: string, name: string, id?: string) {
  await page.goto(`${base}/console#/${name}${id ? `/${encodeURIComponent(id)}` : ''}`)
}
