import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { openDb } from '../../src/db/client.ts'
import { migrate, migrationsFolder } from '../../src/db/migrate.ts'

/** The server the test databases live on (trust auth, as on the CI machine). */
export const pgServerUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432'

function migrationsHash(): string {
  const hash = createHash('sha256')
  for (const file of readdirSync(migrationsFolder)
    .filter((f) => f.endsWith('.sql'))
    .sort())
    hash.update(file).update(readFileSync(join(migrationsFolder, file)))
  return hash.digest('hex').slice(0, 12)
}

/** A template database migrated to the committed migrations; built once per migration set. */
async function ensureTemplate(admin: postgres.Sql): Promise<string> {
  const name = `tollgate_tpl_${migrationsHash()}`
  await admin`select pg_advisory_lock(724001)`
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`
    if (!exists) {
      await admin.unsafe(`create database "${name}"`)
      const handle = await openDb({ url: `${pgServerUrl}/${name}`, maxConnections: 1 })
      await migrate(handle)
      await handle.close()
      await admin.unsafe(`alter database "${name}" with is_template true allow_connections false`)
    }
  } finally {
    await admin`select pg_advisory_unlock(724001)`
  }
  return name
}

/**
 * A fresh, migrated database of its own for one test file, copied from a template.
 *
 * @example
 * const testDb = await createTestDatabase()
 * afterAll(() => testDb.drop())
 */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const admin = postgres(`${pgServerUrl}/postgres`, { max: 1, onnotice: () => {} })
  try {
    const template = await ensureTemplate(admin)
    const name = `tollgate_t_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`
    await admin.unsafe(`create database "${name}" template "${template}"`)
    return {
      url: `${pgServerUrl}/${name}`,
      name,
      drop: async () => {
        const a = postgres(`${pgServerUrl}/postgres`, { max: 1, onnotice: () => {} })
        await a.unsafe(`drop database if exists "${name}" with (force)`)
        await a.end()
      },
    }
  } finally {
    await admin.end()
  }
}
