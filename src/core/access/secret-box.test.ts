import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { openUnitDb, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { consoleUsers } from '../../db/schema/index.ts'
import { errorKind } from '../errors.ts'
import { login } from './console-sessions.ts'
import { confirmTotp, createConsoleUser, startTotp } from './console-users.ts'
import { isSealed, openSecret, sealSecret, secretKeyOf } from './secret-box.ts'
import { totpCode } from './totp.ts'

const key = randomBytes(32)
const otherKey = randomBytes(32)

describe('sealed TOTP secrets', () => {
  test('default: sealed for one user under one key, opened only there', () => {
    const sealed = sealSecret(key, 'cu_1', 'JBSWY3DPEHPK3PXP')
    expect(isSealed(sealed)).toBe(true)
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP')
    expect(openSecret(key, 'cu_1', sealed)).toBe('JBSWY3DPEHPK3PXP')
    // a fresh nonce each time: the same secret never seals to the same text
    expect(sealSecret(key, 'cu_1', 'JBSWY3DPEHPK3PXP')).not.toBe(sealed)
  })

  test('error: another user, another key, no key, or a tampered value opens nothing (a permanent fault)', () => {
    const sealed = sealSecret(key, 'cu_1', 'JBSWY3DPEHPK3PXP')
    const last = sealed.at(-1) === 'A' ? 'B' : 'A'
    for (const [k, owner, value] of [
      [key, 'cu_2', sealed],
      [otherKey, 'cu_1', sealed],
      [undefined, 'cu_1', sealed],
      [key, 'cu_1', `${sealed.slice(0, -1)}${last}`],
      [key, 'cu_1', 'v1.nonsense'],
    ] as const) {
      let thrown: unknown
      try {
        openSecret(k, owner, value)
      } catch (err) {
        thrown = err
      }
      expect(errorKind(thrown)).toBe('permanent')
      expect((thrown as { code: string }).code).toBe('TOTP_SECRET_UNREADABLE')
    }
  })

  test('behavior: without a key a secret is kept as it is, and such a plain value still opens under a key', () => {
    expect(sealSecret(undefined, 'cu_1', 'JBSWY3DPEHPK3PXP')).toBe('JBSWY3DPEHPK3PXP')
    expect(openSecret(key, 'cu_1', 'JBSWY3DPEHPK3PXP')).toBe('JBSWY3DPEHPK3PXP')
  })

  test('error: CONSOLE_SECRET_KEY must be 64 hex digits', () => {
    expect(secretKeyOf(undefined)).toBeUndefined()
    expect(secretKeyOf('ab'.repeat(32))?.length).toBe(32)
    for (const bad of ['ab'.repeat(31), 'zz'.repeat(32), `${'ab'.repeat(32)}\n`])
      expect(() => secretKeyOf(bad)).toThrow('64 hex digits')
  })
})

describe('two-factor with a sealing key', () => {
  let handle: DbHandle
  let merchantId: string
  beforeAll(async () => {
    handle = await openUnitDb()
    merchantId = await unitMerchant(handle, 'Sealed shop')
  }, 30_000)
  afterAll(() => handle.close())
  const password = 'correct horse battery staple'
  const storedSecret = async (id: string) =>
    (await handle.db.select().from(consoleUsers).where(eq(consoleUsers.id, id)))[0]?.totpSecret ?? null

  async function enrolled(ctx: { db: DbHandle['db']; consoleSecretKey?: Buffer }) {
    const email = `sealed-${crypto.randomUUID().slice(0, 8)}@example.com`
    const { id } = await createConsoleUser(handle, {
      email,
      displayName: 'Sealed',
      password,
      membership: { merchantId, role: 'viewer' },
    })
    const { secret } = await startTotp(ctx, { userId: id })
    const enrolledAt = new Date(Date.now() - 120_000)
    await confirmTotp({ ...ctx, now: () => enrolledAt }, { userId: id, code: totpCode(secret, enrolledAt) })
    return { id, email, secret }
  }

  test('default: the stored secret is sealed; a login with the code works with the key, and fails without it', async () => {
    const u = await enrolled({ db: handle.db, consoleSecretKey: key })
    const stored = await storedSecret(u.id)
    expect(isSealed(stored as string)).toBe(true)
    expect(stored).not.toContain(u.secret)
    const signedIn = await login(
      { db: handle.db, consoleSecretKey: key },
      { email: u.email, password, totp: totpCode(u.secret, new Date()) },
    )
    expect(signedIn.user.id).toBe(u.id)
    const withoutKey = await login(
      { db: handle.db },
      { email: u.email, password, totp: totpCode(u.secret, new Date(Date.now() + 30_000)) },
    ).catch((err: unknown) => err)
    expect(errorKind(withoutKey)).toBe('permanent')
  })

  test('behavior: a secret stored before the key was set is sealed at its owner next login', async () => {
    const u = await enrolled({ db: handle.db })
    expect(await storedSecret(u.id)).toBe(u.secret)
    await login(
      { db: handle.db, consoleSecretKey: key },
      { email: u.email, password, totp: totpCode(u.secret, new Date()) },
    )
    const stored = await storedSecret(u.id)
    expect(isSealed(stored as string)).toBe(true)
    expect(openSecret(key, u.id, stored as string)).toBe(u.secret)
  })
})
