import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { sessionCookieOf } from '../../src/console-auth.ts'
import { recordAudit } from '../../src/core/access/audit.ts'
import { roleScopes } from '../../src/core/access/console-roles.ts'
import {
  confirmTotp,
  createConsoleUser,
  grantConsoleRole,
  startTotp,
} from '../../src/core/access/console-users.ts'
import { totpCode } from '../../src/core/access/totp.ts'
import { auditLog } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { openSse } from '../helpers/live-client.ts'
import { waitFor } from '../helpers/processes.ts'

// A console user's browser signs in at /console/api/login and then calls the public API with its HttpOnly
// session cookie, the session's CSRF token and the merchant it acts for; its scopes are its roles' there.

const password = 'correct horse battery staple'
let app: TestApp
let shop: { id: string; key: string }
let otherShop: { id: string; key: string }
let ipCounter = 0
/** A fresh client address per use, so the per-address login limit of one test never meets another's. */
const newIp = () => `198.51.100.${++ipCounter}`

beforeAll(async () => {
  app = await createTestApp()
  shop = await app.merchant('Console shop')
  otherShop = await app.merchant('Another shop')
})
afterAll(() => app.close())

async function user(role: string, merchantId = shop.id) {
  const email = `${role}-${crypto.randomUUID().slice(0, 8)}@example.com`
  const { id } = await createConsoleUser(
    { db: app.ctx.db },
    { email, displayName: `The ${role}`, password, membership: { merchantId, role } },
  )
  return { id, email }
}

/** The in-process handler, given the client's address as Bun.serve's socket would. */
const send = (request: Request, ip?: string) =>
  (app.fetch as (request: Request, peer?: string) => Promise<Response>)(request, ip)

function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  ip = newIp(),
  base = 'http://tollgate.test',
) {
  return send(
    new Request(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
    ip,
  )
}

type Session = { cookie: string; csrf: string; body: any; setCookie: string }

async function signIn(email: string, extra: Record<string, unknown> = {}): Promise<Session> {
  const res = await post('/console/api/login', { email, password, ...extra })
  const body = await res.json()
  expect(res.status).toBe(200)
  const setCookie = res.headers.get('set-cookie') ?? ''
  return { cookie: setCookie.split(';')[0] as string, csrf: body.csrfToken, body, setCookie }
}

async function gqlAs(
  session: Session,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string | undefined> = {},
) {
  const all: Record<string, string | undefined> = {
    'content-type': 'application/json',
    cookie: session.cookie,
    'x-csrf-token': session.csrf,
    'x-tollgate-merchant': shop.id,
    ...headers,
  }
  const res = await app.fetch(
    new Request('http://tollgate.test/graphql', {
      method: 'POST',
      headers: Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as Record<
        string,
        string
      >,
      body: JSON.stringify({ query, variables }),
    }),
  )
  return { status: res.status, body: (await res.json()) as any }
}

const setSingleMode = `mutation { setDepositSettings(input: { addressMode: SINGLE }) { __typename
  ... on DepositSettings { addressMode } ... on UserError { code } } }`

async function auditActors(merchantKey: string, action: string): Promise<string[]> {
  const res = await app.gql(`{ auditLog(first: 100) { edges { node { action actor } } } }`, {}, merchantKey)
  expect(res.errors).toBeUndefined()
  return res.data.auditLog.edges
    .map((e: any) => e.node)
    .filter((n: any) => n.action === action)
    .map((n: any) => n.actor)
}

function codeOf(res: { body: any }): string {
  if (res.body.errors) return res.body.errors[0].extensions.code
  const data = Object.values(res.body.data)[0] as any
  return data.code ?? data.__typename
}

describe('console login', () => {
  test('default: login sets an HttpOnly SameSite=Strict session cookie and answers who, where and the CSRF token', async () => {
    const admin = await user('admin')
    await grantConsoleRole(
      { db: app.ctx.db },
      { email: admin.email, merchantId: otherShop.id, role: 'viewer' },
    )
    const s = await signIn(admin.email.toUpperCase())
    const attributes = s.setCookie.split(';').map((a) => a.trim())
    expect(s.cookie).toMatch(/^tollgate_session=tgs_[A-Za-z0-9_-]{43}$/)
    expect(attributes).toContain('HttpOnly')
    expect(attributes).toContain('SameSite=Strict')
    expect(attributes).toContain('Path=/')
    expect(attributes).toContain('Max-Age=43200')
    expect(attributes).not.toContain('Secure')
    expect(s.body.user).toEqual({ id: admin.id, email: admin.email, name: 'The admin', totpEnabled: false })
    expect(s.body.memberships).toEqual(
      expect.arrayContaining([
        {
          merchantId: shop.id,
          merchantName: 'Console shop',
          role: 'admin',
          scopes: [...roleScopes.admin],
        },
        {
          merchantId: otherShop.id,
          merchantName: 'Another shop',
          role: 'viewer',
          scopes: ['payments:read'],
        },
      ]),
    )
    expect(s.body.memberships).toHaveLength(2)
    expect(s.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // the CSRF token is in the body only, never in a cookie
    expect(s.setCookie).not.toContain(s.csrf)
  })

  test('default: over https the cookie is Secure', async () => {
    const viewer = await user('viewer')
    const res = await post(
      '/console/api/login',
      { email: viewer.email, password },
      {},
      newIp(),
      'https://tollgate.test',
    )
    expect(res.status).toBe(200)
    expect(
      res.headers
        .get('set-cookie')
        ?.split(';')
        .map((a) => a.trim()),
    ).toContain('Secure')
  })

  test('error: a wrong password is 401 LOGIN_FAILED without a cookie; malformed input is 400', async () => {
    const viewer = await user('viewer')
    const wrong = await post('/console/api/login', {
      email: viewer.email,
      password: 'not the password at all',
    })
    expect(wrong.status).toBe(401)
    expect(await wrong.json()).toMatchObject({ code: 'LOGIN_FAILED' })
    expect(wrong.headers.get('set-cookie')).toBeNull()
    expect(wrong.headers.get('retry-after')).toBeNull()

    const notJson = await post('/console/api/login', 'email=a@b.c&password=x', {
      'content-type': 'application/x-www-form-urlencoded',
    })
    expect(notJson.status).toBe(400)
    expect(await notJson.json()).toMatchObject({ code: 'INVALID_INPUT' })
    const badJson = await post('/console/api/login', '{"email":')
    expect(badJson.status).toBe(400)
    const badEmail = await post('/console/api/login', { email: 42, password })
    expect(badEmail.status).toBe(400)
    expect(await badEmail.json()).toMatchObject({ code: 'INVALID_INPUT', field: 'email' })
    const get = await app.fetch(new Request('http://tollgate.test/console/api/login'))
    expect(get.status).toBe(405)
  })

  test('error: five failures lock the account: the right password then is 401 with Retry-After', async () => {
    const viewer = await user('viewer')
    const ip = newIp()
    for (let i = 0; i < 5; i++) {
      const res = await post(
        '/console/api/login',
        { email: viewer.email, password: 'wrong password number' },
        {},
        ip,
      )
      expect(res.status).toBe(401)
    }
    const locked = await post('/console/api/login', { email: viewer.email, password }, {}, ip)
    expect(locked.status).toBe(401)
    expect(await locked.json()).toMatchObject({ code: 'LOGIN_FAILED' })
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(locked.headers.get('set-cookie')).toBeNull()
  })

  test('behavior: with two-factor on, a login without a code is TOTP_REQUIRED; with the code it succeeds', async () => {
    const approver = await user('approver')
    const { secret } = await startTotp({ db: app.ctx.db }, { userId: approver.id })
    await confirmTotp({ db: app.ctx.db }, { userId: approver.id, code: totpCode(secret, new Date()) })
    const noCode = await post('/console/api/login', { email: approver.email, password })
    expect(noCode.status).toBe(401)
    expect(await noCode.json()).toMatchObject({ code: 'TOTP_REQUIRED' })
    expect(noCode.headers.get('set-cookie')).toBeNull()
    // the next time step: the enrollment's own code is used up
    const s = await signIn(approver.email, { totp: totpCode(secret, new Date(Date.now() + 30_000)) })
    expect(s.body.user.id).toBe(approver.id)
  })

  test('error: per address and per email, too many attempts are 429 with Retry-After', async () => {
    const ip = newIp()
    for (let i = 0; i < 30; i++) expect((await post('/console/api/login', '{', {}, ip)).status).toBe(400)
    const overIp = await post('/console/api/login', { email: 'anyone@example.com', password }, {}, ip)
    expect(overIp.status).toBe(429)
    expect(await overIp.json()).toMatchObject({ code: 'RATE_LIMITED' })
    expect(Number(overIp.headers.get('retry-after'))).toBeGreaterThan(0)

    const email = `nobody-${crypto.randomUUID().slice(0, 8)}@example.com`
    for (let i = 0; i < 10; i++)
      expect((await post('/console/api/login', { email, password })).status).toBe(401)
    const overEmail = await post('/console/api/login', { email: email.toUpperCase(), password })
    expect(overEmail.status).toBe(429)
    expect(Number(overEmail.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

describe('the API through a console session', () => {
  test("behavior: a viewer's session reads but cannot call an admin or withdrawals:write mutation", async () => {
    const s = await signIn((await user('viewer')).email)
    const read = await gqlAs(s, '{ depositSettings { addressMode } }')
    expect(read.status).toBe(200)
    expect(read.body.errors).toBeUndefined()
    expect(read.body.data.depositSettings.addressMode).toBeString()

    expect(codeOf(await gqlAs(s, setSingleMode))).toBe('FORBIDDEN')
    const withdraw = await gqlAs(
      s,
      `mutation { requestWithdrawal(input: { chain: "devnet", asset: "ETH", amount: "1", to: "0x000000000000000000000000000000000000dEaD", idempotencyKey: "w1" }) { __typename ... on UserError { code } } }`,
    )
    expect(codeOf(withdraw)).toBe('FORBIDDEN')
    const approve = await gqlAs(
      s,
      `mutation { approveWithdrawal(id: "wd_none") { __typename ... on UserError { code } } }`,
    )
    expect(codeOf(approve)).toBe('FORBIDDEN')
  })

  test("behavior: an approver's session passes approveWithdrawal's scope gate (NOT_FOUND for a missing id)", async () => {
    const s = await signIn((await user('approver')).email)
    const approve = await gqlAs(
      s,
      `mutation { approveWithdrawal(id: "wd_none") { __typename ... on UserError { code } } }`,
    )
    expect(codeOf(approve)).toBe('NOT_FOUND')
    expect(codeOf(await gqlAs(s, setSingleMode))).toBe('FORBIDDEN')
  })

  test("behavior: a mutation through a session is audited with user:<id> as the actor, named by the user's name", async () => {
    const admin = await user('admin')
    const s = await signIn(admin.email)
    const res = await gqlAs(s, setSingleMode)
    expect(res.body.errors).toBeUndefined()
    expect(res.body.data.setDepositSettings).toEqual({ __typename: 'DepositSettings', addressMode: 'SINGLE' })
    expect(await auditActors(shop.key, 'deposits.settings_set')).toContain(`user:${admin.id}`)
    // actorName: the console user's display name, an API key's name; another merchant's user is not named
    const named = await app.gql(
      `{ auditLog(first: 100) { edges { node { action actor actorName } } } }`,
      {},
      shop.key,
    )
    const entries = named.data.auditLog.edges.map((e: any) => e.node)
    expect(entries.find((n: any) => n.actor === `user:${admin.id}`)?.actorName).toBe('The admin')
    const outsider = await user('admin', otherShop.id)
    await recordAudit(app.ctx.db, {
      merchantId: shop.id,
      actor: { userId: outsider.id },
      action: 'deposits.settings_set',
      target: { type: 'merchant', id: shop.id },
    })
    const again = await app.gql(`{ auditLog(first: 1) { edges { node { actor actorName } } } }`, {}, shop.key)
    expect(again.data.auditLog.edges[0].node).toEqual({ actor: `user:${outsider.id}`, actorName: null })
  })

  test('error: without the CSRF token, or with a wrong one, the request is 403 CSRF_REJECTED and nothing is done', async () => {
    const merchant = await app.merchant('CSRF shop')
    const admin = await user('admin', merchant.id)
    const s = await signIn(admin.email)
    // one character off (never the token itself, whatever its last character is)
    const oneOff = `${s.csrf.slice(0, -1)}${s.csrf.endsWith('A') ? 'B' : 'A'}`
    for (const csrf of [undefined, 'not-the-token', oneOff]) {
      const res = await gqlAs(
        s,
        setSingleMode,
        {},
        { 'x-csrf-token': csrf, 'x-tollgate-merchant': merchant.id },
      )
      expect(res.status).toBe(403)
      expect(res.body.errors[0].extensions.code).toBe('CSRF_REJECTED')
      expect(res.body.data).toBeUndefined()
    }
    // a read needs the token too (every method but the CSV download)
    const read = await gqlAs(
      s,
      '{ depositSettings { addressMode } }',
      {},
      { 'x-csrf-token': undefined, 'x-tollgate-merchant': merchant.id },
    )
    expect(read.status).toBe(403)
    expect(await auditActors(merchant.key, 'deposits.settings_set')).toEqual([])
    const settings = await app.gql('{ depositSettings { addressMode } }', {}, merchant.key)
    expect(settings.data.depositSettings.addressMode).not.toBe('SINGLE')
  })

  test('error: a merchant the user holds no role at, or none named, is 403 FORBIDDEN', async () => {
    const s = await signIn((await user('admin')).email)
    for (const merchant of [otherShop.id, undefined, 'mer_unknown', 'not a merchant']) {
      const res = await gqlAs(
        s,
        '{ depositSettings { addressMode } }',
        {},
        { 'x-tollgate-merchant': merchant },
      )
      expect(res.status).toBe(403)
      expect(res.body.errors[0].extensions.code).toBe('FORBIDDEN')
    }
  })

  test('behavior: an Authorization header wins over the cookie (which is then ignored, CSRF and all)', async () => {
    const s = await signIn((await user('viewer')).email)
    const res = await gqlAs(
      s,
      setSingleMode,
      {},
      {
        authorization: `Bearer ${otherShop.key}`,
        'x-csrf-token': undefined,
        'x-tollgate-merchant': undefined,
      },
    )
    expect(res.status).toBe(200)
    expect(res.body.data.setDepositSettings.addressMode).toBe('SINGLE')
    expect(await auditActors(otherShop.key, 'deposits.settings_set')).not.toContain(`user:${s.body.user.id}`)
  })

  test('behavior: the ledger CSV takes the session with the merchant header, without a CSRF token', async () => {
    const s = await signIn((await user('viewer')).email)
    const csv = (headers: Record<string, string>) =>
      app.fetch(
        new Request('http://tollgate.test/exports/ledger.csv', { headers: { cookie: s.cookie, ...headers } }),
      )
    const ok = await csv({ 'x-tollgate-merchant': shop.id })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('content-type')).toStartWith('text/csv')
    await ok.text()
    const elsewhere = await csv({ 'x-tollgate-merchant': otherShop.id })
    expect(elsewhere.status).toBe(403)
    expect(await elsewhere.json()).toMatchObject({ code: 'FORBIDDEN' })
  })

  test('behavior: /session answers who is signed in with a new CSRF token; the previous one stops working', async () => {
    const admin = await user('admin')
    const s = await signIn(admin.email)
    const res = await app.fetch(
      new Request('http://tollgate.test/console/api/session', { headers: { cookie: s.cookie } }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = await res.json()
    expect(body.user).toEqual(s.body.user)
    expect(body.memberships).toEqual(s.body.memberships)
    expect(body.csrfToken).not.toBe(s.csrf)
    expect((await gqlAs(s, '{ depositSettings { addressMode } }')).status).toBe(403)
    const fresh = await gqlAs({ ...s, csrf: body.csrfToken }, '{ depositSettings { addressMode } }')
    expect(fresh.body.errors).toBeUndefined()

    const none = await app.fetch(new Request('http://tollgate.test/console/api/session'))
    expect(none.status).toBe(401)
    expect(await none.json()).toMatchObject({ code: 'UNAUTHENTICATED' })
  })

  test('behavior: logout needs the CSRF token, ends the session and clears the cookie', async () => {
    const s = await signIn((await user('viewer')).email)
    const noToken = await post('/console/api/logout', {}, { cookie: s.cookie })
    expect(noToken.status).toBe(403)
    expect(await noToken.json()).toMatchObject({ code: 'CSRF_REJECTED' })
    expect((await gqlAs(s, '{ depositSettings { addressMode } }')).body.errors).toBeUndefined()

    const out = await post('/console/api/logout', {}, { cookie: s.cookie, 'x-csrf-token': s.csrf })
    expect(out.status).toBe(204)
    const cleared = out.headers.get('set-cookie') ?? ''
    expect(cleared).toStartWith('tollgate_session=;')
    expect(cleared).toContain('Max-Age=0')
    const after = await gqlAs(s, '{ depositSettings { addressMode } }')
    expect(after.body.errors[0].extensions.code).toBe('UNAUTHENTICATED')
    const session = await app.fetch(
      new Request('http://tollgate.test/console/api/session', { headers: { cookie: s.cookie } }),
    )
    expect(session.status).toBe(401)
  })

  test('error: an expired session (idle too long, or past its 12 hours) is UNAUTHENTICATED', async () => {
    for (const [created, lastSeen] of [
      ['1 hour', '31 minutes'],
      ['13 hours', '1 minute'],
    ]) {
      const s = await signIn((await user('admin')).email)
      expect((await gqlAs(s, '{ depositSettings { addressMode } }')).body.errors).toBeUndefined()
      await app.ctx.db.execute(
        sql`update console_sessions set created_at = now() - ${created}::interval, last_seen_at = now() - ${lastSeen}::interval where user_id = ${s.body.user.id}`,
      )
      const res = await gqlAs(s, setSingleMode)
      expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED')
      expect(res.body.data?.setDepositSettings ?? null).toBeNull()
    }
  })
})

describe('two-factor enrollment from the console', () => {
  const enroll = (s: Session, path: 'start' | 'confirm', body: unknown = {}, csrf: string | null = s.csrf) =>
    post(`/console/api/totp/${path}`, body, {
      cookie: s.cookie,
      ...(csrf === null ? {} : { 'x-csrf-token': csrf }),
    })

  test('default: a signed-in user starts enrollment (secret, otpauth URI, QR code), confirms with a code, and later sign-ins ask for it', async () => {
    const viewer = await user('viewer')
    const s = await signIn(viewer.email)
    const started = await enroll(s, 'start')
    expect(started.status).toBe(200)
    const body = (await started.json()) as { secret: string; uri: string; qrCode: string }
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/)
    expect(body.uri).toStartWith('otpauth://totp/')
    expect(body.uri).toContain(`secret=${body.secret}`)
    expect(body.qrCode).toStartWith('data:image/svg+xml;base64,')
    expect(Buffer.from(body.qrCode.split(',')[1] as string, 'base64').toString()).toContain('<svg')

    const wrong = await enroll(s, 'confirm', {
      code: '000000' === totpCode(body.secret, new Date()) ? '111111' : '000000',
    })
    expect([wrong.status, (await wrong.json()).code]).toEqual([400, 'INVALID_INPUT'])
    const confirmed = await enroll(s, 'confirm', { code: totpCode(body.secret, new Date()) })
    expect([confirmed.status, await confirmed.json()]).toEqual([200, { totpEnabled: true }])
    // on: starting again is refused, and a sign-in without the code is TOTP_REQUIRED
    const again = await enroll(s, 'start')
    expect([again.status, (await again.json()).code]).toEqual([409, 'INVALID_STATE'])
    const noCode = await post('/console/api/login', { email: viewer.email, password })
    expect([noCode.status, (await noCode.json()).code]).toEqual([401, 'TOTP_REQUIRED'])
    const session = await post('/console/api/session', undefined, { cookie: s.cookie })
    expect(session.status).toBe(405)
  })

  test('error: enrollment needs the session and its CSRF token; a form post or a bad body changes nothing', async () => {
    const viewer = await user('viewer')
    const s = await signIn(viewer.email)
    const noCsrf = await enroll(s, 'start', {}, null)
    expect([noCsrf.status, (await noCsrf.json()).code]).toEqual([403, 'CSRF_REJECTED'])
    const noSession = await post('/console/api/totp/start', {}, { 'x-csrf-token': s.csrf })
    expect([noSession.status, (await noSession.json()).code]).toEqual([401, 'UNAUTHENTICATED'])
    const started = await enroll(s, 'start')
    const { secret } = (await started.json()) as { secret: string }
    const form = await send(
      new Request('http://tollgate.test/console/api/totp/confirm', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: s.cookie,
          'x-csrf-token': s.csrf,
        },
        body: `code=${totpCode(secret, new Date())}`,
      }),
      newIp(),
    )
    expect([form.status, (await form.json()).code]).toEqual([400, 'INVALID_INPUT'])
    for (const bad of ['x'.repeat(10_000), [totpCode(secret, new Date())], '12345\u0000', null]) {
      const res = await enroll(s, 'confirm', { code: bad })
      expect([res.status, (await res.json()).code]).toEqual([400, 'INVALID_INPUT'])
    }
    // still off: a sign-in needs no code
    expect((await post('/console/api/login', { email: viewer.email, password })).status).toBe(200)
  })
})

describe("changing one's password", () => {
  const change = (s: Session, body: unknown, csrf: string | null = s.csrf) =>
    post('/console/api/password', body, {
      cookie: s.cookie,
      ...(csrf === null ? {} : { 'x-csrf-token': csrf }),
    })
  const fresh = 'a brand new passphrase of words'

  test("default: with the current password the new one works at once; the user's other sessions end, this one stays; audited", async () => {
    const viewer = await user('viewer')
    const [mine, other] = [await signIn(viewer.email), await signIn(viewer.email)]
    const res = await change(mine, { currentPassword: password, newPassword: fresh })
    expect(res.status).toBe(204)
    expect((await post('/console/api/login', { email: viewer.email, password })).status).toBe(401)
    expect((await post('/console/api/login', { email: viewer.email, password: fresh })).status).toBe(200)
    const get = (s: Session) =>
      send(
        new Request('http://tollgate.test/console/api/session', { headers: { cookie: s.cookie } }),
        newIp(),
      )
    expect((await get(other)).status).toBe(401)
    expect((await get(mine)).status).toBe(200)
    const [entry] = await app.ctx.db
      .select()
      .from(auditLog)
      .where(sql`${auditLog.targetId} = ${viewer.id} and ${auditLog.action} = 'console.password_changed'`)
    expect(entry?.actor).toBe(`user:${viewer.id}`)
  })

  test('error: a wrong current password, a weak or unchanged new one, no CSRF token or no session change nothing', async () => {
    const viewer = await user('viewer')
    const s = await signIn(viewer.email)
    const cases: Array<[unknown, number, string]> = [
      [{ currentPassword: 'not the password at all', newPassword: fresh }, 400, 'INVALID_INPUT'],
      [{ currentPassword: password, newPassword: 'short' }, 400, 'INVALID_INPUT'],
      [{ currentPassword: password, newPassword: 'x'.repeat(12) }, 400, 'INVALID_INPUT'],
      [{ currentPassword: password, newPassword: viewer.email }, 400, 'INVALID_INPUT'],
      [{ currentPassword: password, newPassword: password }, 400, 'INVALID_INPUT'],
      [{ currentPassword: password, newPassword: `${fresh}\u0000` }, 400, 'INVALID_INPUT'],
      [{ currentPassword: password, newPassword: 'y'.repeat(10_240) }, 400, 'INVALID_INPUT'],
      [{ currentPassword: password }, 400, 'INVALID_INPUT'],
      ['not json', 400, 'INVALID_INPUT'],
    ]
    for (const [body, status, code] of cases) {
      const res = await change(s, body)
      expect([status, code, body]).toEqual([res.status, (await res.json()).code, body])
    }
    const noCsrf = await change(s, { currentPassword: password, newPassword: fresh }, null)
    expect([noCsrf.status, (await noCsrf.json()).code]).toEqual([403, 'CSRF_REJECTED'])
    const noSession = await post('/console/api/password', { currentPassword: password, newPassword: fresh })
    expect(noSession.status).toBe(401)
    // the old password still works: nothing was changed
    expect((await post('/console/api/login', { email: viewer.email, password })).status).toBe(200)
  })
})

describe('the session cookie', () => {
  test('behavior: read among other cookies, for an event stream too', () => {
    const headers = { cookie: 'theme=dark; tollgate_session=tgs_abc; other=1' }
    expect(sessionCookieOf(new Request('http://t/graphql', { headers }))).toBe('tgs_abc')
    expect(
      sessionCookieOf(new Request('http://t/graphql', { headers: { cookie: 'tollgate_session=' } })),
    ).toBeUndefined()
    expect(
      sessionCookieOf(
        new Request('http://t/graphql', { headers: { ...headers, accept: 'text/event-stream' } }),
      ),
    ).toBe('tgs_abc')
  })
})

describe('live updates under a console session (SSE)', () => {
  const watchPayments = 'subscription { paymentsUpdated { id orderId } }'
  let server: ReturnType<typeof Bun.serve>
  let url: string
  beforeAll(() => {
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => send(request, newIp()) })
    url = `http://127.0.0.1:${server.port}/graphql`
  })
  afterAll(() => server?.stop(true))

  const sessionHeaders = (s: Session, extra: Record<string, string> = {}) => ({
    headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'x-tollgate-merchant': shop.id, ...extra },
  })

  /** A payment of the key's merchant, announced on the bus as a change (as the scanner would after a move). */
  async function createPayment(orderId: string, merchant = shop) {
    const key = merchant.key
    const res = await app.gql(
      `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
        ... on CreatePaymentPayload { payment { id } } ... on UserError { code } } }`,
      { input: { chain: 'devnet', asset: 'ETH', amount: '1', orderId } },
      key,
    )
    const id = res.data?.createPayment?.payment?.id
    if (!id) throw new Error(`createPayment: ${JSON.stringify(res)}`)
    app.ctx.bus.publish([{ paymentId: id, merchantId: merchant.id, seq: 1, type: 'payment.created' }])
    return id as string
  }

  test("default: a signed-in viewer watches paymentsUpdated with the cookie, CSRF token and merchant; only its merchant's payments arrive", async () => {
    const viewer = await user('viewer')
    const s = await signIn(viewer.email)
    const stream = openSse(url, watchPayments, {}, sessionHeaders(s))
    await Bun.sleep(300)
    await createPayment('elsewhere', otherShop)
    const id = await createPayment('live-for-the-viewer')
    await waitFor('the payment to arrive', () => stream.data().some((d) => d.paymentsUpdated?.id === id))
    expect(stream.data().map((d) => d.paymentsUpdated.orderId)).not.toContain('elsewhere')
    expect(stream.errorCodes()).toEqual([])
    stream.close()
  })

  test("error: without the CSRF token, or for a merchant not the user's, no stream opens", async () => {
    const viewer = await user('viewer')
    const s = await signIn(viewer.email)
    const noCsrf = openSse(
      url,
      watchPayments,
      {},
      { headers: { cookie: s.cookie, 'x-tollgate-merchant': shop.id } },
    )
    await noCsrf.untilEnded()
    expect(noCsrf.errorCodes()).toEqual(['CSRF_REJECTED'])
    const elsewhere = openSse(
      url,
      watchPayments,
      {},
      sessionHeaders(s, { 'x-tollgate-merchant': otherShop.id }),
    )
    await elsewhere.untilEnded()
    expect(elsewhere.errorCodes()).toEqual(['FORBIDDEN'])
  })

  test("behavior: signing out ends the session's open streams with UNAUTHENTICATED; another session of the same user keeps its own", async () => {
    const viewer = await user('viewer')
    const [first, second] = [await signIn(viewer.email), await signIn(viewer.email)]
    const ending = openSse(url, watchPayments, {}, sessionHeaders(first))
    const staying = openSse(url, watchPayments, {}, sessionHeaders(second))
    await Bun.sleep(300)
    const out = await post('/console/api/logout', {}, { cookie: first.cookie, 'x-csrf-token': first.csrf })
    expect(out.status).toBe(204)
    await ending.untilEnded()
    expect(ending.errorCodes()).toEqual(['UNAUTHENTICATED'])
    const id = await createPayment('after-one-logout')
    await waitFor('the other session to see the payment', () =>
      staying.data().some((d) => d.paymentsUpdated?.id === id),
    )
    expect(staying.ended()).toBe(false)
    staying.close()
  })
})
