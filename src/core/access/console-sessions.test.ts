import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { count, eq } from 'drizzle-orm'
import { openUnitDb, rejection, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { auditLog, consoleLoginThrottle, consoleSessions, consoleUsers } from '../../db/schema/index.ts'
import type { TollgateError } from '../errors.ts'
import { scopesFor } from './console-roles.ts'
import {
  absentUserHash,
  type LoginFailed,
  lockoutMs,
  login,
  logout,
  sessionFor,
  sessionIdleMs,
  sessionLifetimeMs,
  sha256,
  verifyCsrf,
} from './console-sessions.ts'
import {
  confirmTotp,
  createConsoleUser,
  disableConsoleUser,
  grantConsoleRole,
  startTotp,
} from './console-users.ts'
import { totpCode } from './totp.ts'

let handle: DbHandle
let merchantId: string
beforeAll(async () => {
  handle = await openUnitDb()
  merchantId = await unitMerchant(handle, 'Console shop')
}, 30_000)
afterAll(() => handle.close())

const password = 'correct horse battery staple'
const t0 = new Date('2030-06-01T12:00:00Z')
const at = (ms: number) => ({ db: handle.db, now: () => new Date(t0.getTime() + ms) })
const minutes = (n: number) => n * 60_000

let emails = 0
async function user(role: 'viewer' | 'admin' = 'viewer') {
  const email = `login${++emails}@example.com`
  const { id } = await createConsoleUser(handle, {
    email,
    displayName: `User ${emails}`,
    password,
    membership: { merchantId, role },
  })
  return { id, email }
}

/** A user with two-factor on, enrolled at t0 − 10 min (so steps around t0 are unused). */
async function totpUser() {
  const u = await user()
  const { secret } = await startTotp(handle, { userId: u.id })
  const enrolledAt = new Date(t0.getTime() - minutes(10))
  await confirmTotp(
    { db: handle.db, now: () => enrolledAt },
    { userId: u.id, code: totpCode(secret, enrolledAt) },
  )
  return { ...u, secret, code: (offsetMs: number) => totpCode(secret, new Date(t0.getTime() + offsetMs)) }
}

/** The failure count and lock of an email (a count of 0 and no lock when it has no row). */
const throttleOf = async (email: string) => {
  const [row] = await handle.db
    .select()
    .from(consoleLoginThrottle)
    .where(eq(consoleLoginThrottle.emailHash, sha256(email.toLowerCase())))
  return { failedLogins: row?.failedLogins ?? 0, lockedUntil: row?.lockedUntil ?? null }
}
const userRow = async (id: string) =>
  (await handle.db.select().from(consoleUsers).where(eq(consoleUsers.id, id)))[0]!
const auditActions = async (targetId: string) =>
  (await handle.db.select().from(auditLog).where(eq(auditLog.targetId, targetId)).orderBy(auditLog.id)).map(
    (a) => [a.action, a.actor, (a.data as { reason?: string } | null)?.reason ?? null],
  )

async function written() {
  const [sessions] = await handle.db.select({ n: count() }).from(consoleSessions)
  const [audit] = await handle.db.select({ n: count() }).from(auditLog)
  return { sessions: sessions!.n, audit: audit!.n }
}

describe('login', () => {
  test('default: the right email and password open a session; only hashes of its tokens are kept', async () => {
    const u = await user('admin')
    const signedIn = await login(at(0), { email: u.email.toUpperCase(), password, ip: '203.0.113.7' })
    expect(signedIn.token).toMatch(/^tgs_[A-Za-z0-9_-]{43}$/)
    expect(signedIn.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(signedIn.user).toEqual({
      id: u.id,
      email: u.email,
      displayName: expect.any(String),
      totpEnabled: false,
    })
    expect(signedIn.memberships).toEqual([{ merchantId, role: 'admin' }])
    expect(signedIn.session.expiresAt).toEqual(new Date(t0.getTime() + sessionIdleMs))
    const [row] = await handle.db
      .select()
      .from(consoleSessions)
      .where(eq(consoleSessions.id, signedIn.session.id))
    expect(row!.ip).toBe('203.0.113.7')
    expect(JSON.stringify(row)).not.toContain(signedIn.token)
    expect(JSON.stringify(row)).not.toContain(signedIn.csrfToken)
    const again = await sessionFor(at(minutes(1)), signedIn.token)
    expect(again.user.id).toBe(u.id)
    expect(scopesFor(again.memberships, merchantId).has('admin')).toBe(true)
    expect(await auditActions(signedIn.session.id)).toEqual([
      ['console.login_succeeded', `user:${u.id}`, null],
    ])
  })

  test('behavior: an unknown email and a wrong password get the same LOGIN_FAILED', async () => {
    const u = await user()
    const wrong = await rejection(login(at(0), { email: u.email, password: 'not the password at all' }))
    const unknown = await rejection(login(at(0), { email: 'nobody@example.com', password }))
    expect([wrong.code, wrong.message, wrong.field]).toEqual([unknown.code, unknown.message, unknown.field])
    expect(wrong.code).toBe('LOGIN_FAILED')
    expect((wrong as LoginFailed).retryAfterSeconds).toBeUndefined()
    expect((unknown as LoginFailed).retryAfterSeconds).toBeUndefined()
    // both are audited, with the reason the caller was not told
    expect(await auditActions(u.id)).toContainEqual([
      'console.login_failed',
      'system:console',
      'wrong_password',
    ])
    expect(await auditActions('nobody@example.com')).toEqual([
      ['console.login_failed', 'system:console', 'unknown_email'],
    ])
  })

  test('behavior: an unknown email is checked against a stand-in hash of the same argon2id cost as a real one', async () => {
    const u = await user()
    const parameters = (hash: string) => hash.split('$').slice(1, 4).join('$')
    expect(parameters(absentUserHash)).toBe('argon2id$v=19$m=19456,t=2,p=1')
    expect(parameters((await userRow(u.id)).passwordHash)).toBe(parameters(absentUserHash))
  })

  test('behavior: five failures lock the account for 15 minutes, the right password included; then it opens', async () => {
    const u = await user()
    for (let i = 1; i <= 4; i++) {
      const err = (await rejection(
        login(at(i), { email: u.email, password: `wrong password ${i}` }),
      )) as LoginFailed
      expect([err.code, err.retryAfterSeconds]).toEqual(['LOGIN_FAILED', undefined])
    }
    expect((await throttleOf(u.email)).failedLogins).toBe(4)
    const fifth = (await rejection(
      login(at(5), { email: u.email, password: 'wrong password 5' }),
    )) as LoginFailed
    expect([fifth.code, fifth.retryAfterSeconds]).toEqual(['LOGIN_FAILED', lockoutMs / 1000])
    expect((await throttleOf(u.email)).lockedUntil).toEqual(new Date(t0.getTime() + 5 + lockoutMs))
    // locked: the right password is refused alike, with the time left
    const locked = (await rejection(login(at(minutes(10) + 5), { email: u.email, password }))) as LoginFailed
    expect(locked.code).toBe('LOGIN_FAILED')
    expect(locked.message).toBe(fifth.message)
    expect(locked.retryAfterSeconds).toBe(300)
    // the window over, the right password works and the count starts again
    const signedIn = await login(at(minutes(15) + 5), { email: u.email, password })
    expect(signedIn.user.id).toBe(u.id)
    const row = await throttleOf(u.email)
    expect([row.failedLogins, row.lockedUntil]).toEqual([0, null])
    const actions = (await auditActions(u.id)).map(
      ([action, , reason]) => `${action}${reason ? `:${reason}` : ''}`,
    )
    expect(actions).toEqual([
      'console.user_created',
      'console.role_granted',
      ...Array(5).fill('console.login_failed:wrong_password'),
      'console.login_locked',
      'console.login_failed:locked',
    ])
  })

  test('behavior: an email nobody has is locked alike after five failures, with the same Retry-After: a lock tells nothing about who has an account', async () => {
    const u = await user()
    const nobody = `nobody-${crypto.randomUUID().slice(0, 8)}@example.com`
    const answers = async (email: string) => {
      const seen: Array<[string, number | undefined]> = []
      for (let i = 1; i <= 6; i++) {
        const err = (await rejection(
          login(at(i), { email, password: i === 6 ? password : `wrong password ${i}` }),
        )) as LoginFailed
        seen.push([`${err.code}: ${err.message}`, err.retryAfterSeconds])
      }
      return seen
    }
    const known = await answers(u.email)
    const unknown = await answers(nobody)
    expect(unknown).toEqual(known)
    expect(unknown.at(-1)?.[1]).toBe(lockoutMs / 1000 - 0)
    expect((await throttleOf(nobody)).lockedUntil).toEqual(new Date(t0.getTime() + 5 + lockoutMs))
    // no address is stored for an email nobody has: only its hash
    const stored = await handle.db.select().from(consoleLoginThrottle)
    expect(JSON.stringify(stored)).not.toContain(nobody)
  })

  test('behavior: a success resets the count of failures', async () => {
    const u = await user()
    for (let i = 0; i < 4; i++) await rejection(login(at(i), { email: u.email, password: 'wrong password!' }))
    await login(at(10), { email: u.email, password })
    expect((await throttleOf(u.email)).failedLogins).toBe(0)
    for (let i = 0; i < 4; i++)
      await rejection(login(at(20 + i), { email: u.email, password: 'wrong password!' }))
    expect((await throttleOf(u.email)).lockedUntil).toBeNull()
  })

  test('error: a disabled user cannot sign in, and their open sessions end', async () => {
    const u = await user()
    const signedIn = await login(at(0), { email: u.email, password })
    await disableConsoleUser(at(minutes(1)), { email: u.email })
    expect((await rejection(sessionFor(at(minutes(2)), signedIn.token))).code).toBe('UNAUTHENTICATED')
    expect((await rejection(login(at(minutes(2)), { email: u.email, password }))).code).toBe('LOGIN_FAILED')
    expect(await auditActions(u.id)).toContainEqual(['console.login_failed', 'system:console', 'disabled'])
    // disabled directly in the table (no revocation): the session still ends
    const v = await user()
    const other = await login(at(0), { email: v.email, password })
    await handle.db.update(consoleUsers).set({ disabledAt: t0 }).where(eq(consoleUsers.id, v.id))
    expect((await rejection(sessionFor(at(1), other.token))).code).toBe('UNAUTHENTICATED')
  })

  test('error: hostile input is INVALID_INPUT on its field; nothing is written', async () => {
    const u = await user()
    const before = await written()
    const big = 'x'.repeat(10_240)
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ email: `${big}@example.com` }, 'email'],
      [{ email: `${u.email}\u0000` }, 'email'],
      [{ email: `${u.email}\r\nX-Injected: 1` }, 'email'],
      [{ email: 42 }, 'email'],
      [{ email: [u.email] }, 'email'],
      [{ email: undefined }, 'email'],
      [{ password: big }, 'password'],
      [{ password: `${password}\u0000` }, 'password'],
      [{ password: { toString: () => password } }, 'password'],
      [{ password: null }, 'password'],
      [{ totp: big }, 'totp'],
      [{ totp: 123456 }, 'totp'],
      [{ ip: big }, 'ip'],
      [{ ip: '1.2.3.4\n' }, 'ip'],
      [{ ip: 7 }, 'ip'],
    ]
    for (const [override, field] of cases) {
      const err = await rejection(login(at(0), { email: u.email, password, ...override }))
      expect([err.code, err.field, override]).toEqual(['INVALID_INPUT', field, override])
    }
    expect(await written()).toEqual(before)
    expect((await throttleOf(u.email)).failedLogins).toBe(0)
  })
})

describe('login with two-factor', () => {
  test('default: the right password without a code is TOTP_REQUIRED; with the code, a session', async () => {
    const u = await totpUser()
    const err = await rejection(login(at(0), { email: u.email, password }))
    expect([err.code, err.field]).toEqual(['TOTP_REQUIRED', 'totp'])
    expect((await rejection(login(at(0), { email: u.email, password, totp: '' }))).code).toBe('TOTP_REQUIRED')
    // asking for the code is no failure
    expect((await throttleOf(u.email)).failedLogins).toBe(0)
    const signedIn = await login(at(0), { email: u.email, password, totp: u.code(0) })
    expect(signedIn.user.totpEnabled).toBe(true)
  })

  test('behavior: a wrong password with a code is the generic failure (the code reveals nothing)', async () => {
    const u = await totpUser()
    const err = await rejection(
      login(at(0), { email: u.email, password: 'not the password at all', totp: u.code(0) }),
    )
    expect(err.code).toBe('LOGIN_FAILED')
  })

  test('behavior: a code of the step before or after is accepted; two steps away is not', async () => {
    const early = await totpUser()
    await login(at(0), { email: early.email, password, totp: early.code(-30_000) })
    const late = await totpUser()
    await login(at(0), { email: late.email, password, totp: late.code(30_000) })
    const far = await totpUser()
    expect(
      (await rejection(login(at(0), { email: far.email, password, totp: far.code(-60_000) }))).code,
    ).toBe('LOGIN_FAILED')
    expect((await rejection(login(at(0), { email: far.email, password, totp: far.code(60_000) }))).code).toBe(
      'LOGIN_FAILED',
    )
    expect((await auditActions(far.id)).filter(([, , reason]) => reason === 'wrong_totp')).toHaveLength(2)
  })

  test('error: a wrong code fails and counts; a code never works twice, nor one of an earlier step', async () => {
    const u = await totpUser()
    const wrong = (Number(u.code(0)) + 1) % 1_000_000
    const err = await rejection(
      login(at(0), { email: u.email, password, totp: String(wrong).padStart(6, '0') }),
    )
    expect(err.code).toBe('LOGIN_FAILED')
    expect((await throttleOf(u.email)).failedLogins).toBe(1)
    await login(at(0), { email: u.email, password, totp: u.code(0) })
    // the same code again, within its window: refused as a replay
    const replay = await rejection(login(at(1000), { email: u.email, password, totp: u.code(0) }))
    expect(replay.code).toBe('LOGIN_FAILED')
    // the previous step's code is still in the window, but older than the one used: refused too
    const older = await rejection(login(at(1000), { email: u.email, password, totp: u.code(-30_000) }))
    expect(older.code).toBe('LOGIN_FAILED')
    expect((await auditActions(u.id)).filter(([, , reason]) => reason === 'totp_replayed')).toHaveLength(2)
    // the next step's code is fine
    await login(at(30_000), { email: u.email, password, totp: u.code(30_000) })
  })

  test('error: five wrong codes lock the account like wrong passwords', async () => {
    const u = await totpUser()
    for (let i = 0; i < 5; i++)
      await rejection(
        login(at(i), { email: u.email, password, totp: '000000' === u.code(0) ? '111111' : '000000' }),
      )
    const locked = (await rejection(
      login(at(10), { email: u.email, password, totp: u.code(0) }),
    )) as LoginFailed
    expect(locked.code).toBe('LOGIN_FAILED')
    expect(locked.retryAfterSeconds).toBeGreaterThan(0)
  })
})

describe('sessions', () => {
  test('behavior: idle 30 minutes ends a session; each use restarts the idle clock', async () => {
    const u = await user()
    const { token } = await login(at(0), { email: u.email, password })
    const used = await sessionFor(at(minutes(29)), token)
    expect(used.session.lastSeenAt).toEqual(new Date(t0.getTime() + minutes(29)))
    expect(used.session.expiresAt).toEqual(new Date(t0.getTime() + minutes(59)))
    await sessionFor(at(minutes(58)), token)
    expect((await rejection(sessionFor(at(minutes(88)), token))).code).toBe('UNAUTHENTICATED')
  })

  test('behavior: 12 hours after login a session ends, however busy', async () => {
    const u = await user()
    const { token } = await login(at(0), { email: u.email, password })
    let last: Awaited<ReturnType<typeof sessionFor>> | undefined
    for (let t = minutes(20); t < sessionLifetimeMs; t += minutes(20)) last = await sessionFor(at(t), token)
    expect(last!.session.expiresAt).toEqual(new Date(t0.getTime() + sessionLifetimeMs))
    expect((await rejection(sessionFor(at(sessionLifetimeMs), token))).code).toBe('UNAUTHENTICATED')
  })

  test('behavior: logout ends the session at once (audited); a second logout changes nothing', async () => {
    const u = await user()
    const { token, session } = await login(at(0), { email: u.email, password })
    const other = await login(at(0), { email: u.email, password })
    expect(await logout(at(1), token)).toBe(true)
    expect(await logout(at(2), token)).toBe(false)
    expect((await rejection(sessionFor(at(3), token))).code).toBe('UNAUTHENTICATED')
    // the user's other session is untouched
    expect((await sessionFor(at(3), other.token)).session.id).toBe(other.session.id)
    expect(await auditActions(session.id)).toEqual([
      ['console.login_succeeded', `user:${u.id}`, null],
      ['console.logout', `user:${u.id}`, null],
    ])
  })

  test('behavior: memberships and their scopes come with the session, as they are now', async () => {
    const u = await user('viewer')
    const { token } = await login(at(0), { email: u.email, password })
    let s = await sessionFor(at(1), token)
    expect([...scopesFor(s.memberships, merchantId)]).toEqual(['payments:read'])
    await grantConsoleRole(handle, { email: u.email, merchantId, role: 'approver' })
    s = await sessionFor(at(2), token)
    expect([...scopesFor(s.memberships, merchantId)].sort()).toEqual(['payments:read', 'withdrawals:approve'])
    expect(scopesFor(s.memberships, 'mer_someone_else').size).toBe(0)
  })

  test('error: malformed and unknown tokens are UNAUTHENTICATED, without a question to the database', async () => {
    const u = await user()
    const { token } = await login(at(0), { email: u.email, password })
    const forged = `tgs_${'A'.repeat(43)}`
    for (const bad of [
      undefined,
      null,
      '',
      42,
      [token],
      `${token} `,
      token.slice(0, -1),
      'x'.repeat(10_240),
      forged,
    ]) {
      const err: TollgateError = await rejection(sessionFor(at(1), bad))
      expect(err.code).toBe('UNAUTHENTICATED')
      expect(await logout(at(1), bad)).toBe(false)
    }
    expect((await sessionFor(at(2), token)).user.id).toBe(u.id)
  })
})

describe('verifyCsrf', () => {
  test('default: the login’s CSRF token is accepted for its session, nothing else is', async () => {
    const u = await user()
    const a = await login(at(0), { email: u.email, password })
    const b = await login(at(0), { email: u.email, password })
    const { session } = await sessionFor(at(1), a.token)
    expect(verifyCsrf(session, a.csrfToken)).toBe(true)
    expect(verifyCsrf(session, b.csrfToken)).toBe(false)
    expect(verifyCsrf(session, a.token)).toBe(false)
    for (const bad of [
      undefined,
      null,
      '',
      `${a.csrfToken} `,
      a.csrfToken.toUpperCase(),
      'x'.repeat(10_240),
      42,
      [a.csrfToken],
      session.csrfHash,
    ])
      expect(verifyCsrf(session, bad)).toBe(false)
  })
})
