import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { count, eq } from 'drizzle-orm'
import { openUnitDb, rejection, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { auditLog, consoleMemberships, consoleUsers } from '../../db/schema/index.ts'
import {
  confirmTotp,
  createConsoleUser,
  grantConsoleRole,
  type ConsoleMembership as Membership,
  membershipsOf,
  startTotp,
} from './console-users.ts'
import { totpCode } from './totp.ts'

let handle: DbHandle
let merchantId: string
let otherMerchantId: string
beforeAll(async () => {
  handle = await openUnitDb()
  merchantId = await unitMerchant(handle, 'Console shop')
  otherMerchantId = await unitMerchant(handle, 'Other shop')
}, 30_000)
afterAll(() => handle.close())

const password = 'correct horse battery staple'
let emails = 0
const freshEmail = () => `user${++emails}@example.com`

async function written() {
  const [users] = await handle.db.select({ n: count() }).from(consoleUsers)
  const [memberships] = await handle.db.select({ n: count() }).from(consoleMemberships)
  const [audit] = await handle.db.select({ n: count() }).from(auditLog)
  return { users: users!.n, memberships: memberships!.n, audit: audit!.n }
}

const auditOf = (targetId: string) =>
  handle.db.select().from(auditLog).where(eq(auditLog.targetId, targetId)).orderBy(auditLog.id)

describe('createConsoleUser', () => {
  test('default: a user with a first role; the password is kept only as an argon2id hash; audited', async () => {
    const email = freshEmail()
    const { id } = await createConsoleUser(handle, {
      email,
      displayName: '  Ana Admin ',
      password,
      membership: { merchantId, role: 'admin' },
    })
    expect(id).toMatch(/^usr_[0-9a-f]{32}$/)
    const [row] = await handle.db.select().from(consoleUsers).where(eq(consoleUsers.id, id))
    expect(row!.email).toBe(email)
    expect(row!.displayName).toBe('Ana Admin')
    expect(row!.passwordHash).toStartWith('$argon2id$v=19$m=19456,t=2,p=1$')
    expect(JSON.stringify(row)).not.toContain(password)
    expect(await Bun.password.verify(password, row!.passwordHash)).toBe(true)
    expect(row!.totpSecret).toBeNull()
    expect(row!.totpConfirmed).toBe(false)
    expect(row!.disabledAt).toBeNull()
    expect(await membershipsOf(handle.db, id)).toEqual([{ merchantId, role: 'admin' }])
    const audit = await auditOf(id)
    expect(audit.map((a) => [a.action, a.actor, a.merchantId])).toEqual([
      ['console.user_created', 'cli', null],
      ['console.role_granted', 'cli', merchantId],
    ])
    expect(audit[1]!.data).toEqual({ email, role: 'admin' })
    expect(JSON.stringify(audit)).not.toContain(password)
  })

  test('behavior: emails are unique whatever their case; the second user is refused and nothing is written', async () => {
    const email = freshEmail()
    await createConsoleUser(handle, { email, displayName: 'First', password })
    const before = await written()
    const err = await rejection(
      createConsoleUser(handle, { email: email.toUpperCase(), displayName: 'Second', password }),
    )
    expect([err.code, err.field]).toEqual(['INVALID_INPUT', 'email'])
    expect(await written()).toEqual(before)
  })

  test('error: password rules: 12 to 200 characters, not one character repeated, not the email', async () => {
    const email = freshEmail()
    const before = await written()
    for (const bad of [
      'short',
      'elevenchars',
      'a'.repeat(12),
      '€'.repeat(40),
      'p'.repeat(201),
      email,
      email.toUpperCase(),
    ]) {
      const err = await rejection(createConsoleUser(handle, { email, displayName: 'Rules', password: bad }))
      expect([err.code, err.field]).toEqual(['INVALID_INPUT', 'password'])
    }
    expect(await written()).toEqual(before)
    // the limits themselves are fine; characters are counted, not bytes
    await createConsoleUser(handle, { email, displayName: 'Rules', password: 'ab'.repeat(6) })
    await createConsoleUser(handle, { email: freshEmail(), displayName: 'Long', password: '€b'.repeat(100) })
  })

  test('error: hostile input is INVALID_INPUT on its field and writes nothing', async () => {
    const before = await written()
    const big = 'x'.repeat(10_240)
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ email: `${big}@example.com` }, 'email'],
      [{ email: 'ana@example.com\u0000' }, 'email'],
      [{ email: 'ana\n@example.com' }, 'email'],
      [{ email: 'ana@exa\u202emple.com' }, 'email'],
      [{ email: 'not an email' }, 'email'],
      [{ email: '@example.com' }, 'email'],
      [{ email: 42 }, 'email'],
      [{ email: { toString: () => 'ana@example.com' } }, 'email'],
      [{ email: null }, 'email'],
      [{ password: big }, 'password'],
      [{ password: `${password}\u0000` }, 'password'],
      [{ password: `${password}\n` }, 'password'],
      [{ password: 123456789012345 }, 'password'],
      [{ password: [password] }, 'password'],
      [{ password: undefined }, 'password'],
      [{ displayName: big }, 'displayName'],
      [{ displayName: '' }, 'displayName'],
      [{ displayName: '   ' }, 'displayName'],
      [{ displayName: 'Ana\u001b[31m' }, 'displayName'],
      [{ displayName: 'Ana\u2066' }, 'displayName'],
      [{ displayName: 7 }, 'displayName'],
      [{ membership: { merchantId, role: 'root' } }, 'role'],
      [{ membership: { merchantId, role: { admin: true } } }, 'role'],
    ]
    for (const [override, field] of cases) {
      const err = await rejection(
        createConsoleUser(handle, { email: freshEmail(), displayName: 'Hostile', password, ...override }),
      )
      expect([err.code, err.field, override]).toEqual(['INVALID_INPUT', field, override])
    }
    for (const bad of ['mer_doesnotexist', "mer_x'; drop table console_users; --", 7, null]) {
      const err = await rejection(
        createConsoleUser(handle, {
          email: freshEmail(),
          displayName: 'Hostile',
          password,
          membership: { merchantId: bad, role: 'admin' },
        }),
      )
      expect(err.code).toBe('NOT_FOUND')
    }
    expect(await written()).toEqual(before)
  })
})

describe('grantConsoleRole', () => {
  test('default: roles for several merchants add up; granting a held role again changes nothing', async () => {
    const email = freshEmail()
    const { id } = await createConsoleUser(handle, {
      email,
      displayName: 'Multi',
      password,
      membership: { merchantId, role: 'viewer' },
    })
    expect(
      await grantConsoleRole(handle, { email: email.toUpperCase(), merchantId, role: 'approver' }),
    ).toEqual({
      userId: id,
      granted: true,
    })
    await grantConsoleRole(handle, {
      email,
      merchantId: otherMerchantId,
      role: 'compliance',
      actor: { userId: 'usr_boss' },
    })
    const before = await written()
    expect(await grantConsoleRole(handle, { email, merchantId, role: 'viewer' })).toEqual({
      userId: id,
      granted: false,
    })
    expect(await written()).toEqual(before)
    const byMerchantThenRole = (a: Membership, b: Membership) =>
      a.merchantId.localeCompare(b.merchantId) || a.role.localeCompare(b.role)
    expect((await membershipsOf(handle.db, id)).sort(byMerchantThenRole)).toEqual(
      [
        { merchantId, role: 'approver' } as const,
        { merchantId, role: 'viewer' } as const,
        { merchantId: otherMerchantId, role: 'compliance' } as const,
      ].sort(byMerchantThenRole),
    )
    const grants = (await auditOf(id)).filter((a) => a.action === 'console.role_granted')
    expect(grants.map((g) => [g.actor, g.merchantId, g.data])).toEqual([
      ['cli', merchantId, { email, role: 'viewer' }],
      ['cli', merchantId, { email, role: 'approver' }],
      ['user:usr_boss', otherMerchantId, { email, role: 'compliance' }],
    ])
  })

  test('error: an unknown user or merchant is NOT_FOUND, a bad role INVALID_INPUT; nothing is written', async () => {
    const email = freshEmail()
    await createConsoleUser(handle, { email, displayName: 'Grantee', password })
    const before = await written()
    expect(
      (await rejection(grantConsoleRole(handle, { email: freshEmail(), merchantId, role: 'viewer' }))).code,
    ).toBe('NOT_FOUND')
    expect(
      (await rejection(grantConsoleRole(handle, { email, merchantId: 'mer_nope', role: 'viewer' }))).code,
    ).toBe('NOT_FOUND')
    const err = await rejection(grantConsoleRole(handle, { email, merchantId, role: 'superuser' }))
    expect([err.code, err.field]).toEqual(['INVALID_INPUT', 'role'])
    expect(await written()).toEqual(before)
  })
})

describe('TOTP enrollment', () => {
  test('default: start gives a secret and its URI; a code from it turns two-factor on; audited', async () => {
    const email = freshEmail()
    const { id } = await createConsoleUser(handle, { email, displayName: 'Two factor', password })
    const now = new Date('2030-01-01T00:00:00Z')
    const { secret, uri } = await startTotp(handle, { userId: id })
    expect(uri).toContain(`secret=${secret}`)
    expect(uri).toContain(encodeURIComponent(email))
    const ctx = { db: handle.db, now: () => now }
    const wrong = await rejection(
      confirmTotp(ctx, { userId: id, code: totpCode(secret, new Date(now.getTime() + 90_000)) }),
    )
    expect([wrong.code, wrong.field]).toEqual(['INVALID_INPUT', 'code'])
    let [row] = await handle.db.select().from(consoleUsers).where(eq(consoleUsers.id, id))
    expect(row!.totpConfirmed).toBe(false)
    await confirmTotp(ctx, { userId: id, code: totpCode(secret, now) })
    ;[row] = await handle.db.select().from(consoleUsers).where(eq(consoleUsers.id, id))
    expect(row!.totpConfirmed).toBe(true)
    expect(row!.totpSecret).toBe(secret)
    // the enrolling code's step counts as used
    expect(row!.totpLastStep).toBe(Math.floor(now.getTime() / 30_000))
    expect((await auditOf(id)).map((a) => [a.action, a.actor])).toContainEqual([
      'console.totp_enrolled',
      `user:${id}`,
    ])
    // on already: neither a new start nor a second confirmation
    expect((await rejection(startTotp(handle, { userId: id }))).code).toBe('INVALID_STATE')
    expect((await rejection(confirmTotp(ctx, { userId: id, code: totpCode(secret, now) }))).code).toBe(
      'INVALID_STATE',
    )
  })

  test('behavior: starting again replaces the pending secret; confirming needs a started enrollment', async () => {
    const { id } = await createConsoleUser(handle, { email: freshEmail(), displayName: 'Restart', password })
    const now = new Date('2030-01-01T00:00:00Z')
    const ctx = { db: handle.db, now: () => now }
    expect((await rejection(confirmTotp(ctx, { userId: id, code: '123456' }))).code).toBe('INVALID_STATE')
    const first = await startTotp(handle, { userId: id })
    const second = await startTotp(handle, { userId: id })
    expect(second.secret).not.toBe(first.secret)
    expect((await rejection(confirmTotp(ctx, { userId: id, code: totpCode(first.secret, now) }))).code).toBe(
      'INVALID_INPUT',
    )
    await confirmTotp(ctx, { userId: id, code: totpCode(second.secret, now) })
  })
})
