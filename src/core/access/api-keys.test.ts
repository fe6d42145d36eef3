import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { count, eq } from 'drizzle-orm'
import { waitFor } from '../../../test/helpers/processes.ts'
import { openUnitDb, rejection, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle, RawQuery } from '../../db/client.ts'
import { apiKeys, auditLog } from '../../db/schema/index.ts'
import {
  type AuthCache,
  apiKeyScopes,
  authenticate,
  createApiKey,
  createAuthCache,
  isExpired,
  listApiKeys,
  listenForRevocations,
  maxApiKeyLifetimeMs,
  revocationChannel,
  revokeApiKey,
} from './api-keys.ts'

let handle: DbHandle
let merchantId: string
let otherMerchantId: string
beforeAll(async () => {
  handle = await openUnitDb()
  merchantId = await unitMerchant(handle, 'Key Shop')
  otherMerchantId = await unitMerchant(handle, 'Other Shop')
}, 30_000)
afterAll(() => handle.close())

const bearer = (key: string) => `Bearer ${key}`

async function keyCount() {
  const [row] = await handle.db.select({ n: count() }).from(apiKeys)
  return row!.n
}

/** A query that counts its calls, to see whether a lookup reached the database. */
function countingQuery() {
  const calls = { n: 0 }
  const query: RawQuery = (text, params) => {
    calls.n++
    return handle.query(text, params)
  }
  return { query, calls }
}

/** An auth cache that hears revocations, as an API process's does. */
async function listeningCache(): Promise<AuthCache> {
  const cache = createAuthCache()
  await listenForRevocations(handle, cache)
  return cache
}

describe('createApiKey', () => {
  test('error: a key for a merchant that does not exist is NOT_FOUND, and no key is stored', async () => {
    const before = await keyCount()
    const err = await rejection(createApiKey(handle, { merchantId: 'mer_does_not_exist' }))
    expect(err.code).toBe('NOT_FOUND')
    expect(await keyCount()).toBe(before)
  })

  test('default: the key is shown once; the table holds its SHA-256 and public prefix, never the key or its secret', async () => {
    const created = await createApiKey(handle, { merchantId, name: 'checkout', scopes: ['payments:write'] })
    expect(created.key).toMatch(/^tg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    expect(created.key.startsWith(`tg_${created.prefix}_`)).toBe(true)
    const secretPart = created.key.slice(`tg_${created.prefix}_`.length)
    const [row] = await handle.db.select().from(apiKeys).where(eq(apiKeys.id, created.id))
    expect(row!.secretHash).toBe(createHash('sha256').update(created.key).digest('hex'))
    expect(row!.prefix).toBe(created.prefix)
    // nothing in the stored row reveals the key or its secret part
    const stored = JSON.stringify(row)
    expect(stored).not.toContain(created.key)
    expect(stored).not.toContain(secretPart)
    // nor anywhere in the table, seen as raw text
    const raw = await handle.query<Record<string, unknown>>('select * from api_keys', [])
    expect(JSON.stringify(raw)).not.toContain(secretPart)
  })

  test('default: without scopes a key gets every scope; names default to "default"', async () => {
    const created = await createApiKey(handle, { merchantId })
    expect(created.scopes).toEqual([...apiKeyScopes])
    const [row] = await handle.db.select().from(apiKeys).where(eq(apiKeys.id, created.id))
    expect(row!.name).toBe('default')
    expect(row!.scopes).toEqual([...apiKeyScopes])
  })

  test('behavior: each key is distinct (prefix and secret)', async () => {
    const a = await createApiKey(handle, { merchantId })
    const b = await createApiKey(handle, { merchantId })
    expect(a.prefix).not.toBe(b.prefix)
    expect(a.key).not.toBe(b.key)
    expect(a.id).not.toBe(b.id)
  })

  test('behavior: repeated scopes are stored once', async () => {
    const created = await createApiKey(handle, {
      merchantId,
      scopes: ['payments:read', 'payments:read', 'webhooks:write'],
    })
    expect(created.scopes).toEqual(['payments:read', 'webhooks:write'])
  })

  test('error: unknown scopes, no scopes, an empty or 101-character name are INVALID_INPUT and store nothing', async () => {
    const before = await keyCount()
    const unknown = await rejection(createApiKey(handle, { merchantId, scopes: ['payments:read', 'root'] }))
    expect(unknown.code).toBe('INVALID_INPUT')
    expect(unknown.field).toBe('scopes')
    expect(unknown.message).toContain('root')
    const none = await rejection(createApiKey(handle, { merchantId, scopes: [] }))
    expect(none.code).toBe('INVALID_INPUT')
    expect(none.field).toBe('scopes')
    for (const name of ['', 'n'.repeat(101)]) {
      const err = await rejection(createApiKey(handle, { merchantId, name }))
      expect(err.code).toBe('INVALID_INPUT')
      expect(err.field).toBe('name')
    }
    expect(await keyCount()).toBe(before)
  })

  test('behavior: a 100-character name is accepted', async () => {
    const created = await createApiKey(handle, { merchantId, name: 'n'.repeat(100) })
    const [row] = await handle.db.select().from(apiKeys).where(eq(apiKeys.id, created.id))
    expect(row!.name).toHaveLength(100)
  })
})

describe('authenticate', () => {
  test('default: a fresh key authenticates as its merchant with exactly its stored scopes', async () => {
    const created = await createApiKey(handle, { merchantId, scopes: ['payments:read', 'webhooks:write'] })
    const auth = await authenticate(handle, bearer(created.key))
    expect(auth.merchantId).toBe(merchantId)
    expect(auth.keyId).toBe(created.id)
    expect([...auth.scopes].sort()).toEqual(['payments:read', 'webhooks:write'])
    expect(auth.scopes.has('admin')).toBe(false)
    expect(auth.scopes.has('payments:write')).toBe(false)
  })

  test('behavior: scopes are read from the table on each lookup (what is stored is what is granted)', async () => {
    const created = await createApiKey(handle, { merchantId, scopes: ['admin'] })
    expect([...(await authenticate(handle, bearer(created.key))).scopes]).toEqual(['admin'])
    await handle.db
      .update(apiKeys)
      .set({ scopes: ['payments:read'] })
      .where(eq(apiKeys.id, created.id))
    expect([...(await authenticate(handle, bearer(created.key))).scopes]).toEqual(['payments:read'])
  })

  test('behavior: the bearer token tolerates surrounding spaces after "Bearer "', async () => {
    const created = await createApiKey(handle, { merchantId })
    expect((await authenticate(handle, `Bearer   ${created.key}  `)).keyId).toBe(created.id)
  })

  test('error: missing, malformed, wrongly prefixed, unknown and forged keys all fail alike (UNAUTHENTICATED)', async () => {
    const created = await createApiKey(handle, { merchantId })
    const forged = `${created.key.slice(0, -1)}${created.key.endsWith('A') ? 'B' : 'A'}`
    const unknown = `tg_0123456789abcdef_${'A'.repeat(43)}`
    const attempts = [
      null,
      '',
      created.key, // no "Bearer "
      `Basic ${created.key}`,
      `bearer ${created.key}`,
      'Bearer ',
      `Bearer ${created.key}x`,
      `Bearer ${created.key.replace('tg_', 'tk_')}`,
      bearer(unknown),
      bearer(forged), // a real prefix with another secret
    ]
    const messages = new Set<string>()
    for (const authorization of attempts) {
      const err = await rejection(authenticate(handle, authorization))
      expect(err.code).toBe('UNAUTHENTICATED')
      messages.add(err.message)
    }
    expect(messages.size).toBe(1)
  })
})

describe('revokeApiKey', () => {
  test('default: a revoked key stops authenticating, by id', async () => {
    const created = await createApiKey(handle, { merchantId })
    await authenticate(handle, bearer(created.key))
    await revokeApiKey(handle, { merchantId, keyId: created.id })
    const err = await rejection(authenticate(handle, bearer(created.key)))
    expect(err.code).toBe('UNAUTHENTICATED')
    const [row] = await handle.db.select().from(apiKeys).where(eq(apiKeys.id, created.id))
    expect(row!.revokedAt).toBeInstanceOf(Date)
  })

  test('behavior: by prefix too, and without a merchant (the operator’s command)', async () => {
    const created = await createApiKey(handle, { merchantId })
    await revokeApiKey(handle, { keyId: created.prefix })
    expect((await rejection(authenticate(handle, bearer(created.key)))).code).toBe('UNAUTHENTICATED')
  })

  test('behavior: revoking one key leaves the merchant’s other keys working', async () => {
    const a = await createApiKey(handle, { merchantId })
    const b = await createApiKey(handle, { merchantId })
    await revokeApiKey(handle, { merchantId, keyId: a.id })
    expect((await authenticate(handle, bearer(b.key))).keyId).toBe(b.id)
  })

  test('error: another merchant’s key is NOT_FOUND and keeps working', async () => {
    const theirs = await createApiKey(handle, { merchantId: otherMerchantId })
    for (const keyId of [theirs.id, theirs.prefix]) {
      const err = await rejection(revokeApiKey(handle, { merchantId, keyId }))
      expect(err.code).toBe('NOT_FOUND')
    }
    expect((await authenticate(handle, bearer(theirs.key))).merchantId).toBe(otherMerchantId)
    const [row] = await handle.db.select().from(apiKeys).where(eq(apiKeys.id, theirs.id))
    expect(row!.revokedAt).toBeNull()
  })

  test('error: an unknown or already revoked key is NOT_FOUND', async () => {
    const created = await createApiKey(handle, { merchantId })
    await revokeApiKey(handle, { merchantId, keyId: created.id })
    expect((await rejection(revokeApiKey(handle, { merchantId, keyId: created.id }))).code).toBe('NOT_FOUND')
    expect((await rejection(revokeApiKey(handle, { merchantId, keyId: 'key_nope' }))).code).toBe('NOT_FOUND')
    expect((await rejection(revokeApiKey(handle, { merchantId, keyId: 'ffffffffffffffff' }))).code).toBe(
      'NOT_FOUND',
    )
  })
})

describe('auth cache', () => {
  test('default: once listening, a key that authenticated is served from the cache (no database lookup)', async () => {
    const cache = await listeningCache()
    const created = await createApiKey(handle, { merchantId })
    const { query, calls } = countingQuery()
    const first = await authenticate({ query, authCache: cache }, bearer(created.key))
    const second = await authenticate({ query, authCache: cache }, bearer(created.key))
    expect(second).toEqual(first)
    expect(calls.n).toBe(1)
  })

  test('behavior: a revocation in another process, signalled by NOTIFY, evicts the key here: it stops authenticating', async () => {
    const cache = await listeningCache()
    const evicted: string[] = []
    const heard = new Promise<void>((resolve) => {
      const evict = cache.evict.bind(cache)
      cache.evict = (keyId) => {
        evict(keyId)
        evicted.push(keyId)
        resolve()
      }
    })
    const created = await createApiKey(handle, { merchantId })
    const ctx = { query: handle.query, authCache: cache }
    await authenticate(ctx, bearer(created.key))
    expect(cache.get(createHash('sha256').update(created.key).digest('hex'))).toBeDefined()
    // the other process has no access to this cache: only the NOTIFY reaches it
    await revokeApiKey({ db: handle.db }, { merchantId, keyId: created.id })
    await heard
    expect(evicted).toEqual([created.id])
    expect((await rejection(authenticate(ctx, bearer(created.key)))).code).toBe('UNAUTHENTICATED')
  })

  test('behavior: a revocation in this process evicts at once', async () => {
    const cache = await listeningCache()
    const created = await createApiKey(handle, { merchantId })
    const ctx = { query: handle.query, db: handle.db, authCache: cache }
    await authenticate(ctx, bearer(created.key))
    await revokeApiKey(ctx, { merchantId, keyId: created.id })
    expect((await rejection(authenticate(ctx, bearer(created.key)))).code).toBe('UNAUTHENTICATED')
  })

  test('behavior: revoking announces the key id on the revocation channel', async () => {
    const heard: string[] = []
    let got: () => void = () => {}
    const arrived = new Promise<void>((resolve) => {
      got = resolve
    })
    await handle.listen(
      revocationChannel,
      (payload) => {
        heard.push(payload)
        got()
      },
      () => {},
    )
    const created = await createApiKey(handle, { merchantId })
    await revokeApiKey(handle, { merchantId, keyId: created.prefix })
    await arrived
    expect(heard).toContain(created.id)
  })

  test('behavior: before the revocation subscription is up, nothing is cached', async () => {
    const cache = createAuthCache()
    const created = await createApiKey(handle, { merchantId })
    const { query, calls } = countingQuery()
    await authenticate({ query, authCache: cache }, bearer(created.key))
    await authenticate({ query, authCache: cache }, bearer(created.key))
    expect(calls.n).toBe(2)
  })

  test('behavior: a lookup during which a revocation was heard does not cache its result', async () => {
    const cache = await listeningCache()
    const created = await createApiKey(handle, { merchantId })
    const racing: RawQuery = async (text, params) => {
      const rows = await handle.query(text, params)
      cache.evict('key_some_other_key') // a revocation heard while the lookup ran
      return rows as never
    }
    await authenticate({ query: racing, authCache: cache }, bearer(created.key))
    expect(cache.get(createHash('sha256').update(created.key).digest('hex'))).toBeUndefined()
  })

  test('behavior: (re)establishing the subscription empties the cache', async () => {
    const cache = await listeningCache()
    const created = await createApiKey(handle, { merchantId })
    const tokenHash = createHash('sha256').update(created.key).digest('hex')
    await authenticate({ query: handle.query, authCache: cache }, bearer(created.key))
    expect(cache.get(tokenHash)).toBeDefined()
    await listenForRevocations(handle, cache)
    expect(cache.get(tokenHash)).toBeUndefined()
  })

  test('behavior: entries expire after the TTL, and the oldest entry leaves when the cache is full', () => {
    const auth = (keyId: string) => ({
      merchantId,
      keyId,
      scopes: new Set(['admin'] as const),
      expiresAt: null,
    })
    const expired = createAuthCache(-1)
    expired.active = true
    expired.set('h', auth('key_a'))
    expect(expired.get('h')).toBeUndefined()
    const small = createAuthCache(60_000, 2)
    small.active = true
    small.set('h1', auth('key_1'))
    small.set('h2', auth('key_2'))
    small.set('h3', auth('key_3'))
    expect(small.get('h1')).toBeUndefined()
    expect(small.get('h2')?.keyId).toBe('key_2')
    expect(small.get('h3')?.keyId).toBe('key_3')
  })
})

describe('listApiKeys', () => {
  test('default: a merchant’s keys, without secrets or hashes, and none of another merchant’s', async () => {
    const merchant = await unitMerchant(handle, 'Listing Shop')
    const extra = await createApiKey(handle, { merchantId: merchant, name: 'second', scopes: ['admin'] })
    await createApiKey(handle, { merchantId: otherMerchantId, name: 'not theirs' })
    const keys = await listApiKeys(handle, merchant)
    expect(keys.map((k) => k.name)).toEqual(['default', 'second'])
    expect(keys[1]!.id).toBe(extra.id)
    for (const k of keys) {
      expect(Object.keys(k)).not.toContain('secretHash')
      expect(JSON.stringify(k)).not.toContain(extra.key.slice(-43))
    }
  })
})

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex')

async function auditCount() {
  const [row] = await handle.db.select({ n: count() }).from(auditLog)
  return row!.n
}

async function auditOf(targetId: string) {
  return handle.db.select().from(auditLog).where(eq(auditLog.targetId, targetId)).orderBy(auditLog.id)
}

describe('expiry', () => {
  test('default: a key with expiresAt stores it, lists it, and authenticates until then with it', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000)
    const created = await createApiKey(handle, { merchantId, expiresAt })
    expect(created.expiresAt).toEqual(expiresAt)
    const auth = await authenticate(handle, bearer(created.key))
    expect(auth.expiresAt).toEqual(expiresAt)
    const [listed] = await listApiKeys(handle, merchantId, { keyId: created.id })
    expect(listed!.expiresAt).toEqual(expiresAt)
  })

  test('default: without expiresAt a key never expires (null)', async () => {
    const created = await createApiKey(handle, { merchantId })
    expect(created.expiresAt).toBeNull()
    expect((await authenticate(handle, bearer(created.key))).expiresAt).toBeNull()
  })

  test('behavior: past its expiry a key fails exactly like a revoked one (same code, same message)', async () => {
    const expired = await createApiKey(handle, { merchantId, expiresAt: new Date(Date.now() + 60_000) })
    await handle.db
      .update(apiKeys)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(apiKeys.id, expired.id))
    const revoked = await createApiKey(handle, { merchantId })
    await revokeApiKey(handle, { merchantId, keyId: revoked.id })
    const a = await rejection(authenticate(handle, bearer(expired.key)))
    const b = await rejection(authenticate(handle, bearer(revoked.key)))
    expect([a.code, a.message]).toEqual([b.code, b.message])
    expect(a.code).toBe('UNAUTHENTICATED')
  })

  test('behavior: the auth cache never serves a key past its expiry, even with its entry still fresh', async () => {
    const cache = await listeningCache()
    const expiresAt = new Date(Date.now() + 300)
    const created = await createApiKey(handle, { merchantId, expiresAt })
    const { query, calls } = countingQuery()
    await authenticate({ query, authCache: cache }, bearer(created.key))
    await authenticate({ query, authCache: cache }, bearer(created.key))
    expect(calls.n).toBe(1) // served from the cache while valid
    await waitFor('the expiry to pass', () => Date.now() > expiresAt.getTime())
    expect(cache.get(hashOf(created.key))).toBeUndefined()
    const err = await rejection(authenticate({ query, authCache: cache }, bearer(created.key)))
    expect(err.code).toBe('UNAUTHENTICATED')
  })

  test('behavior: isExpired compares with the clock: the very instant of expiry is expired', () => {
    const at = new Date(1_000_000)
    expect(isExpired(null)).toBe(false)
    expect(isExpired(at, 999_999)).toBe(false)
    expect(isExpired(at, 1_000_000)).toBe(true)
  })

  test('behavior: an expired key can still be revoked (and the revocation is recorded)', async () => {
    const created = await createApiKey(handle, { merchantId, expiresAt: new Date(Date.now() + 60_000) })
    await handle.db
      .update(apiKeys)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(apiKeys.id, created.id))
    expect(await revokeApiKey(handle, { merchantId, keyId: created.id })).toEqual({ id: created.id })
    expect((await auditOf(created.id)).map((e) => e.action)).toEqual(['apikey.created', 'apikey.revoked'])
  })

  test('error: hostile names (NUL, line breaks, escapes, DEL, C1) and merchant ids are refused typed; nothing stored', async () => {
    const keysBefore = await keyCount()
    const auditBefore = await auditCount()
    for (const name of ['\u0000', 'a\nb', 'tab\there', '\u001b[31mred', 'del\u007f', 'c1\u0085']) {
      const err = await rejection(createApiKey(handle, { merchantId, name }))
      expect([err.code, err.field]).toEqual(['INVALID_INPUT', 'name'])
    }
    for (const id of [
      '',
      'mer_\u0000',
      `mer_${'a'.repeat(65)}`,
      "mer_' or '1'='1",
      '%',
      'key_abc',
      null,
      7,
    ]) {
      const err = await rejection(createApiKey(handle, { merchantId: id as string }))
      expect(err.code).toBe('NOT_FOUND')
    }
    expect(await keyCount()).toBe(keysBefore)
    expect(await auditCount()).toBe(auditBefore)
  })

  test('behavior: the latest accepted expiry is 10 years (of 366 days) ahead', async () => {
    const created = await createApiKey(handle, {
      merchantId,
      expiresAt: new Date(Date.now() + maxApiKeyLifetimeMs - 60_000),
    })
    expect(created.expiresAt).toBeInstanceOf(Date)
  })

  test('error: an expiry in the past, now, invalid, beyond 10 years or not a Date is INVALID_INPUT on expiresAt; no key and no audit entry', async () => {
    const keysBefore = await keyCount()
    const auditBefore = await auditCount()
    const hostile: unknown[] = [
      new Date(0),
      new Date(Date.now() - 1),
      new Date(Date.now()),
      new Date(Number.NaN),
      new Date(Date.now() + maxApiKeyLifetimeMs + 86_400_000),
      new Date(8.64e15),
      '2030-01-01T00:00:00Z',
      1_900_000_000_000,
      {},
      null,
    ]
    for (const expiresAt of hostile) {
      const err = await rejection(createApiKey(handle, { merchantId, expiresAt: expiresAt as Date }))
      expect(err.code).toBe('INVALID_INPUT')
      expect(err.field).toBe('expiresAt')
    }
    expect(await keyCount()).toBe(keysBefore)
    expect(await auditCount()).toBe(auditBefore)
  })
})

describe('watching a key', () => {
  test('behavior: evicting a key wakes its watchers only; clearing the cache wakes every watcher; unwatching stops it', () => {
    const cache = createAuthCache()
    const woken: string[] = []
    const stopA = cache.watch('key_a', () => woken.push('a'))
    cache.watch('key_b', () => woken.push('b'))
    cache.watch('key_a', () => woken.push('a2'))
    cache.evict('key_a')
    expect(woken).toEqual(['a', 'a2'])
    cache.clear()
    expect(woken.slice(2).sort()).toEqual(['a', 'a2', 'b'])
    stopA()
    woken.length = 0
    cache.evict('key_a')
    expect(woken).toEqual(['a2'])
  })

  test('behavior: a revocation in another process (its NOTIFY) wakes the key’s watchers here', async () => {
    const cache = await listeningCache()
    const created = await createApiKey(handle, { merchantId })
    const other = await createApiKey(handle, { merchantId })
    const woken: string[] = []
    const heard = new Promise<void>((resolve) => {
      cache.watch(created.id, () => {
        woken.push(created.id)
        resolve()
      })
    })
    cache.watch(other.id, () => woken.push(other.id))
    // the other process knows nothing of this cache
    await revokeApiKey({ db: handle.db }, { merchantId, keyId: created.id })
    await heard
    expect(woken).toEqual([created.id])
  })

  test('behavior: a revocation in this process wakes the watchers at once (before any NOTIFY arrives)', async () => {
    const cache = createAuthCache() // not listening: only the direct eviction can wake it
    const created = await createApiKey(handle, { merchantId })
    let woken = 0
    cache.watch(created.id, () => woken++)
    await revokeApiKey({ db: handle.db, authCache: cache }, { merchantId, keyId: created.id })
    expect(woken).toBe(1)
  })
})

describe('audit of keys', () => {
  test('default: creating a key records apikey.created with the acting key and request, its scopes and expiry, never its secret', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000)
    const created = await createApiKey(handle, {
      merchantId,
      name: 'audited',
      scopes: ['payments:read'],
      expiresAt,
      actor: { keyId: 'key_acting', requestId: 'req-1' },
    })
    const [entry, ...more] = await auditOf(created.id)
    expect(more).toEqual([])
    expect(entry).toMatchObject({
      merchantId,
      actor: 'key_acting',
      requestId: 'req-1',
      action: 'apikey.created',
      targetType: 'api_key',
      targetId: created.id,
      data: {
        name: 'audited',
        scopes: ['payments:read'],
        prefix: created.prefix,
        expiresAt: expiresAt.toISOString(),
      },
    })
    expect(JSON.stringify(entry)).not.toContain(created.key.slice(-43))
  })

  test('default: without an actor (the operator’s command line) creation and revocation are recorded as cli', async () => {
    const created = await createApiKey(handle, { merchantId })
    await revokeApiKey(handle, { keyId: created.prefix })
    const entries = await auditOf(created.id)
    expect(entries.map((e) => [e.action, e.actor, e.requestId])).toEqual([
      ['apikey.created', 'cli', null],
      ['apikey.revoked', 'cli', null],
    ])
  })

  test('default: revoking records apikey.revoked with the acting key, the request and the key’s prefix', async () => {
    const created = await createApiKey(handle, { merchantId })
    await revokeApiKey(handle, {
      merchantId,
      keyId: created.id,
      actor: { keyId: 'key_admin', requestId: 'r-9' },
    })
    const revoked = (await auditOf(created.id)).find((e) => e.action === 'apikey.revoked')
    expect(revoked).toMatchObject({
      merchantId,
      actor: 'key_admin',
      requestId: 'r-9',
      data: { prefix: created.prefix },
    })
  })

  test('behavior: the record commits with the change: when it cannot be written, no key is created and none is revoked (and no NOTIFY is sent)', async () => {
    const brokenActor = { keyId: null as unknown as string } // audit_log.actor is NOT NULL
    const keysBefore = await keyCount()
    await expect(createApiKey(handle, { merchantId, actor: brokenActor })).rejects.toThrow()
    expect(await keyCount()).toBe(keysBefore)
    const cache = await listeningCache()
    const created = await createApiKey(handle, { merchantId })
    let woken = 0
    cache.watch(created.id, () => woken++)
    await expect(
      revokeApiKey(handle, { merchantId, keyId: created.id, actor: brokenActor }),
    ).rejects.toThrow()
    expect((await authenticate(handle, bearer(created.key))).keyId).toBe(created.id)
    // a NOTIFY would have arrived by the time a later one does
    const witness = await createApiKey(handle, { merchantId })
    const heard = new Promise<void>((resolve) => cache.watch(witness.id, () => resolve()))
    await revokeApiKey(handle, { merchantId, keyId: witness.id })
    await heard
    expect(woken).toBe(0)
  })

  test('error: refused revocations (unknown, another merchant’s, already revoked, hostile ids) change nothing and record nothing', async () => {
    const theirs = await createApiKey(handle, { merchantId: otherMerchantId })
    const gone = await createApiKey(handle, { merchantId })
    await revokeApiKey(handle, { merchantId, keyId: gone.id })
    const auditBefore = await auditCount()
    const hostile = [
      theirs.id,
      theirs.prefix,
      gone.id,
      'key_nope',
      '',
      'k'.repeat(101),
      "key_' or '1'='1",
      '%',
      'key_%',
      '0'.repeat(16),
      '\u0000',
      null,
      42,
    ]
    for (const keyId of hostile) {
      const err = await rejection(revokeApiKey(handle, { merchantId, keyId: keyId as string }))
      expect(err.code).toBe('NOT_FOUND')
    }
    expect(await auditCount()).toBe(auditBefore)
    expect((await authenticate(handle, bearer(theirs.key))).keyId).toBe(theirs.id)
  })
})
