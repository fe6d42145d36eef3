import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, count, eq } from 'drizzle-orm'
import { openUnitDb, rejection, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { auditLog, consoleMemberships, consoleUsers } from '../../db/schema/index.ts'
import { addConsoleMember, listConsoleMembers, removeConsoleRole } from './console-members.ts'
import { createConsoleUser, disableConsoleUser, grantConsoleRole, membershipsOf } from './console-users.ts'

let handle: DbHandle
let merchantId: string
let otherMerchantId: string
beforeAll(async () => {
  handle = await openUnitDb()
  merchantId = await unitMerchant(handle, 'Members shop')
  otherMerchantId = await unitMerchant(handle, 'Other shop')
}, 30_000)
afterAll(() => handle.close())

const password = 'correct horse battery staple'
const actor = { keyId: 'user:usr_acting', requestId: 'req_1' }
let emails = 0
const freshEmail = () => `member${++emails}@example.com`

async function written() {
  const [users] = await handle.db.select({ n: count() }).from(consoleUsers)
  const [memberships] = await handle.db.select({ n: count() }).from(consoleMemberships)
  const [audit] = await handle.db.select({ n: count() }).from(auditLog)
  return { users: users!.n, memberships: memberships!.n, audit: audit!.n }
}

async function admin(at = merchantId) {
  const email = freshEmail()
  const { id } = await createConsoleUser(handle, {
    email,
    displayName: `Admin ${email}`,
    password,
    membership: { merchantId: at, role: 'admin' },
  })
  return { id, email }
}

describe('addConsoleMember', () => {
  test('default: a new email makes a user with the initial password and the role here; audited with the actor', async () => {
    const email = freshEmail()
    const member = await addConsoleMember(handle, {
      merchantId,
      email: ` ${email} `,
      name: '  <img src=x onerror=alert(1)> ',
      role: 'viewer',
      password,
      actor,
    })
    expect(member).toEqual({
      id: expect.stringMatching(/^usr_/),
      email,
      name: '<img src=x onerror=alert(1)>',
      roles: ['viewer'],
      totpEnabled: false,
      disabled: false,
    })
    const [row] = await handle.db.select().from(consoleUsers).where(eq(consoleUsers.id, member.id))
    expect(await Bun.password.verify(password, row!.passwordHash)).toBe(true)
    const audit = await handle.db.select().from(auditLog).where(eq(auditLog.targetId, member.id))
    expect(audit.map((a) => [a.action, a.actor, a.merchantId, a.requestId])).toEqual([
      ['console.user_created', 'user:usr_acting', null, 'req_1'],
      ['console.role_granted', 'user:usr_acting', merchantId, 'req_1'],
    ])
  })

  test('default: an existing email (any case) only gains the role; its name and password stay; a second grant changes nothing', async () => {
    const email = freshEmail()
    const { id } = await createConsoleUser(handle, {
      email,
      displayName: 'Own Name',
      password,
      membership: { merchantId: otherMerchantId, role: 'approver' },
    })
    const before = await written()
    const member = await addConsoleMember(handle, {
      merchantId,
      email: email.toUpperCase(),
      name: 'Typed Name',
      role: 'operator',
      password: 'another long password',
      actor,
    })
    // the other merchant's role is not shown here
    expect(member).toEqual({
      id,
      email,
      name: 'Own Name',
      roles: ['operator'],
      totpEnabled: false,
      disabled: false,
    })
    const [row] = await handle.db.select().from(consoleUsers).where(eq(consoleUsers.id, id))
    expect(await Bun.password.verify(password, row!.passwordHash)).toBe(true)
    expect(await written()).toEqual({
      ...before,
      memberships: before.memberships + 1,
      audit: before.audit + 1,
    })

    const again = await addConsoleMember(handle, {
      merchantId,
      email,
      name: 'x',
      role: 'operator',
      password: 'another long password',
      actor,
    })
    expect(again).toEqual(member)
    expect(await written()).toEqual({
      ...before,
      memberships: before.memberships + 1,
      audit: before.audit + 1,
    })
  })

  test('error: bad email, name, role or password are INVALID_INPUT on their field, for new and existing emails alike; nothing written', async () => {
    const existing = freshEmail()
    await createConsoleUser(handle, { email: existing, displayName: 'E', password })
    const before = await written()
    const good = { name: 'N', role: 'viewer', password }
    for (const email of [freshEmail(), existing])
      for (const [field, bad] of [
        ['email', { email: 'x'.repeat(10_000) }],
        ['email', { email: 'a@b.c\nBcc: x@y.z' }],
        ['email', { email: 'a\u0000@b.c' }],
        ['name', { name: 'x'.repeat(10_000) }],
        ['name', { name: 'Ana\nAdmin' }],
        ['name', { name: 'Ana\u0000' }],
        ['name', { name: '   ' }],
        ['role', { role: 'owner' }],
        ['role', { role: 'ADMIN' }],
        ['password', { password: 'short' }],
        ['password', { password: 'a'.repeat(20) }],
        ['password', { password: `${'p'.repeat(11)}\u0000x` }],
        ['password', { password: 'x'.repeat(10_000) }],
      ] as const) {
        const err = await rejection(
          addConsoleMember(handle, { merchantId, actor, ...good, email, ...(bad as Record<string, string>) }),
        )
        expect([err.code, err.field]).toEqual(['INVALID_INPUT', field])
      }
    const sameAsEmail = await rejection(
      addConsoleMember(handle, {
        merchantId,
        ...good,
        email: existing,
        password: existing.toUpperCase(),
        actor,
      }),
    )
    expect(sameAsEmail.field).toBe('password')
    expect(await written()).toEqual(before)
  })
})

describe('listConsoleMembers', () => {
  test('default: only this merchant’s members, each with only their roles here, two-factor and disabled', async () => {
    const shop = await unitMerchant(handle, 'List shop')
    const other = await unitMerchant(handle, 'List other')
    const both = freshEmail()
    const a = await createConsoleUser(handle, {
      email: both,
      displayName: 'Bea',
      password,
      membership: { merchantId: shop, role: 'admin' },
    })
    await grantConsoleRole(handle, { email: both, merchantId: shop, role: 'viewer' })
    await grantConsoleRole(handle, { email: both, merchantId: other, role: 'compliance' })
    const gone = freshEmail()
    const b = await createConsoleUser(handle, {
      email: gone,
      displayName: 'al',
      password,
      membership: { merchantId: shop, role: 'operator' },
    })
    await disableConsoleUser(handle, { email: gone })
    await createConsoleUser(handle, {
      email: freshEmail(),
      displayName: 'Elsewhere',
      password,
      membership: { merchantId: other, role: 'admin' },
    })
    expect(await listConsoleMembers(handle, shop)).toEqual([
      { id: b.id, email: gone, name: 'al', roles: ['operator'], totpEnabled: false, disabled: true },
      { id: a.id, email: both, name: 'Bea', roles: ['viewer', 'admin'], totpEnabled: false, disabled: false },
    ])
  })
})

describe('removeConsoleRole', () => {
  test('default: takes one role here back (other merchants’ rows stay), audited; the member as left, undefined once none is left', async () => {
    const email = freshEmail()
    const { id } = await createConsoleUser(handle, {
      email,
      displayName: 'Rita',
      password,
      membership: { merchantId, role: 'operator' },
    })
    await grantConsoleRole(handle, { email, merchantId, role: 'viewer' })
    await grantConsoleRole(handle, { email, merchantId: otherMerchantId, role: 'operator' })
    const left = await removeConsoleRole(handle, { merchantId, userId: id, role: 'operator', actor })
    expect(left?.roles).toEqual(['viewer'])
    expect(await membershipsOf(handle.db, id)).toEqual(
      [
        { merchantId, role: 'viewer' as const },
        { merchantId: otherMerchantId, role: 'operator' as const },
      ].sort((x, y) => x.merchantId.localeCompare(y.merchantId)),
    )
    const [audit] = await handle.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetId, id), eq(auditLog.action, 'console.role_removed')))
    expect(audit).toMatchObject({
      merchantId,
      actor: 'user:usr_acting',
      requestId: 'req_1',
      data: { email, role: 'operator' },
    })
    expect(await removeConsoleRole(handle, { merchantId, userId: id, role: 'viewer', actor })).toBeUndefined()
    expect(await membershipsOf(handle.db, id)).toEqual([{ merchantId: otherMerchantId, role: 'operator' }])
  })

  test('error: the last enabled admin is INVALID_STATE; with a second admin it goes; a disabled admin does not count', async () => {
    const shop = await unitMerchant(handle, 'Admins shop')
    const first = await admin(shop)
    const last = await rejection(
      removeConsoleRole(handle, { merchantId: shop, userId: first.id, role: 'admin', actor }),
    )
    expect([last.code, last.message]).toEqual([
      'INVALID_STATE',
      'this is the last admin of the merchant: make someone else an admin first',
    ])
    const second = await admin(shop)
    await disableConsoleUser(handle, { email: second.email })
    expect(
      (
        await rejection(
          removeConsoleRole(handle, { merchantId: shop, userId: first.id, role: 'admin', actor }),
        )
      ).code,
    ).toBe('INVALID_STATE')
    // the disabled admin's role can go: it manages nothing
    await removeConsoleRole(handle, { merchantId: shop, userId: second.id, role: 'admin', actor })
    const third = await admin(shop)
    await removeConsoleRole(handle, { merchantId: shop, userId: first.id, role: 'admin', actor })
    expect((await listConsoleMembers(handle, shop)).map((m) => m.id)).toEqual([third.id])
  })

  test('error: another merchant’s user, an unknown id, a role not held are NOT_FOUND; bad role or id INVALID_INPUT; nothing written', async () => {
    const elsewhere = await admin(otherMerchantId)
    const email = freshEmail()
    const { id } = await createConsoleUser(handle, {
      email,
      displayName: 'V',
      password,
      membership: { merchantId, role: 'viewer' },
    })
    const before = await written()
    for (const [userId, role, code, field] of [
      [elsewhere.id, 'admin', 'NOT_FOUND', undefined],
      ['usr_nobody', 'viewer', 'NOT_FOUND', undefined],
      [id, 'operator', 'NOT_FOUND', undefined],
      [id, 'owner', 'INVALID_INPUT', 'role'],
      [id, 'viewer\n', 'INVALID_INPUT', 'role'],
      ['x'.repeat(10_000), 'viewer', 'INVALID_INPUT', 'userId'],
      ['usr_\u0000', 'viewer', 'INVALID_INPUT', 'userId'],
    ] as const) {
      const err = await rejection(removeConsoleRole(handle, { merchantId, userId, role, actor }))
      expect([err.code, err.field]).toEqual([code, field])
    }
    expect(await written()).toEqual(before)
    expect(await membershipsOf(handle.db, elsewhere.id)).toEqual([
      { merchantId: otherMerchantId, role: 'admin' },
    ])
  })
})
