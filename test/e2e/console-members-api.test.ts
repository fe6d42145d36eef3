import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, count, eq } from 'drizzle-orm'
import { createApiKey } from '../../src/core/access/api-keys.ts'
import { createConsoleUser, grantConsoleRole, membershipsOf } from '../../src/core/access/console-users.ts'
import { auditLog, consoleMemberships, consoleUsers } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'

// The console's people through the public API, on real Postgres: a merchant's admin (an API key with `admin`, or a
// console session acting for the merchant) lists, adds and removes console members there and nowhere else. Hostile
// input is a typed UserError with nothing written; another merchant's people are invisible and untouchable; a
// removed role shrinks the member's open session at its next request; the last admin stays, even under a race.

const password = 'correct horse battery staple'
let app: TestApp
let shop: { id: string; key: string }
let otherShop: { id: string; key: string }
let ipCounter = 0

beforeAll(async () => {
  app = await createTestApp()
  shop = await app.merchant('Members shop')
  otherShop = await app.merchant('Other members shop')
}, 60_000)
afterAll(() => app?.close())

const memberFields = 'id email name roles totpEnabled disabled'
const listQuery = `{ consoleMembers { ${memberFields} } }`
const addMutation = `mutation ($input: AddConsoleMemberInput!) { addConsoleMember(input: $input) { __typename
  ... on AddConsoleMemberPayload { member { ${memberFields} } } ... on UserError { code message field } } }`
const removeMutation = `mutation ($input: RemoveConsoleRoleInput!) { removeConsoleRole(input: $input) { __typename
  ... on RemoveConsoleRolePayload { userId role member { ${memberFields} } }
  ... on UserError { code message field } } }`

let emails = 0
const freshEmail = () => `person${++emails}-${crypto.randomUUID().slice(0, 6)}@example.com`

async function user(merchantId: string, role: string, name = 'Somebody') {
  const email = freshEmail()
  const { id } = await createConsoleUser(
    { db: app.ctx.db },
    { email, displayName: name, password, membership: { merchantId, role } },
  )
  return { id, email }
}

async function written() {
  const [users] = await app.ctx.db.select({ n: count() }).from(consoleUsers)
  const [memberships] = await app.ctx.db.select({ n: count() }).from(consoleMemberships)
  const [audit] = await app.ctx.db.select({ n: count() }).from(auditLog)
  return { users: users!.n, memberships: memberships!.n, audit: audit!.n }
}

const add = (input: Record<string, unknown>, key = shop.key) => app.gql(addMutation, { input }, key)
const remove = (input: Record<string, unknown>, key = shop.key) => app.gql(removeMutation, { input }, key)
const members = async (key = shop.key) => {
  const res = await app.gql(listQuery, {}, key)
  expect(res.errors).toBeUndefined()
  return res.data.consoleMembers as Array<{
    id: string
    email: string
    name: string
    roles: string[]
    totpEnabled: boolean
    disabled: boolean
  }>
}

type Session = { cookie: string; csrf: string }

/** A login from a fresh client address each time, so the per-address login limit never meets another test's. */
async function login(email: string, pw = password) {
  return (app.fetch as (request: Request, peer?: string) => Promise<Response>)(
    new Request('http://tollgate.test/console/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: pw }),
    }),
    `198.51.100.${++ipCounter}`,
  )
}

async function signIn(email: string, pw = password): Promise<Session> {
  const res = await login(email, pw)
  expect(res.status).toBe(200)
  const body = await res.json()
  return { cookie: (res.headers.get('set-cookie') ?? '').split(';')[0] as string, csrf: body.csrfToken }
}

async function gqlAs(
  session: Session,
  query: string,
  variables: Record<string, unknown> = {},
  merchantId = shop.id,
) {
  const res = await app.fetch(
    new Request('http://tollgate.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: session.cookie,
        'x-csrf-token': session.csrf,
        'x-tollgate-merchant': merchantId,
      },
      body: JSON.stringify({ query, variables }),
    }),
  )
  return (await res.json()) as any
}

describe('consoleMembers', () => {
  test('default: the people holding a role here, with their roles here only; needs admin', async () => {
    const ana = await user(shop.id, 'approver', 'Ana')
    await grantConsoleRole({ db: app.ctx.db }, { email: ana.email, merchantId: shop.id, role: 'viewer' })
    await grantConsoleRole({ db: app.ctx.db }, { email: ana.email, merchantId: otherShop.id, role: 'admin' })
    const elsewhere = await user(otherShop.id, 'operator')
    const listed = await members()
    expect(listed.find((m) => m.id === ana.id)).toEqual({
      id: ana.id,
      email: ana.email,
      name: 'Ana',
      roles: ['viewer', 'approver'],
      totpEnabled: false,
      disabled: false,
    })
    expect(listed.map((m) => m.id)).not.toContain(elsewhere.id)
    expect((await members(otherShop.key)).find((m) => m.id === ana.id)?.roles).toEqual(['admin'])

    const { key: readKey } = await createApiKey(app.ctx, {
      merchantId: shop.id,
      name: 'reader',
      scopes: ['payments:read'],
    })
    const refused = await app.gql(listQuery, {}, readKey)
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    const addRefused = await add({ email: freshEmail(), name: 'N', role: 'viewer', password }, readKey)
    expect(addRefused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
  })
})

describe('addConsoleMember', () => {
  test('default: from an admin session, a new person who then signs in with the initial password and holds only that role; audited as the admin', async () => {
    const admin = await user(shop.id, 'admin', 'Ada')
    const session = await signIn(admin.email)
    const email = freshEmail()
    const added = await gqlAs(session, addMutation, {
      input: {
        email,
        name: '<img src=x onerror=alert(1)>',
        role: 'approver',
        password: 'a new initial passphrase',
      },
    })
    expect(added.data.addConsoleMember).toEqual({
      __typename: 'AddConsoleMemberPayload',
      member: {
        id: expect.stringMatching(/^usr_/),
        email,
        name: '<img src=x onerror=alert(1)>',
        roles: ['approver'],
        totpEnabled: false,
        disabled: false,
      },
    })
    const id = added.data.addConsoleMember.member.id
    const res = await login(email, 'a new initial passphrase')
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.memberships.map((m: any) => [m.merchantId, m.role])).toEqual([[shop.id, 'approver']])
    const [granted] = await app.ctx.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetId, id), eq(auditLog.action, 'console.role_granted')))
    expect(granted).toMatchObject({
      actor: `user:${admin.id}`,
      merchantId: shop.id,
      data: { role: 'approver' },
    })
  })

  test('default: an existing email (another merchant’s user) gains the role here only, keeps name and password; the same shape; again is no error', async () => {
    const theirs = await user(otherShop.id, 'admin', 'Their Own Name')
    const before = await written()
    const first = await add({
      email: theirs.email.toUpperCase(),
      name: 'Typed Name',
      role: 'viewer',
      password: 'typed but unused password',
    })
    expect(first.data.addConsoleMember).toEqual({
      __typename: 'AddConsoleMemberPayload',
      member: {
        id: theirs.id,
        email: theirs.email,
        name: 'Their Own Name',
        roles: ['viewer'],
        totpEnabled: false,
        disabled: false,
      },
    })
    const again = await add({
      email: theirs.email,
      name: 'x',
      role: 'viewer',
      password: 'typed but unused password',
    })
    expect(again.data.addConsoleMember).toEqual(first.data.addConsoleMember)
    expect(await written()).toEqual({
      ...before,
      memberships: before.memberships + 1,
      audit: before.audit + 1,
    })
    expect((await login(theirs.email, 'typed but unused password')).status).toBe(401)
    expect((await login(theirs.email)).status).toBe(200)
    expect(await membershipsOf(app.ctx.db, theirs.id)).toEqual(
      [
        { merchantId: shop.id, role: 'viewer' as const },
        { merchantId: otherShop.id, role: 'admin' as const },
      ].sort((a, b) => a.merchantId.localeCompare(b.merchantId)),
    )
  })

  test('error: 10 KB strings, NUL, newlines, an unknown role, a weak password: INVALID_INPUT on the field, nothing written', async () => {
    const existing = await user(otherShop.id, 'viewer')
    const big = 'x'.repeat(10_000)
    const before = await written()
    for (const email of [freshEmail(), existing.email])
      for (const [field, bad] of [
        ['email', { email: `${big}@example.com` }],
        ['email', { email: 'ana@example.com\nBcc: eve@example.com' }],
        ['email', { email: 'ana\u0000@example.com' }],
        ['name', { name: big }],
        ['name', { name: 'Ana\nAdmin' }],
        ['name', { name: 'Ana\u0000' }],
        ['role', { role: 'owner' }],
        ['role', { role: big }],
        ['role', { role: 'admin\u0000' }],
        ['password', { password: 'short' }],
        ['password', { password: big }],
        ['password', { password: 'correct horse\u0000battery' }],
      ] as const) {
        const res = await add({
          name: 'Nia',
          role: 'viewer',
          password,
          email,
          ...(bad as Record<string, string>),
        })
        expect([res.data.addConsoleMember.code, res.data.addConsoleMember.field]).toEqual([
          'INVALID_INPUT',
          field,
        ])
      }
    expect(await written()).toEqual(before)
  })
})

describe('removeConsoleRole', () => {
  test('default: an operator’s open session loses the role at its next request and keeps the rest; their other merchant stays', async () => {
    const otto = await user(shop.id, 'operator', 'Otto')
    await grantConsoleRole({ db: app.ctx.db }, { email: otto.email, merchantId: shop.id, role: 'viewer' })
    await grantConsoleRole(
      { db: app.ctx.db },
      { email: otto.email, merchantId: otherShop.id, role: 'operator' },
    )
    const session = await signIn(otto.email)
    const hooks = '{ webhookEndpoints { id } }'
    expect((await gqlAs(session, hooks)).errors).toBeUndefined()

    const removed = await remove({ userId: otto.id, role: 'operator' })
    expect(removed.data.removeConsoleRole).toMatchObject({
      __typename: 'RemoveConsoleRolePayload',
      userId: otto.id,
      role: 'operator',
      member: { id: otto.id, roles: ['viewer'] },
    })
    expect((await gqlAs(session, hooks)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect((await gqlAs(session, '{ payments(first: 1) { edges { node { id } } } }')).errors).toBeUndefined()
    expect((await gqlAs(session, hooks, {}, otherShop.id)).errors).toBeUndefined()

    // the last role here: no longer a member, and the session cannot act for the merchant at all
    const last = await remove({ userId: otto.id, role: 'viewer' })
    expect(last.data.removeConsoleRole.member).toBeNull()
    expect((await members()).map((m) => m.id)).not.toContain(otto.id)
    expect(
      (await gqlAs(session, '{ payments(first: 1) { edges { node { id } } } }')).errors?.[0]?.extensions
        ?.code,
    ).toBe('FORBIDDEN')
    expect(await membershipsOf(app.ctx.db, otto.id)).toEqual([{ merchantId: otherShop.id, role: 'operator' }])
  })

  test('error: another merchant’s user, a role not held, hostile ids and roles: typed errors, nothing written', async () => {
    const theirs = await user(otherShop.id, 'admin')
    const mine = await user(shop.id, 'viewer')
    const before = await written()
    for (const [input, code, field] of [
      [{ userId: theirs.id, role: 'admin' }, 'NOT_FOUND', null],
      [{ userId: 'usr_0000', role: 'viewer' }, 'NOT_FOUND', null],
      [{ userId: mine.id, role: 'operator' }, 'NOT_FOUND', null],
      [{ userId: mine.id, role: 'owner' }, 'INVALID_INPUT', 'role'],
      [{ userId: mine.id, role: 'viewer\n' }, 'INVALID_INPUT', 'role'],
      [{ userId: 'x'.repeat(10_000), role: 'viewer' }, 'INVALID_INPUT', 'userId'],
      [{ userId: `${mine.id}\u0000`, role: 'viewer' }, 'INVALID_INPUT', 'userId'],
    ] as const) {
      const res = await remove(input)
      expect([res.data.removeConsoleRole.code, res.data.removeConsoleRole.field]).toEqual([code, field])
    }
    // the other merchant's admin cannot touch this merchant's people either
    const res = await remove({ userId: mine.id, role: 'viewer' }, otherShop.key)
    expect(res.data.removeConsoleRole.code).toBe('NOT_FOUND')
    expect(await written()).toEqual(before)
    expect(await membershipsOf(app.ctx.db, theirs.id)).toEqual([{ merchantId: otherShop.id, role: 'admin' }])
  })

  test('error: the last admin role is INVALID_STATE in words; two admins removing each other at once leave one', async () => {
    const lone = await app.merchant('Lone admin shop')
    const only = await user(lone.id, 'admin')
    const refused = await remove({ userId: only.id, role: 'admin' }, lone.key)
    expect(refused.data.removeConsoleRole).toEqual({
      __typename: 'UserError',
      code: 'INVALID_STATE',
      message: 'this is the last admin of the merchant: make someone else an admin first',
      field: null,
    })

    // several merchants, each with two admins who remove each other in the same instant
    const shops = await Promise.all([1, 2, 3, 4].map((n) => app.merchant(`Race ${n}`)))
    const pairs = await Promise.all(
      shops.map(async (s) => [s, await user(s.id, 'admin'), await user(s.id, 'admin')] as const),
    )
    await Promise.all(
      pairs.flatMap(([s, a, b]) => [
        remove({ userId: a.id, role: 'admin' }, s.key),
        remove({ userId: b.id, role: 'admin' }, s.key),
      ]),
    )
    for (const [s] of pairs) expect((await members(s.key)).flatMap((m) => m.roles)).toEqual(['admin'])
  })
})
