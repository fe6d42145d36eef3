import { expect } from 'bun:test'
import type { ChainSettings, TollgateConfig } from '@tollgate/sdk'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { parseEther } from 'viem'
import type { ConsoleRole } from '../../src/core/access/console-roles.ts'
import {
  confirmTotp,
  createConsoleUser,
  grantConsoleRole,
  startTotp,
} from '../../src/core/access/console-users.ts'
import { totpCode } from '../../src/core/access/totp.ts'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { createTestApp, type TestApp, testConfig } from './app.ts'
import { launchBrowser } from './browser.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from './chain.ts'

// Shared by the console's browser tests: the devnet, gateway and browser a file runs against, the gateway on a
// socket, people with roles and two-factor, a browser context that refuses every other host, what a page must not
// do, and a sign-in as a person would do it.

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
 * A console user with TOTP set up and `roles` at merchants (the first creates them); with `{ totp: false }`, one
 * who has not turned two-factor on yet (its `secret` is empty).
 *
 * @example
 * const vera = await consoleUser(app, 'Vera Viewer', [{ merchantId: shop.id, role: 'viewer' }])
 */
export async function consoleUser(
  app: TestApp,
  name: string,
  roles: Array<{ merchantId: string; role: ConsoleRole }>,
  options: { totp?: boolean } = {},
): Promise<TestConsoleUser> {
  const [first, ...rest] = roles
  if (!first) throw new Error('consoleUser: at least one role')
  const email = `${name.toLowerCase().replace(/[^a-z]+/g, '-')}-${crypto.randomUUID().slice(0, 8)}@example.com`
  const { id } = await createConsoleUser(
    { db: app.ctx.db },
    { email, displayName: name, password: consolePassword, membership: first },
  )
  for (const m of rest) await grantConsoleRole({ db: app.ctx.db }, { email, ...m })
  if (options.totp === false) return { id, email, name, secret: '' }
  const { secret } = await startTotp({ db: app.ctx.db }, { userId: id })
  await confirmTotp({ db: app.ctx.db }, { userId: id, code: totpCode(secret, new Date()) })
  return { id, email, name, secret }
}

/**
 * A browser context that refuses (and records) every request to a host other than the gateway's, and records CSP
 * violations on every page. `options` go to the context as well (a locale, a time zone, a scale factor).
 *
 * @example
 * const { context, foreign } = await isolatedContext(browser, base, 1280)
 */
export async function isolatedContext(
  browser: Browser,
  base: string,
  width: number,
  options: BrowserContextOptions = {},
) {
  const gatewayHost = new URL(base).host
  const context = await browser.newContext({ ...options, viewport: { width, height: 800 } })
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
    // a refused request also logs "Failed to load resource: … status of N": the response itself is judged below
    if (msg.type() === 'error' && !/status of (400|401|403|429)/.test(msg.text()))
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

/** What isolatedContext and watchPage recorded of a page: requests to other hosts, dialogs, problems. */
export type PageRecord = { foreign: string[]; watched: ReturnType<typeof watchPage> }

/**
 * Everything the page did that it must not: requests to another host, dialogs, CSP violations, page errors and
 * unexpected failed responses, each as a line that says which; none for a clean page.
 *
 * @example
 * const problems = await pageProblems(page, { foreign, watched })
 */
export async function pageProblems(page: Page, { foreign, watched }: PageRecord): Promise<string[]> {
  return [
    ...foreign.map((url) => `request to another host: ${url}`),
    ...watched.dialogs.map((d) => `dialog: ${d}`),
    ...(await cspViolations(page)).map((v) => `CSP violation: ${v}`),
    ...watched.problems,
  ]
}

/**
 * Expects the page to have sent nothing to another host, opened no dialog, met no CSP violation and had no page
 * problem: how every browser test of the console ends.
 *
 * @example
 * await expectCleanPage(page, { foreign, watched })
 */
export async function expectCleanPage(page: Page, record: PageRecord) {
  expect(await pageProblems(page, record)).toEqual([])
}

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

/** What a page is opened against: the browser and the gateway's origin (a ConsoleScene has both). */
export type PageSetting = { browser: Browser; base: string }

/**
 * A page of its own in an isolatedContext (`width` wide, 1280 unless told; `contextOptions` to the context) with
 * watchPage on it, excusing what `expected` says (by default the refusals of a sign-in, signInRefusals). Close
 * `context` after; end with expectCleanPage(page, opened).
 *
 * @example
 * const { context, page, foreign, watched } = await watchedPage(scene, { width: 375 })
 */
export async function watchedPage(
  { browser, base }: PageSetting,
  options: {
    width?: number
    expected?: (url: string, status: number) => boolean
    contextOptions?: BrowserContextOptions
  } = {},
) {
  const { context, foreign } = await isolatedContext(
    browser,
    base,
    options.width ?? 1280,
    options.contextOptions,
  )
  const page = await context.newPage()
  const watched = watchPage(page, options.expected ?? signInRefusals)
  return { context, page, foreign, watched }
}

/**
 * A watchedPage with `user` signed in (see signIn), on the overview.
 *
 * @example
 * const v = await signedInPage(scene, vera, { width: 375 })
 * await expectCleanPage(v.page, v)
 */
export async function signedInPage(
  setting: PageSetting,
  user: TestConsoleUser,
  options: Parameters<typeof watchedPage>[1] & { merchantName?: string } = {},
) {
  const opened = await watchedPage(setting, options)
  await signIn(opened.page, setting.base, user, options.merchantName)
  return opened
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

/** What a console browser test file runs against: one devnet (unless asked without), gateway and browser. */
export type ConsoleScene<D extends Devnet | undefined = Devnet> = {
  devnet: D
  app: TestApp
  server: ReturnType<typeof Bun.serve>
  /** The gateway's origin, e.g. http://127.0.0.1:41234. */
  base: string
  browser: Browser
  /** Closes the browser, the socket, the app and the devnet, each even when another fails to. */
  close: () => Promise<void>
}

/** How a file's gateway differs from the usual one. */
export type ConsoleSceneOptions = {
  /**
   * The gateway's config for the devnet; by default `testConfig(devnet.url, { confirmations: 2 }, settings)` with
   * sweeps off and `settings` on top.
   */
  config?: (devnet: Devnet) => TollgateConfig | Promise<TollgateConfig>
  /** Chain settings on top of `{ sweeps: { enabled: false } }` for the default config. */
  settings?: ChainSettings
  /** Environment on top of the app's (which has TOLLGATE_SEED = gatewayMnemonic with a devnet). */
  env?: Record<string, string>
}

/**
 * Starts an anvil devnet and Chromium side by side, then a gateway on the devnet (seeded with gatewayMnemonic, so
 * its addresses start empty) on a socket of its own. `{ devnet: false }` makes the gateway without a chain to talk
 * to (the default test config). Whatever started is stopped again when a step fails; `close()` in afterAll.
 *
 * @example
 * scene = await startConsoleScene({ settings: { explorer } })
 * afterAll(() => scene?.close())
 */
export async function startConsoleScene(options: {
  devnet: false
  env?: Record<string, string>
}): Promise<ConsoleScene<undefined>>
export async function startConsoleScene(options?: ConsoleSceneOptions): Promise<ConsoleScene>
export async function startConsoleScene(
  options: ConsoleSceneOptions & { devnet?: false } = {},
): Promise<ConsoleScene<Devnet | undefined>> {
  let devnet: Devnet | undefined
  let browser: Browser | undefined
  let app: TestApp | undefined
  let server: ReturnType<typeof Bun.serve> | undefined
  const close = async () => {
    const errors: unknown[] = []
    for (const stop of [
      () => browser?.close(),
      () => server?.stop(true),
      () => app?.close(),
      () => devnet?.stop(),
    ])
      await Promise.resolve()
        .then(stop)
        .catch((err) => errors.push(err))
    if (errors.length > 0) throw new AggregateError(errors, 'closing the console scene')
  }
  try {
    const [started, launched] = await Promise.allSettled([
      options.devnet === false ? undefined : startDevnet(),
      launchBrowser(),
    ])
    if (started.status === 'fulfilled') devnet = started.value
    if (launched.status === 'fulfilled') browser = launched.value
    if (started.status === 'rejected') throw started.reason
    if (launched.status === 'rejected') throw launched.reason
    const chain = devnet
    app = await createTestApp(
      chain
        ? {
            config: options.config
              ? await options.config(chain)
              : testConfig(
                  chain.url,
                  { confirmations: 2 },
                  { sweeps: { enabled: false }, ...options.settings },
                ),
            env: { TOLLGATE_SEED: gatewayMnemonic, ...options.env },
          }
        : { env: options.env ?? {} },
    )
    const served = serveGateway(app)
    server = served.server
    return { devnet, app, server, base: served.base, browser: browser as Browser, close }
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
}

/**
 * Mines the devnet's confirmations (2 unless told) and scans the chain once, screening new deposits when `screen`
 * (KYT on); `scanner` when the caller keeps one across scans.
 *
 * @example
 * await scanChain(app, devnet, { screen: true })
 */
export async function scanChain(
  app: TestApp,
  devnet: Devnet,
  options: { confirmations?: number; screen?: boolean; scanner?: ScannerState } = {},
) {
  await devnet.mine(options.confirmations ?? 2)
  await syncChain(
    {
      db: app.ctx.db,
      log: app.ctx.log,
      scanner: options.scanner ?? newScannerState(),
      ...(options.screen ? { screen: true } : {}),
    },
    app.ctx.chains.get('devnet')!,
  )
}

/**
 * Pays each `[address, eth]` from anvil's funded account, then mines the confirmations and scans the chain once
 * (see scanChain): the payments behind those addresses are paid the real way. The receipts, in order.
 *
 * @example
 * const [receipt] = await payAndScan(app, devnet, [[payment.address, '1.5']])
 */
export async function payAndScan(
  app: TestApp,
  devnet: Devnet,
  payments: ReadonlyArray<readonly [address: string, eth: string]>,
  options: { confirmations?: number } = {},
) {
  const receipts = []
  for (const [address, eth] of payments) receipts.push(await devnet.payNative(address, parseEther(eth)))
  await scanChain(app, devnet, options)
  return receipts
}
