import { existsSync, readFileSync } from 'node:fs'
import { z } from 'zod'
import { parseTrustedProxies } from './client-ip.ts'
import { isValidMnemonic } from './core/payouts/signer.ts'
import { redisOptions } from './redis-options.ts'

const xpubPattern = /^[a-zA-Z0-9]{100,120}$/
const accountPathPattern = /^m(\/[0-9]+')+$/

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')

const booleanString = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')

/** A whole number written in plain decimal digits (no sign, exponent, hex or fraction), at most `max`. */
const count = (max: number) =>
  z
    .string()
    .regex(/^\d{1,10}$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().max(max, `must be at most ${max}`))

const seconds = count(86_400).pipe(z.number().min(1, 'must be at least 1'))

/**
 * `CORS_ORIGINS`: `*`, or origins (scheme, host, optional port; nothing else) compared as browsers send them.
 * Undefined when an entry is not an origin.
 */
function parseOrigins(value: string): string[] | undefined {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
  if (entries.length === 1 && entries[0] === '*') return ['*']
  const out: string[] = []
  for (const entry of entries) {
    if (entry.length > 200) return undefined
    let url: URL
    try {
      url = new URL(entry)
    } catch {
      return undefined
    }
    const bare = entry.replace(/\/$/, '').toLowerCase()
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== bare) return undefined
    out.push(url.origin)
  }
  return out
}

const envSchema = z.object({
  TOLLGATE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  /** Where queries go: Postgres itself, or a pooler in front of it (PgBouncer in transaction mode works). */
  DATABASE_URL: postgresUrl.optional(),
  /**
   * Postgres itself, not a pooler: the one connection per API process that LISTENs for key revocations (LISTEN
   * needs a session of its own, which a transaction-mode pooler does not keep). Defaults to DATABASE_URL.
   */
  DATABASE_DIRECT_URL: postgresUrl.optional(),
  /**
   * Named prepared statements: `auto` (default) uses them where DATABASE_URL keeps sessions (Postgres, a
   * session-mode pooler) and not behind a transaction-mode pooler; `true` for PgBouncer 1.21+ with
   * max_prepared_statements set.
   */
  DATABASE_PREPARE: z
    .enum(['true', 'false', '1', '0', 'auto'])
    .default('auto')
    .transform((v) => (v === 'auto' ? ('auto' as const) : v === 'true' || v === '1')),
  TOLLGATE_DATA_DIR: z.string().min(1).default('.tollgate/pglite'),
  /** Postgres connections per process at most (opened as needed); the API adds one for LISTEN. */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(10),
  /** redis://, rediss:// or redis+sentinel://host1,host2/<master> (see src/redis-options.ts). */
  REDIS_URL: z
    .string()
    .superRefine((value, ctx) => {
      try {
        redisOptions(value)
      } catch (err) {
        // the reason names what is wrong, never the value (which may hold a password)
        ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^REDIS_URL: /, '') })
      }
    })
    .default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9:_-]{1,64}$/)
    .default('tollgate'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  /** Base URL payers reach this server at, for checkout links (default: http://HOST:PORT). */
  PUBLIC_URL: z
    .string()
    .regex(/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/, 'must be an http(s) URL without query or fragment')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  TOLLGATE_PLUGINS_CONFIG: z.string().min(1).default('plugins.config.ts'),
  TOLLGATE_SEED: z.string().refine(isValidMnemonic, 'not a valid BIP39 mnemonic').optional(),
  TOLLGATE_SEED_FILE: z.string().min(1).optional(),
  /** 32 bytes as 64 hex digits: seals console users' TOTP secrets at rest (AES-256-GCM). */
  CONSOLE_SECRET_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`')
    .optional(),
  TOLLGATE_XPUBS: z
    .string()
    .transform((value, ctx) => {
      const out: Record<string, string> = {}
      for (const pair of value
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)) {
        const eq = pair.indexOf('=')
        const path = pair.slice(0, eq)
        const xpub = pair.slice(eq + 1)
        if (eq < 0 || !accountPathPattern.test(path) || !xpubPattern.test(xpub)) {
          ctx.addIssue({
            code: 'custom',
            message: "expected comma-separated <account path>=<xpub> pairs, e.g. m/44'/60'/0'=xpub6…",
          })
          return z.NEVER
        }
        out[path] = xpub
      }
      return out
    })
    .optional(),
  /** How often the worker compares the ledger with the chain (per chain that can report balances). */
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1000).default(600_000),
  SCANNER_LEASE_MS: z.coerce.number().int().min(200).default(1200),
  /** How often the scan lease holder looks at the mempool of chains whose driver reads it (Bitcoin). */
  MEMPOOL_POLL_MS: z.coerce.number().int().min(50).default(500),
  /** How long one KYT screening (every provider, every address) may take before it counts as unanswered. */
  KYT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
  ADDRESS_POOL_SIZE: z.coerce.number().int().min(1).max(1_000_000).default(2000),
  PAYMENT_DEFAULT_EXPIRES_IN: z.coerce.number().int().min(60).default(3600),
  PAYMENT_MAX_EXPIRES_IN: z.coerce
    .number()
    .int()
    .min(60)
    .default(7 * 24 * 3600),
  /** Shortfall accepted as paid in full, in basis points of the amount due (50 = 0.5 %). */
  PAYMENT_TOLERANCE_BPS: z.coerce.number().int().min(0).max(1000).default(0),
  WEBHOOK_ALLOW_PRIVATE: booleanString.optional(),
  /** Delays before each retry (`100ms`, `5s`, `2m`, `6h`…); the default spans about 3.9 days. */
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .default('5s,1m,5m,30m,2h,6h,12h,24h,24h,24h')
    .transform((value, ctx) => {
      const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
      const out: number[] = []
      for (const part of value.split(',').map((p) => p.trim())) {
        const m = /^(\d+)(ms|s|m|h|d)$/.exec(part)
        if (!m) {
          ctx.addIssue({ code: 'custom', message: 'expected comma-separated durations such as 5s,1m,2h' })
          return z.NEVER
        }
        out.push(Number(m[1]) * (units[m[2] as string] as number))
      }
      return out
    }),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
  GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).default(10),
  GRAPHQL_MAX_FIELDS: z.coerce.number().int().min(10).default(500),
  GRAPHQL_MAX_TOKENS: z.coerce.number().int().min(100).default(2000),
  /** Most cost points one operation may have (fields × the list sizes they repeat under), refused before it runs. */
  GRAPHQL_MAX_COST: z.coerce.number().int().min(100).max(10_000_000).default(20_000),
  /** Cost points each API key may spend per minute, shared by every API process through Redis. */
  GRAPHQL_COST_BUDGET: z.coerce.number().int().min(100).max(1_000_000_000).default(200_000),
  GRAPHIQL: booleanString.optional(),
  /** Open graphql-ws sockets one client IP may hold; the next upgrade is refused with 429. */
  WS_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(1).default(100),
  /** Subscriptions one graphql-ws socket may run at once. */
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(20),
  /** Subscriptions one client IP may run at once, over graphql-ws and server-sent events together. */
  SUBSCRIPTIONS_MAX_PER_IP: z.coerce.number().int().min(1).default(200),
  /** Requests one client address (an IPv6 /64) may make per window on /graphql and the checkout; 0: no limit. */
  RATE_LIMIT_PER_IP: count(10_000_000).default(6000),
  /** Requests one API key may make per window (every API process together); 0: no limit. */
  RATE_LIMIT_PER_KEY: count(10_000_000).default(3000),
  /** The window both request limits count over, in seconds. */
  RATE_LIMIT_WINDOW_SECONDS: seconds.default(60),
  /** Failed authentications one client address may have per failure window before its keys are no longer looked up; 0: no limit. */
  RATE_LIMIT_AUTH_FAILURES: count(1_000_000).default(20),
  RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS: seconds.default(600),
  /** Addresses or CIDR ranges of the reverse proxies whose X-Forwarded-For is believed; none by default. */
  TRUST_PROXY: z
    .string()
    .transform((value, ctx) => {
      const ranges = parseTrustedProxies(value)
      if (ranges) return ranges
      ctx.addIssue({
        code: 'custom',
        message:
          'expected comma-separated IP addresses or CIDR ranges of your proxies, e.g. 10.0.0.0/8,127.0.0.1',
      })
      return z.NEVER
    })
    .default([]),
  /** Introspection and "Did you mean" suggestions; on by default outside production. */
  GRAPHQL_INTROSPECTION: booleanString.optional(),
  /** Browser origins allowed to call /graphql (CORS), comma-separated; `*` for any (no credentials ever). */
  CORS_ORIGINS: z
    .string()
    .transform((value, ctx) => {
      const origins = parseOrigins(value)
      if (origins) return origins
      ctx.addIssue({
        code: 'custom',
        message:
          'expected comma-separated origins such as https://shop.example,https://admin.example:8443, or *',
      })
      return z.NEVER
    })
    .default([]),
})

export type Env = z.output<typeof envSchema> & { seed?: string }

/**
 * Every variable parseEnv reads (the plugins config may read more, e.g. RPC URLs).
 *
 * @example
 * envVariables.includes('DATABASE_DIRECT_URL') // true
 */
export const envVariables: readonly string[] = Object.keys(envSchema.shape)

/** Every problem with the environment, named variable by variable; values are never echoed. */
export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'EnvError'
  }
}

/**
 * Parses the environment once. All problems are reported together; no value (seeds, URLs with passwords) is
 * ever part of a message.
 *
 * @example
 * const env = parseEnv(process.env)
 */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''))
  const result = envSchema.safeParse(cleaned)
  const problems = result.success
    ? []
    : result.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`)
  // seed checks read the raw values, so they are reported alongside any other bad variable
  const seedFile = cleaned.TOLLGATE_SEED_FILE
  let seed = result.success ? result.data.TOLLGATE_SEED : undefined
  if (cleaned.TOLLGATE_SEED && seedFile)
    problems.push('TOLLGATE_SEED and TOLLGATE_SEED_FILE: set one, not both')
  if (seedFile) {
    if (!existsSync(seedFile)) problems.push('TOLLGATE_SEED_FILE: file does not exist')
    else {
      seed = readFileSync(seedFile, 'utf8').trim()
      if (!isValidMnemonic(seed))
        problems.push('TOLLGATE_SEED_FILE: file does not hold a valid BIP39 mnemonic')
    }
  }
  if (result.success && result.data.PAYMENT_DEFAULT_EXPIRES_IN > result.data.PAYMENT_MAX_EXPIRES_IN)
    problems.push('PAYMENT_DEFAULT_EXPIRES_IN: must not exceed PAYMENT_MAX_EXPIRES_IN')
  // a budget below the largest allowed operation would refuse operations the cost limit lets through
  if (result.success && result.data.GRAPHQL_COST_BUDGET < result.data.GRAPHQL_MAX_COST)
    problems.push('GRAPHQL_COST_BUDGET: must be at least GRAPHQL_MAX_COST')
  if (result.success && result.data.DATABASE_DIRECT_URL && !result.data.DATABASE_URL)
    problems.push('DATABASE_DIRECT_URL: set DATABASE_URL too (the direct URL only carries LISTEN)')
  if (problems.length > 0 || !result.success) throw new EnvError(problems)
  return { ...result.data, seed }
}
