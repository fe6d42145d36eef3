import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { count, eq } from 'drizzle-orm'
import { login, sessionFor } from '../src/core/access/console-sessions.ts'
import { membershipsOf } from '../src/core/access/console-users.ts'
import { openDb } from '../src/db/client.ts'
import { auditLog, consoleMemberships, consoleUsers } from '../src/db/schema/index.ts'
import { ok, type Run, cli as runCli } from './helpers/cli.ts'
import { createTestDatabase } from './helpers/db.ts'

// `tollgate console user create|grant`: the first admin comes from the command line, its password from stdin.

let testDb: Awaited<ReturnType<typeof createTestDatabase>>
let merchantId: string
let otherMerchantId: string

const cli = (args: string[]) => runCli(args, { DATABASE_URL: testDb.url })

/** The CLI with `stdin` piped in (the helper's runs get no stdin). */
async function cliWithStdin(args: string[], stdin: string): Promise<Run> {
  const proc = Bun.spawn(['bun', 'src/cli.ts', ...args], {
    cwd: join(import.meta.dir, '..'),
    env: {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      TOLLGATE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: testDb.url,
    },
    stdin: new Blob([stdin]),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr }
}

beforeAll(async () => {
  testDb = await createTestDatabase()
  const merchant = async (name: string) =>
    JSON.parse(ok(await cli(['merchant', 'create', '--name', name, '--json'])).stdout.trim())
      .merchantId as string
  merchantId = await merchant('Console CLI')
  otherMerchantId = await merchant('Console CLI other')
})
afterAll(() => testDb?.drop())

async function withDb<T>(fn: (handle: Awaited<ReturnType<typeof openDb>>) => Promise<T>): Promise<T> {
  const handle = await openDb({ url: testDb.url, maxConnections: 1 })
  try {
    return await fn(handle)
  } finally {
    await handle.close()
  }
}

async function written() {
  return withDb(async (h) => {
    const [users] = await h.db.select({ n: count() }).from(consoleUsers)
    const [memberships] = await h.db.select({ n: count() }).from(consoleMemberships)
    const [audit] = await h.db.select({ n: count() }).from(auditLog)
    return { users: users!.n, memberships: memberships!.n, audit: audit!.n }
  })
}

const password = 'a long passphrase for the first admin'
const create = (email: string, stdin: string, ...extra: string[]) =>
  cliWithStdin(
    [
      'console',
      'user',
      'create',
      '--email',
      email,
      '--name',
      'First Admin',
      '--merchant',
      merchantId,
      '--role',
      'admin',
      ...extra,
    ],
    stdin,
  )

describe('tollgate console user create', () => {
  test('default: the first admin, password from stdin; prints the id; they can sign in; audited as the CLI', async () => {
    const run = ok(await create('admin@example.com', `${password}\n`))
    const id = run.stdout.trim()
    expect(id).toMatch(/^usr_[0-9a-f]{32}$/)
    expect(run.stdout + run.stderr).not.toContain(password)
    await withDb(async (h) => {
      const [row] = await h.db.select().from(consoleUsers).where(eq(consoleUsers.id, id))
      expect(row!.passwordHash).toStartWith('$argon2id$')
      expect(row!.displayName).toBe('First Admin')
      expect(await membershipsOf(h.db, id)).toEqual([{ merchantId, role: 'admin' }])
      // the trailing line break is not part of the password
      const signedIn = await login(h, { email: 'ADMIN@example.com', password })
      expect(signedIn.user.id).toBe(id)
      const audit = await h.db.select().from(auditLog).where(eq(auditLog.targetId, id)).orderBy(auditLog.id)
      expect(audit.map((a) => [a.action, a.actor, a.merchantId])).toEqual([
        ['console.user_created', 'cli', null],
        ['console.role_granted', 'cli', merchantId],
      ])
    })
  })

  test('error: no password on stdin, a --password option, a weak password, a taken email or a bad role exit 1; nothing is written', async () => {
    ok(await create('taken@example.com', password))
    const before = await written()
    const cases: Array<[Promise<Run>, string]> = [
      [create('empty@example.com', ''), 'no password on stdin'],
      [create('flag@example.com', password, '--password', password), "Unknown option '--password'"],
      [create('short@example.com', 'too short'), 'INVALID_INPUT'],
      [create('same@example.com', 'same@example.com'), 'INVALID_INPUT'],
      [create('TAKEN@example.com', password), 'a console user with this email exists'],
      [create('bad email', password), 'INVALID_INPUT'],
      [create('nul@example.com', `${password}\u0000`), 'INVALID_INPUT'],
      [create('role@example.com', password, '--role', 'root'), 'INVALID_INPUT'],
      [create('merchant@example.com', password, '--merchant', 'mer_nope'), 'NOT_FOUND'],
      [
        cliWithStdin(
          [
            'console',
            'user',
            'create',
            '--email',
            'noname@example.com',
            '--merchant',
            merchantId,
            '--role',
            'admin',
          ],
          password,
        ),
        '--name is required',
      ],
    ]
    for (const [running, message] of cases) {
      const run = await running
      expect([run.code, run.stderr.includes(message), message]).toEqual([1, true, message])
      expect(run.stdout).toBe('')
    }
    expect(await written()).toEqual(before)
  })
})

describe('tollgate console user grant', () => {
  test('default: one more role, for another merchant too; granting it again says so and changes nothing', async () => {
    const id = ok(await create('grantee@example.com', password)).stdout.trim()
    const grant = (...args: string[]) =>
      cli(['console', 'user', 'grant', '--email', 'grantee@example.com', ...args])
    expect(ok(await grant('--merchant', otherMerchantId, '--role', 'approver')).stdout.trim()).toBe(
      `grantee@example.com (${id}) is approver of ${otherMerchantId}`,
    )
    const before = await written()
    expect(ok(await grant('--merchant', otherMerchantId, '--role', 'approver')).stdout.trim()).toBe(
      `grantee@example.com (${id}) was approver of ${otherMerchantId} already`,
    )
    expect(await written()).toEqual(before)
    await withDb(async (h) => {
      const memberships = await membershipsOf(h.db, id)
      expect(memberships).toContainEqual({ merchantId, role: 'admin' })
      expect(memberships).toContainEqual({ merchantId: otherMerchantId, role: 'approver' })
      const [granted] = await h.db
        .select()
        .from(auditLog)
        .where(eq(auditLog.merchantId, otherMerchantId))
        .orderBy(auditLog.id)
        .then((rows) => rows.filter((r) => r.action === 'console.role_granted'))
      expect([granted!.actor, granted!.targetId, granted!.data]).toEqual([
        'cli',
        id,
        { email: 'grantee@example.com', role: 'approver' },
      ])
    })
  })

  test('error: an unknown user or merchant, a bad role or a missing option exit 1; nothing is written', async () => {
    const before = await written()
    const cases: Array<[string[], string]> = [
      [['--email', 'nobody@example.com', '--merchant', merchantId, '--role', 'viewer'], 'NOT_FOUND'],
      [['--email', 'admin@example.com', '--merchant', 'mer_nope', '--role', 'viewer'], 'NOT_FOUND'],
      [['--email', 'admin@example.com', '--merchant', merchantId, '--role', 'owner'], 'INVALID_INPUT'],
      [['--email', 'admin@example.com', '--merchant', merchantId], '--role is required'],
      [
        ['--email', 'admin@example.com', '--merchant', merchantId, '--role', 'viewer', '--name', 'X'],
        '--name is for',
      ],
    ]
    // independent refusals, run side by side
    const runs = await Promise.all(cases.map(([args]) => cli(['console', 'user', 'grant', ...args])))
    cases.forEach(([, message], i) => {
      const run = runs[i]!
      expect([run.code, run.stderr.includes(message), message]).toEqual([1, true, message])
    })
    expect((await cli(['console', 'user', 'delete'])).code).toBe(1)
    expect(await written()).toEqual(before)
  })
})

describe('tollgate console user reset-password', () => {
  const reset = (email: string, stdin: string, ...extra: string[]) =>
    cliWithStdin(['console', 'user', 'reset-password', '--email', email, ...extra], stdin)
  const fresh = 'a replacement passphrase of words'

  test('default: the new password (from stdin) works, the old one does not; every session ends and the email lock lifts; audited', async () => {
    const id = ok(await create('forgetful@example.com', password)).stdout.trim()
    const before = await withDb(async (h) => {
      const signedIn = await login({ db: h.db }, { email: 'forgetful@example.com', password })
      // locked out by failures, as a person who forgot it would be
      for (let i = 0; i < 5; i++)
        await login({ db: h.db }, { email: 'forgetful@example.com', password: `guess number ${i}` }).catch(
          () => undefined,
        )
      return signedIn
    })
    const run = ok(await reset('FORGETFUL@example.com', fresh))
    expect(run.stdout.trim()).toBe(`FORGETFUL@example.com (${id}): password replaced, sessions ended`)
    await withDb(async (h) => {
      await expect(sessionFor({ db: h.db }, before.token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
      await expect(login({ db: h.db }, { email: 'forgetful@example.com', password })).rejects.toMatchObject({
        code: 'LOGIN_FAILED',
      })
      expect((await login({ db: h.db }, { email: 'forgetful@example.com', password: fresh })).user.id).toBe(
        id,
      )
      const entries = await h.db.select().from(auditLog).where(eq(auditLog.targetId, id)).orderBy(auditLog.id)
      expect(entries.filter((e) => e.action === 'console.password_reset').map((e) => e.actor)).toEqual([
        'cli',
      ])
    })
  })

  test('error: an unknown email, a weak password, no stdin or other options exit 1; nothing is written', async () => {
    ok(await create('steady@example.com', password))
    const before = await written()
    const cases: Array<[Promise<Run>, string]> = [
      [reset('nobody@example.com', fresh), 'NOT_FOUND'],
      [reset('steady@example.com', 'short'), 'INVALID_INPUT'],
      [reset('steady@example.com', `${fresh}\u0000`), 'INVALID_INPUT'],
      [reset('steady@example.com', ''), 'stdin'],
      [reset('steady@example.com', fresh, '--role', 'admin'), 'takes --email only'],
      [cliWithStdin(['console', 'user', 'reset-password'], fresh), '--email is required'],
    ]
    for (const [running, message] of cases) {
      const run = await running
      expect([run.code, run.stderr.includes(message), message]).toEqual([1, true, message])
    }
    expect(await written()).toEqual(before)
    await withDb(async (h) => {
      expect((await login({ db: h.db }, { email: 'steady@example.com', password })).user.email).toBe(
        'steady@example.com',
      )
    })
  })
})
