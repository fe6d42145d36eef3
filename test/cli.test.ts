import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { authenticate } from '../src/core/access/api-keys.ts'
import { createSigner, isValidMnemonic } from '../src/core/payouts/signer.ts'
import { openDb } from '../src/db/client.ts'
import { merchants } from '../src/db/schema/index.ts'
import { parseEnv } from '../src/env.ts'
import { deriveEvmAddress, publicKeyToEvmAddress } from '../src/plugins/evm/derive.ts'
import { testMnemonic } from './helpers/app.ts'
import { cli, ok } from './helpers/cli.ts'
import { createTestDatabase, pgServerUrl } from './helpers/db.ts'

const _root = join(import.meta.dir, '..')
const account0 = "m/44'/60'/0'"

let testDb: Awaited<ReturnType<typeof createTestDatabase>>
let dbEnv: Record<string, string>
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-cli-'))

beforeAll(async () => {
  testDb = await createTestDatabase()
  dbEnv = { DATABASE_URL: testDb.url }
})
afterAll(async () => {
  await testDb?.drop()
  rmSync(tmp, { recursive: true, force: true })
})

async function withDb<T>(fn: (handle: Awaited<ReturnType<typeof openDb>>) => Promise<T>): Promise<T> {
  const handle = await openDb({ url: testDb.url, maxConnections: 1 })
  try {
    return await fn(handle)
  } finally {
    await handle.close()
  }
}

describe('tollgate migrate', () => {
  test('default: migrates an empty Postgres database, and a second run is a no-op', async () => {
    const name = `tollgate_t_cli_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
    const admin = postgres(`${pgServerUrl}/postgres`, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create database "${name}"`)
    try {
      const url = `${pgServerUrl}/${name}`
      const first = ok(await cli(['migrate'], { DATABASE_URL: url }))
      expect(first.stdout).toContain('migrations applied (postgres)')
      expect(ok(await cli(['migrate'], { DATABASE_URL: url })).stdout).toContain(
        'migrations applied (postgres)',
      )
      const db = postgres(url, { max: 1, onnotice: () => {} })
      try {
        const tables =
          await db`select table_name from information_schema.tables where table_schema = 'public'`
        const names = tables.map((t) => t.table_name as string)
        for (const table of ['merchants', 'api_keys', 'payments']) expect(names).toContain(table)
      } finally {
        await db.end()
      }
    } finally {
      await admin.unsafe(`drop database if exists "${name}" with (force)`)
      await admin.end()
    }
  })

  test('behavior: without DATABASE_URL it migrates embedded PGlite in TOLLGATE_DATA_DIR', async () => {
    const dataDir = join(tmp, 'pglite')
    const run = ok(await cli(['migrate'], { TOLLGATE_DATA_DIR: dataDir }))
    expect(run.stdout).toContain('migrations applied (pglite)')
    const handle = await openDb({ dataDir })
    try {
      expect(await handle.db.select().from(merchants)).toEqual([])
    } finally {
      await handle.close()
    }
  })
})

describe('tollgate merchant create', () => {
  test('default: --json prints the merchant id and an API key that authenticates', async () => {
    const run = ok(await cli(['merchant', 'create', '--name', 'Acme', '--json'], dbEnv))
    const out = JSON.parse(run.stdout.trim()) as { merchantId: string; name: string; apiKey: string }
    expect(out.merchantId).toMatch(/^mer_/)
    expect(out.name).toBe('Acme')
    expect(out.apiKey).toMatch(/^tg_[0-9a-f]{16}_/)
    const auth = await withDb((h) => authenticate(h, `Bearer ${out.apiKey}`))
    expect(auth.merchantId).toBe(out.merchantId)
    expect([...auth.scopes]).toContain('admin')
  })

  test('args: without --json it prints the merchant and the key once, in words', async () => {
    const run = ok(await cli(['merchant', 'create', '--name', 'Plain'], dbEnv))
    expect(run.stdout).toMatch(/^merchant mer_\S+ \(Plain\)\nAPI key \(shown once\): tg_[0-9a-f]{16}_\S+\n$/)
  })

  test('error: --name is required', async () => {
    const run = await cli(['merchant', 'create', '--json'], dbEnv)
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain('--name is required')
  })
})

describe('tollgate apikey', () => {
  test('default: create with scopes, then revoke: the key stops authenticating', async () => {
    const merchant = JSON.parse(
      ok(await cli(['merchant', 'create', '--name', 'Keys', '--json'], dbEnv)).stdout.trim(),
    ) as { merchantId: string }
    const created = JSON.parse(
      ok(
        await cli(
          ['apikey', 'create', '--merchant', merchant.merchantId, '--scopes', 'payments:read', '--json'],
          dbEnv,
        ),
      ).stdout.trim(),
    ) as { id: string; apiKey: string; scopes: string[] }
    expect(created.id).toMatch(/^key_/)
    expect(created.scopes).toEqual(['payments:read'])
    const auth = await withDb((h) => authenticate(h, `Bearer ${created.apiKey}`))
    expect(auth).toMatchObject({ merchantId: merchant.merchantId, keyId: created.id })
    expect([...auth.scopes]).toEqual(['payments:read'])

    const revoked = ok(await cli(['apikey', 'revoke', created.id], dbEnv))
    expect(revoked.stdout).toContain(`revoked ${created.id}`)
    const err = await withDb((h) => authenticate(h, `Bearer ${created.apiKey}`)).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED' })

    const again = await cli(['apikey', 'revoke', created.id], dbEnv)
    expect(again.code).not.toBe(0)
    expect(again.stderr).toContain('NOT_FOUND')
  })

  test('error: revoking an unknown key fails', async () => {
    const run = await cli(['apikey', 'revoke', 'key_doesnotexist'], dbEnv)
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain('NOT_FOUND')
  })

  test('error: an unknown scope is refused naming it', async () => {
    const merchant = JSON.parse(
      ok(await cli(['merchant', 'create', '--name', 'Scopes', '--json'], dbEnv)).stdout.trim(),
    ) as { merchantId: string }
    const run = await cli(
      ['apikey', 'create', '--merchant', merchant.merchantId, '--scopes', 'payments:delete'],
      dbEnv,
    )
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain('INVALID_INPUT')
    expect(run.stderr).toContain('payments:delete')
  })
})

describe('tollgate seed / xpub', () => {
  test('default: seed new prints a valid 24-word mnemonic', async () => {
    const run = ok(await cli(['seed', 'new']))
    const phrase = run.stdout.trim()
    expect(phrase.split(' ')).toHaveLength(24)
    expect(isValidMnemonic(phrase)).toBe(true)
  })

  test('behavior: xpub show prints the account xpub and a TOLLGATE_XPUBS line that derives the seed addresses', async () => {
    const run = ok(await cli(['xpub', 'show'], { TOLLGATE_SEED: testMnemonic }))
    const signer = createSigner(testMnemonic)
    const lines = run.stdout.split('\n').filter(Boolean)
    const xpubLine = lines.find((l) => l.startsWith(`${account0}  `))
    expect(xpubLine).toBeDefined()
    const [, xpub] = xpubLine!.split(/\s+/)
    expect(xpub).toMatch(/^xpub[1-9A-HJ-NP-Za-km-z]{107}$/)
    expect(xpubLine).toEndWith('(devnet deposits)')
    // the treasury and gas tank are accounts of their own next to the deposit account
    expect(lines.some((l) => l.startsWith("m/44'/60'/1'  xpub") && l.endsWith('(devnet treasury)'))).toBe(
      true,
    )
    expect(lines.some((l) => l.startsWith("m/44'/60'/2'  xpub") && l.endsWith('(devnet gas)'))).toBe(true)
    const envLine = lines.find((l) => l.startsWith('TOLLGATE_XPUBS='))
    expect(envLine).toBeDefined()
    const parsed = parseEnv({ TOLLGATE_XPUBS: envLine!.slice('TOLLGATE_XPUBS='.length) }).TOLLGATE_XPUBS!
    expect(parsed[account0]).toBe(xpub!)
    expect(Object.keys(parsed).sort()).toEqual([account0, "m/44'/60'/1'", "m/44'/60'/2'"])
    for (let i = 0; i < 5; i++)
      expect(deriveEvmAddress(xpub!, account0, i).address).toBe(
        publicKeyToEvmAddress(signer.publicKey(`${account0}/0/${i}`)),
      )
    expect(deriveEvmAddress(xpub!, account0, 0).address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
    expect(run.stdout).not.toContain('test test')
  })

  test('error: xpub show without a seed says which variable to set', async () => {
    const run = await cli(['xpub', 'show'])
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain('TOLLGATE_SEED')
  })
})

describe('tollgate (errors)', () => {
  test('error: a bad environment exits non-zero naming the variable, without its value', async () => {
    const run = await cli(['migrate'], { ...dbEnv, PORT: 'abc', TOLLGATE_SEED: 'my secret words are here' })
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain('invalid configuration')
    expect(run.stderr).toContain('PORT')
    expect(run.stderr).toContain('TOLLGATE_SEED')
    expect(run.stderr).not.toContain('my secret words')
    expect(run.stdout).not.toContain('migrations applied')
  })

  test('error: an unknown command exits non-zero and prints the usage', async () => {
    const run = await cli(['frobnicate'])
    expect(run.code).not.toBe(0)
    expect(`${run.stdout}${run.stderr}`).toContain('Usage:')
    expect(`${run.stdout}${run.stderr}`).toContain('tollgate migrate')
  })

  test('error: an unknown subcommand exits non-zero and prints the usage', async () => {
    const run = await cli(['merchant', 'delete'])
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain('Usage:')
  })

  test('behavior: help prints the usage and exits 0', async () => {
    const run = ok(await cli(['help']))
    expect(run.stdout).toContain('Usage:')
  })
})
