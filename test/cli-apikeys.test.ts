import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { count, eq } from 'drizzle-orm'
import { authenticate } from '../src/core/access/api-keys.ts'
import { openDb } from '../src/db/client.ts'
import { apiKeys, auditLog } from '../src/db/schema/index.ts'
import { ok, cli as runCli } from './helpers/cli.ts'
import { createTestDatabase } from './helpers/db.ts'

// `tollgate apikey create --expires-in / --expires-at` and the audit entries the operator's commands leave.

const cli = (args: string[]) => runCli(args, { DATABASE_URL: testDb.url })

let testDb: Awaited<ReturnType<typeof createTestDatabase>>
let merchantId: string

beforeAll(async () => {
  testDb = await createTestDatabase()
  merchantId = JSON.parse(
    ok(await cli(['merchant', 'create', '--name', 'CLI keys', '--json'])).stdout.trim(),
  ).merchantId
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
    const [keys] = await h.db.select({ n: count() }).from(apiKeys)
    const [audit] = await h.db.select({ n: count() }).from(auditLog)
    return { keys: keys!.n, audit: audit!.n }
  })
}

const create = (...extra: string[]) => cli(['apikey', 'create', '--merchant', merchantId, '--json', ...extra])

describe('tollgate apikey create with an expiry', () => {
  test('default: --expires-in 30d gives the key an end 30 days ahead; it authenticates until then', async () => {
    const before = Date.now()
    const out = JSON.parse(ok(await create('--expires-in', '30d')).stdout.trim())
    const expiresAt = Date.parse(out.expiresAt)
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30 * 86_400_000)
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000)
    const auth = await withDb((h) => authenticate(h, `Bearer ${out.apiKey}`))
    expect(auth.expiresAt?.toISOString()).toBe(out.expiresAt)
  })

  test('default: --expires-at stores exactly that instant; without either the key has no expiry', async () => {
    const at = '2031-06-30T12:00:00.000Z'
    const out = JSON.parse(ok(await create('--expires-at', '2031-06-30T14:00:00+02:00')).stdout.trim())
    expect(out.expiresAt).toBe(at)
    const plain = JSON.parse(ok(await create()).stdout.trim())
    expect(plain.expiresAt).toBeNull()
  })

  test('args: without --json the expiry is printed with the key', async () => {
    const run = ok(await cli(['apikey', 'create', '--merchant', merchantId, '--expires-in', '12h']))
    expect(run.stdout).toMatch(/^API key key_\S+ \[.+\] expires \d{4}-\d\d-\d\dT\S+Z \(shown once\): tg_/)
  })

  test('error: malformed or refused expiries exit 1 with a message; no key and no audit entry is written', async () => {
    const before = await written()
    const cases: Array<[string[], string]> = [
      [['--expires-in', '30d', '--expires-at', '2031-01-01T00:00:00Z'], 'not both'],
      [['--expires-in', '30'], '--expires-in takes'],
      [['--expires-in', '-5d'], "'--expires-in' argument is ambiguous"],
      [['--expires-in=-5d'], '--expires-in takes'],
      [['--expires-at'], "'--expires-at <value>' argument missing"],
      [['--expires-after', '5d'], "Unknown option '--expires-after'"],
      [['--expires-in', '1e3d'], '--expires-in takes'],
      [['--expires-in', '5w'], '--expires-in takes'],
      [['--expires-in', '9999999d'], '--expires-in takes'],
      [['--expires-in', ''], '--expires-in takes'],
      [['--expires-in', '0s'], 'INVALID_INPUT'],
      [['--expires-in', '4000d'], 'INVALID_INPUT'],
      [['--expires-at', 'tomorrow'], '--expires-at takes'],
      [['--expires-at', '2031-01-01'], '--expires-at takes'],
      [['--expires-at', '2031-02-30T00:00:00Z'], '--expires-at takes'],
      [['--expires-at', '2020-01-01T00:00:00Z'], 'INVALID_INPUT'],
      [['--expires-at', '2031-01-01T00:00:00Z; drop table api_keys'], '--expires-at takes'],
    ]
    // independent refusals: four command lines at a time
    const runs: Array<Awaited<ReturnType<typeof create>>> = []
    for (let i = 0; i < cases.length; i += 4)
      runs.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => create(...args)))))
    cases.forEach(([args, message], i) => {
      const run = runs[i]!
      expect([args, run.code]).toEqual([args, 1])
      expect(run.stderr).toContain(message)
      expect(run.stdout).not.toContain('tg_')
    })
    expect(await written()).toEqual(before)
  })
})

describe('audit of the operator’s key commands', () => {
  test('default: apikey create and apikey revoke are recorded with the command line as the actor', async () => {
    const out = JSON.parse(ok(await create('--scopes', 'payments:read')).stdout.trim())
    const revoked = ok(await cli(['apikey', 'revoke', out.id]))
    expect(revoked.stdout.trim()).toBe(`revoked ${out.id}`)
    const entries = await withDb((h) =>
      h.db.select().from(auditLog).where(eq(auditLog.targetId, out.id)).orderBy(auditLog.id),
    )
    expect(entries.map((e) => [e.action, e.actor, e.requestId, e.merchantId])).toEqual([
      ['apikey.created', 'cli', null, merchantId],
      ['apikey.revoked', 'cli', null, merchantId],
    ])
  })

  test('behavior: revoking by prefix prints the key’s id', async () => {
    const out = JSON.parse(ok(await create()).stdout.trim())
    const prefix = (out.apiKey as string).split('_')[1] as string
    expect(ok(await cli(['apikey', 'revoke', prefix])).stdout.trim()).toBe(`revoked ${out.id}`)
  })

  test('error: revoking an unknown or malformed id exits 1 with NOT_FOUND and records nothing', async () => {
    const before = await written()
    for (const id of ['key_doesnotexist', 'ffffffffffffffff', "'; drop table api_keys; --", '%']) {
      const run = await cli(['apikey', 'revoke', id])
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('NOT_FOUND')
    }
    expect(await written()).toEqual(before)
  })
})
