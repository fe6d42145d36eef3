import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { and, eq, isNull, sql } from 'drizzle-orm'
import type { Db, RawQuery } from '../../db/client.ts'
import { apiKeys, merchants } from '../../db/schema/index.ts'
import { invalidInput, notFound, TollgateError } from '../errors.ts'
import { newId, randomSecret } from '../ids.ts'
import { type AuditActor, recordAudit } from './audit.ts'

export const apiKeyScopes = [
  'payments:read',
  'payments:write',
  'withdrawals:write',
  'webhooks:write',
  /** Approving or rejecting withdrawals that wait for approval. */
  'withdrawals:approve',
  /** Reviewing what KYT screening holds: releasing or rejecting held payments, deposits and withdrawals. */
  'compliance:review',
  'admin',
] as const
export type ApiKeyScope = (typeof apiKeyScopes)[number]

/** Who is calling: the key's merchant, what the key may do, and until when (null: until revoked). */
export type AuthInfo = {
  merchantId: string
  keyId: string
  scopes: ReadonlySet<ApiKeyScope>
  expiresAt: Date | null
}

/** The longest a key may be made to live when it is given an end (a key without one lives until revoked). */
export const maxApiKeyLifetimeMs = 10 * 366 * 24 * 3600 * 1000

/**
 * Whether a key with this end of validity has expired, by this process's clock (the one expiry timers use).
 *
 * @example
 * if (isExpired(auth.expiresAt)) refuse()
 */
export function isExpired(expiresAt: Date | null, now = Date.now()): boolean {
  return expiresAt !== null && expiresAt.getTime() <= now
}

const keyPattern = /^tg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/
// names are shown in lists and logs: no line breaks, no terminal escapes, nothing the database refuses (NUL)
const controlCharacters = /\p{Cc}/u
const merchantIdPattern = /^mer_[A-Za-z0-9_]{1,64}$/
/** A key's id (`key_` + 32 hex digits, see newId) or its public prefix (16 hex digits). */
const keyIdOrPrefix = /^(key_[0-9a-f]{32}|[0-9a-f]{16})$/

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest()
}

function parseScopes(scopes: readonly string[]): ApiKeyScope[] {
  const unknown = scopes.filter((s) => !(apiKeyScopes as readonly string[]).includes(s))
  if (unknown.length > 0)
    throw invalidInput('scopes', `unknown scope(s): ${unknown.join(', ')}; known: ${apiKeyScopes.join(', ')}`)
  if (scopes.length === 0) throw invalidInput('scopes', 'at least one scope is required')
  return [...new Set(scopes)] as ApiKeyScope[]
}

function parseExpiry(expiresAt: Date | undefined, now: number): Date | null {
  if (expiresAt === undefined) return null
  if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()))
    throw invalidInput('expiresAt', 'expiresAt must be a valid instant')
  if (expiresAt.getTime() <= now) throw invalidInput('expiresAt', 'expiresAt must be in the future')
  if (expiresAt.getTime() - now > maxApiKeyLifetimeMs)
    throw invalidInput('expiresAt', 'expiresAt must be at most 10 years ahead (or left out: no expiry)')
  return expiresAt
}

/**
 * Creates an API key for a merchant. The key is returned once; only its prefix and SHA-256 are stored. With
 * `expiresAt` the key stops working then, exactly as if revoked. The creation is recorded in the audit log in
 * the same transaction (`actor` defaults to the operator's command line: every caller without a key is one).
 *
 * @example
 * const { key } = await createApiKey({ db }, { merchantId, name: 'checkout', scopes: ['payments:write'] })
 */
export async function createApiKey(
  ctx: { db: Db },
  params: {
    merchantId: string
    name?: string
    scopes?: readonly string[]
    expiresAt?: Date
    actor?: AuditActor
  },
): Promise<{ id: string; key: string; prefix: string; scopes: ApiKeyScope[]; expiresAt: Date | null }> {
  const scopes = parseScopes(params.scopes ?? apiKeyScopes)
  const name = params.name ?? 'default'
  if (typeof name !== 'string' || name.length === 0 || name.length > 100)
    throw invalidInput('name', 'name must be 1 to 100 characters')
  if (controlCharacters.test(name)) throw invalidInput('name', 'name must not contain control characters')
  if (typeof params.merchantId !== 'string' || !merchantIdPattern.test(params.merchantId))
    throw notFound('merchant')
  const expiresAt = parseExpiry(params.expiresAt, Date.now())
  const prefix = randomBytes(8).toString('hex')
  const key = `tg_${prefix}_${randomSecret(32)}`
  const id = newId('key')
  await ctx.db.transaction(async (tx) => {
    const [merchant] = await tx
      .select({ id: merchants.id })
      .from(merchants)
      .where(eq(merchants.id, params.merchantId))
    if (!merchant) throw notFound('merchant')
    await tx.insert(apiKeys).values({
      id,
      merchantId: params.merchantId,
      name,
      prefix,
      secretHash: hashKey(key).toString('hex'),
      scopes,
      expiresAt,
    })
    await recordAudit(tx, {
      merchantId: params.merchantId,
      actor: params.actor ?? { cli: true },
      action: 'apikey.created',
      target: { type: 'api_key', id },
      data: { name, scopes, prefix, expiresAt: expiresAt?.toISOString() ?? null },
    })
  })
  return { id, key, prefix, scopes, expiresAt }
}

/**
 * Revokes a key of the merchant (by id or prefix); it stops working at once, in every process: the NOTIFY sent
 * at commit evicts it from every auth cache, which ends the subscriptions it holds open. The revocation and its
 * audit record commit together. An expired key can still be revoked (it says so in the log).
 *
 * @example
 * await revokeApiKey({ db }, { merchantId, keyId, actor: { keyId: auth.keyId, requestId } })
 */
export async function revokeApiKey(
  ctx: { db: Db; authCache?: AuthCache },
  params: { merchantId?: string; keyId: string; actor?: AuditActor },
): Promise<{ id: string }> {
  // nothing but an id or a prefix can name a key: anything else is not found without asking the database
  if (typeof params.keyId !== 'string' || !keyIdOrPrefix.test(params.keyId)) throw notFound('active API key')
  const column = params.keyId.startsWith('key_') ? apiKeys.id : apiKeys.prefix
  const revoked = await ctx.db.transaction(async (tx) => {
    const rows = await tx
      .update(apiKeys)
      .set({ revokedAt: sql`now()` })
      .where(
        and(
          eq(column, params.keyId),
          isNull(apiKeys.revokedAt),
          params.merchantId === undefined ? undefined : eq(apiKeys.merchantId, params.merchantId),
        ),
      )
      .returning({ id: apiKeys.id, merchantId: apiKeys.merchantId, prefix: apiKeys.prefix })
    const row = rows[0]
    if (!row) throw notFound('active API key')
    // delivered at commit, to every API process's cache (and to nobody if this rolls back)
    await tx.execute(sql`select pg_notify(${revocationChannel}, ${row.id})`)
    await recordAudit(tx, {
      merchantId: row.merchantId,
      actor: params.actor ?? { cli: true },
      action: 'apikey.revoked',
      target: { type: 'api_key', id: row.id },
      data: { prefix: row.prefix },
    })
    return row
  })
  ctx.authCache?.evict(revoked.id)
  return { id: revoked.id }
}

/** Postgres channel on which revocations are announced. */
export const revocationChannel = 'tollgate_api_key_revoked'

/**
 * Remembers keys that authenticated, so a request costs no key lookup. Correct only while it hears every
 * revocation: `listenForRevocations` evicts on each NOTIFY and empties the cache whenever the subscription is
 * (re)established; entries also expire after `ttlMs` as a backstop, and an entry is never served past its key's
 * own expiry.
 *
 * Long-lived work done under a key (a subscription) `watch`es it: the callback runs when the key is evicted
 * (revoked here or in another process) and when the cache is emptied (revocations may have been missed), and
 * should look the key up again.
 */
export type AuthCache = {
  get(tokenHash: string): AuthInfo | undefined
  set(tokenHash: string, auth: AuthInfo): void
  evict(keyId: string): void
  clear(): void
  /** Calls `recheck` on every eviction of `keyId` and every clear, until the returned function is called. */
  watch(keyId: string, recheck: () => void): () => void
  /** Bumped by every evict/clear: a lookup that started before one must not cache its result. */
  generation: number
  /** False until the revocation subscription is up: nothing is cached before that. */
  active: boolean
}

export function createAuthCache(ttlMs = 60_000, maxEntries = 10_000): AuthCache {
  const entries = new Map<string, { auth: AuthInfo; until: number }>()
  const watchers = new Map<string, Set<() => void>>()
  const notify = (keyId?: string) => {
    const targets =
      keyId === undefined
        ? [...watchers.values()].flatMap((set) => [...set])
        : [...(watchers.get(keyId) ?? [])]
    for (const recheck of targets) recheck()
  }
  const cache: AuthCache = {
    active: false,
    generation: 0,
    get(tokenHash) {
      const entry = entries.get(tokenHash)
      if (!entry) return undefined
      if (entry.until < Date.now() || isExpired(entry.auth.expiresAt)) {
        entries.delete(tokenHash)
        return undefined
      }
      return entry.auth
    },
    set(tokenHash, auth) {
      if (!cache.active) return
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string)
      entries.set(tokenHash, { auth, until: Date.now() + ttlMs })
    },
    evict(keyId) {
      cache.generation++
      for (const [hash, entry] of entries) if (entry.auth.keyId === keyId) entries.delete(hash)
      notify(keyId)
    },
    clear() {
      cache.generation++
      entries.clear()
      notify()
    },
    watch(keyId, recheck) {
      const set = watchers.get(keyId) ?? new Set<() => void>()
      watchers.set(keyId, set)
      // a function of its own, so watching twice with the same callback unwatches separately
      const entry = () => recheck()
      set.add(entry)
      return () => {
        set.delete(entry)
        if (set.size === 0 && watchers.get(keyId) === set) watchers.delete(keyId)
      }
    },
  }
  return cache
}

/**
 * Keeps an auth cache honest across processes: every revocation anywhere evicts the key here.
 *
 * @example
 * await listenForRevocations(dbHandle, authCache)
 */
export async function listenForRevocations(
  db: {
    listen(channel: string, onNotify: (payload: string) => void, onListening: () => void): Promise<void>
  },
  cache: AuthCache,
): Promise<void> {
  await db.listen(
    revocationChannel,
    (keyId) => cache.evict(keyId),
    () => {
      cache.clear()
      cache.active = true
    },
  )
}

/**
 * Resolves a bearer token to its merchant and scopes. Missing, malformed, unknown, revoked and expired keys all
 * fail the same way, so a caller learns nothing about which keys exist or what became of them.
 *
 * @example
 * const auth = await authenticate({ query }, request.headers.get('authorization'))
 */
export async function authenticate(
  ctx: { query: RawQuery; authCache?: AuthCache },
  authorization: string | null,
): Promise<AuthInfo> {
  const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined
  const match = token ? keyPattern.exec(token) : null
  if (!token || !match)
    throw new TollgateError('UNAUTHENTICATED', 'a valid API key is required (Authorization: Bearer tg_…)')
  const tokenHash = hashKey(token)
  const cacheKey = tokenHash.toString('hex')
  const cached = ctx.authCache?.get(cacheKey)
  if (cached) return cached
  const generation = ctx.authCache?.generation
  const [row] = await ctx.query<{
    id: string
    merchant_id: string
    secret_hash: string
    scopes: string[] | string
    expires_at: Date | string | null
  }>(
    'select id, merchant_id, secret_hash, scopes, expires_at from api_keys where prefix = $1 and revoked_at is null',
    [match[1]],
  )
  const expiresAt = row?.expires_at == null ? null : new Date(row.expires_at)
  // expiry is judged by this process's clock, as the timers that end a key's subscriptions are
  const valid =
    row && timingSafeEqual(Buffer.from(row.secret_hash, 'hex'), tokenHash) && !isExpired(expiresAt)
  if (!valid)
    throw new TollgateError('UNAUTHENTICATED', 'a valid API key is required (Authorization: Bearer tg_…)')
  const auth = {
    merchantId: row.merchant_id,
    keyId: row.id,
    scopes: new Set(parseTextArray(row.scopes) as ApiKeyScope[]),
    expiresAt,
  }
  // a revocation heard while this lookup ran may concern this very key: do not remember it then
  if (ctx.authCache && ctx.authCache.generation === generation) ctx.authCache.set(cacheKey, auth)
  return auth
}

/** `text[]` arrives as an array from postgres.js and PGlite; accept the literal form too. */
function parseTextArray(value: string[] | string): string[] {
  if (Array.isArray(value)) return value
  return value
    .replace(/^\{|\}$/g, '')
    .split(',')
    .filter(Boolean)
}

/**
 * Lists a merchant's keys (never their secrets), or one of them with `keyId`.
 *
 * @example
 * const [key] = await listApiKeys({ db }, merchantId, { keyId })
 */
export async function listApiKeys(ctx: { db: Db }, merchantId: string, options: { keyId?: string } = {}) {
  return ctx.db
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      prefix: apiKeys.prefix,
      scopes: apiKeys.scopes,
      createdAt: apiKeys.createdAt,
      revokedAt: apiKeys.revokedAt,
      expiresAt: apiKeys.expiresAt,
    })
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.merchantId, merchantId),
        options.keyId === undefined ? undefined : eq(apiKeys.id, options.keyId),
      ),
    )
    .orderBy(apiKeys.id)
}
