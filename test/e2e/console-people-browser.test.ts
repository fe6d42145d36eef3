import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { count } from 'drizzle-orm'
import type { BrowserContext, Page } from 'playwright-core'
import { membershipsOf } from '../../src/core/access/console-users.ts'
import { consoleMemberships, consoleUsers } from '../../src/db/schema/index.ts'
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
  watchedPage,
  type watchPage,
} from '../helpers/console.ts'

// The People page in Chromium, every other host unreachable, no chain. An admin adds a person whose name is
// hostile markup, with a suggested initial password: the name shows as text, and the person signs in with that
// password and sees only the compliance role's pages. The admin takes the role back through a confirmation (Cancel
// first keeps it) and is refused, in words, taking their own last admin role. An operator has no People page, and
// the API refuses addConsoleMember from the operator's session.

const hostileName = '<img src=x onerror=alert(1)>'

let scene: ConsoleScene<undefined>
let app: TestApp
let base: string
let shop: { id: string; key: string }
let admin: TestConsoleUser
let operator: TestConsoleUser

beforeAll(async () => {
  scene = await startConsoleScene({ devnet: false })
  ;({ app, base } = scene)
  shop = await app.merchant('People shop')
  ;[admin, operator] = await Promise.all([
    consoleUser(app, 'Ada Admin', [{ merchantId: shop.id, role: 'admin' }]),
    consoleUser(app, 'Otto Operator', [{ merchantId: shop.id, role: 'operator' }]),
  ])
}, 60_000)
afterAll(() => scene?.close())

async function rows() {
  const [users] = await app.ctx.db.select({ n: count() }).from(consoleUsers)
  const [memberships] = await app.ctx.db.select({ n: count() }).from(consoleMemberships)
  return { users: users!.n, memberships: memberships!.n }
}

const noMarkupFromData = async (page: Page) =>
  expect(await page.locator('main img, main script, main iframe').count()).toBe(0)

describe('an admin on the People page', () => {
  let context: BrowserContext
  let page: Page
  let foreign: string[]
  let watched: ReturnType<typeof watchPage>
  const email = `new-person-${crypto.randomUUID().slice(0, 8)}@example.com`
  let initialPassword = ''

  beforeAll(async () => {
    ;({ context, page, foreign, watched } = await signedInPage(scene, admin))
  }, 30_000)
  afterAll(() => context?.close())

  test('default: adds a person with a hostile name (shown as text) and a suggested password; they sign in with it and see only their role’s pages', async () => {
    await page
      .getByRole('navigation', { name: 'Console pages' })
      .getByRole('link', { name: 'People' })
      .click()
    await page.getByRole('heading', { name: 'People', level: 1 }).waitFor()
    const adaCard = page.locator('.member').filter({ hasText: admin.email })
    await adaCard.waitFor()
    expect(await adaCard.locator('.role-chip').allTextContents()).toEqual(['admin'])
    expect(await adaCard.locator('.member-totp').textContent()).toBe('On')

    const form = page.getByRole('form', { name: 'Add a person' })
    await form.getByLabel('Email').fill(email)
    await form.getByLabel('Name').fill(hostileName)
    await form.getByLabel('Role').selectOption('compliance')
    await form.getByRole('button', { name: 'Suggest a password' }).click()
    initialPassword = await form.getByLabel('Initial password').inputValue()
    expect(initialPassword).toMatch(/^[A-Za-z0-9]{20}$/)
    expect(await page.locator('#person-password-note').textContent()).toContain(
      'it is not shown again after adding. They should change it on “Your account” after their first sign-in.',
    )
    // submitted from the keyboard
    await form.getByLabel('Initial password').press('Enter')
    await page
      .locator('main > p[role="status"]')
      .filter({ hasText: `“${hostileName}” (${email}) holds the compliance role here now.` })
      .waitFor()
    expect(await form.getByLabel('Initial password').inputValue()).toBe('')
    expect(await page.locator('body').textContent()).not.toContain(initialPassword)
    const card = page.locator('.member').filter({ hasText: email })
    expect(await card.locator('.member-name').textContent()).toBe(hostileName)
    expect(await card.locator('.role-chip').allTextContents()).toEqual(['compliance'])
    expect(await card.locator('.member-totp').textContent()).toBe('Off')
    expect(await card.locator('.member-state').textContent()).toBe('Allowed')
    await noMarkupFromData(page)
    await page.screenshot({ path: join(artifactsDir, 'console-people.png'), fullPage: true })

    // the new person signs in with the initial password (no two-factor yet) and sees the compliance pages only
    const theirs = await watchedPage(scene)
    await theirs.page.goto(`${base}/console`)
    await theirs.page.getByLabel('Email').fill(email)
    await theirs.page.getByLabel('Password').fill(initialPassword)
    await theirs.page.getByRole('button', { name: 'Sign in' }).click()
    await theirs.page.getByRole('heading', { name: /^Overview/ }).waitFor()
    expect(await theirs.page.locator('.user-name').textContent()).toBe(hostileName)
    const menu = theirs.page.getByRole('navigation', { name: 'Console pages' })
    expect(await menu.getByRole('link').allTextContents()).toEqual([
      'Overview',
      'Payments',
      'Withdrawals',
      'Compliance',
      'Your account',
    ])
    await noMarkupFromData(theirs.page)
    await expectCleanPage(theirs.page, theirs)
    await theirs.context.close()
  }, 60_000)

  test('default: "Remove role" asks first (Cancel keeps it), then takes the role back', async () => {
    const card = page.locator('.member').filter({ hasText: email })
    const label = 'Remove role compliance'
    await card.getByRole('button', { name: label }).click()
    expect(await card.locator('.confirm-text').textContent()).toBe(
      `Take the compliance role at People shop back from “${hostileName}” (${email})? What it lets them do here stops at their next request; their other roles stay.`,
    )
    await card.getByRole('button', { name: 'Cancel' }).click()
    const [person] = (
      await app.gql('{ consoleMembers { id email } }', {}, shop.key)
    ).data.consoleMembers.filter((m: { email: string }) => m.email === email)
    expect(await membershipsOf(app.ctx.db, person.id)).toEqual([{ merchantId: shop.id, role: 'compliance' }])

    await card.getByRole('button', { name: label }).click()
    await card.getByRole('button', { name: `Confirm: ${label}` }).click()
    await page
      .locator('main > p[role="status"]')
      .filter({ hasText: `“${hostileName}” no longer holds the compliance role here.` })
      .waitFor()
    await card.waitFor({ state: 'detached' })
    expect(await membershipsOf(app.ctx.db, person.id)).toEqual([])
  }, 30_000)

  test('error: taking away their own last admin role is refused in words; at 375 px nothing scrolls sideways', async () => {
    const card = page.locator('.member').filter({ hasText: admin.email })
    await card.getByRole('button', { name: 'Remove role admin' }).click()
    expect(await card.locator('.confirm-text').textContent()).toContain('This is you')
    await card.getByRole('button', { name: 'Confirm: Remove role admin' }).click()
    await card
      .getByRole('alert')
      .filter({
        hasText: 'INVALID_STATE: this is the last admin of the merchant: make someone else an admin first',
      })
      .waitFor()
    expect(await membershipsOf(app.ctx.db, admin.id)).toEqual([{ merchantId: shop.id, role: 'admin' }])

    await page.setViewportSize({ width: 375, height: 800 })
    expect(await noHorizontalScroll(page)).toBe(true)
    await page.screenshot({ path: join(artifactsDir, 'console-people-375.png'), fullPage: true })
    await expectCleanPage(page, { foreign, watched })
  }, 30_000)
})

describe('an operator', () => {
  test('error: has no People page, and addConsoleMember from their session answers FORBIDDEN, writing nothing', async () => {
    const { context, page, foreign, watched } = await signedInPage(scene, operator, { width: 375 })
    const menu = page.getByRole('navigation', { name: 'Console pages' })
    expect(await menu.getByRole('link', { name: 'People' }).count()).toBe(0)
    await openPage(page, base, 'people')
    await page.getByRole('heading', { name: /^Overview/ }).waitFor()
    expect(await page.getByRole('heading', { name: 'People', exact: true }).count()).toBe(0)

    const before = await rows()
    const session = await (await context.request.get(`${base}/console/api/session`)).json()
    const answer = await context.request.post(`${base}/graphql`, {
      headers: {
        'content-type': 'application/json',
        'x-csrf-token': session.csrfToken,
        'x-tollgate-merchant': shop.id,
      },
      data: {
        query: `mutation ($input: AddConsoleMemberInput!) { addConsoleMember(input: $input) { __typename } }`,
        variables: {
          input: {
            email: 'sneaky@example.com',
            name: 'Sneaky',
            role: 'admin',
            password: 'a long enough password',
          },
        },
      },
    })
    expect((await answer.json()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect(await rows()).toEqual(before)
    await expectCleanPage(page, { foreign, watched })
    await context.close()
  }, 30_000)
})
