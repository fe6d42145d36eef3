import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Db, RawQuery } from '../../db/client.ts'
import { apiKeys, merchants } from '../../db/schema/index.ts'
import { invalidInput, notFound, TollgateError } from '../errors.ts'
import { newId, randomSecret } from '../ids.ts'

export const apiKeyScopes = [
  'payments:read',
  'payments:write',
  'withdrawals:write',
  'webhooks:write',
  'admin',
] as const
export type ApiKeyScope = (typeof apiKeyScopes)[number]

/** Who is calling: the key's merchant and what the key may do. */
export type AuthInfo = { merchantId: string; keyId: string; scopes: ReadonlySet<ApiKeyScope> }

const keyPattern = /^tg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/

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

/**
 * Creates an API key for a merchant. The key is returned once; only its prefix and SHA-256 are stored.
 *
 * @example
 * const { key } = await createApiKey({ db }, { merchantId, name: 'checkout', scopes: ['payments:write'] })
 */
export async function createApiKey(
  ctx: { db: Db },
  params: { merchantId: string; name?: string; scopes?: readonly string[] },
): Promise<{ id: string; key: string; prefix: string; scopes: ApiKeyScope[] }> {
  const scopes = parseScopes(params.scopes ?? apiKeyScopes)
  const name = params.name ?? 'default'
  if (name.length === 0 || name.length > 100) throw invalidInput('name', 'name must be 1 to 100 characters')
  const [merchant] = await ctx.db
    .select({ id: merchants.id })
    .from(merchants)
    .where(eq(merchants.id, params.merchantId))
  if (!merchant) throw notFound('merchant')
  const prefix = randomBytes(8).toString('hex')
  const key = `tg_${prefix}_${randomSecret(32)}`
  const id = newId('key')
  await ctx.db.insert(apiKeys).values({
    id,
    merchantId: params.merchantId,
    name,
    prefix,
    secretHash: hashKey(key).toString('hex'),
    scopes,
  })
  return { id, key, prefix, scopes }
}

/**
 * Revokes a key of the merchant (by id or prefix); it stops working at once, in every process, because
 * every request looks the key up.
 *
 * @example
 * await revokeApiKey({ query }, { merchantId, keyId })
 */
export async function revokeApiKey(
  ctx: { query: RawQuery; authCache?: AuthCache },
  params: { merchantId?: string; keyId: string },
): Promise<void> {
  const column = params.keyId.startsWith('key_') ? 'id' : 'prefix'
  // the NOTIFY is delivered at commit, to every API process's cache
  const rows = await ctx.query<{ id: string }>(
    `with revoked as (
       update api_keys set revoked_at = now()
       where ${column} = $1 and revoked_at is null and ($2::text is null or merchant_id = $2)
       returning id
     )
     select id, pg_notify('${revocationChannel}', id) from revoked`,
    [params.keyId, params.merchantId ?? null],
  )
  if (rows.length === 0) throw notFound('active API key')
  for (const row of rows) ctx.authCache?.evict(row.id)
}

/** Postgres channel on which revocations are announced. */
export const revocationChannel = 'tollgate_api_key_revoked'

/**
 * Remembers keys that authenticated, so a request costs no key lookup. Correct only while it hears every
 * revocation: `listenForRevocations` evicts on each NOTIFY and empties the cache whenever the subscription is
 * (re)established; entries also expire after `ttlMs` as a backstop.
 */
export type AuthCache = {
  get(tokenHash: string): AuthInfo | undefined
  set(tokenHash: string, auth: AuthInfo): void
  evict(keyId: string): void
  clear(): void
  /** Bumped by every evict/clear: a lookup that started before one must not cache its result. */
  generation: number
  /** False until the revocation subscription is up: nothing is cached before that. */
  active: boolean
}

export function createAuthCache(ttlMs = 60_000, maxEntries = 10_000): AuthCache {
  const entries = new Map<string, { auth: AuthInfo; until: number }>()
  const cache: AuthCache = {
    active: false,
    generation: 0,
    get(tokenHash) {
      const entry = entries.get(tokenHash)
      if (!entry) return undefined
      if (entry.until < Date.now()) {
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
    },
    clear() {
      cache.generation++
      entries.clear()
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
 * Resolves a bearer token to its merchant and scopes. Missing, malformed, unknown and revoked keys all fail the
 * same way, so a caller learns nothing about which keys exist.
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
  }>('select id, merchant_id, secret_hash, scopes from api_keys where prefix = $1 and revoked_at is null', [
    match[1],
  ])
  const valid = row && timingSafeEqual(Buffer.from(row.secret_hash, 'hex'), tokenHash)
  if (!valid)
    throw new TollgateError('UNAUTHENTICATED', 'a valid API key is required (Authorization: Bearer tg_…)')
  const auth = {
    merchantId: row.merchant_id,
    keyId: row.id,
    scopes: new Set(parseTextArray(row.scopes) as ApiKeyScope[]),
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

/** Lists a merchant's keys (never their secrets). */
export async function listApiKeys(ctx: { db: Db }, merchantId: string) {
  return ctx.db
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      prefix: apiKeys.prefix,
      scopes: apiKeys.scopes,
      createdAt: apiKeys.createdAt,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .where(eq(apiKeys.merchantId, merchantId))
    .orderBy(apiKeys.id)
}
