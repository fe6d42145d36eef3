import type { Redis } from 'ioredis'
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  RLWrapperTimeouts,
} from 'rate-limiter-flexible'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'

/** Which limit refused a request: requests of an address, requests of an API key, failed authentications. */
export type LimiterName = 'ip' | 'key' | 'auth'

export type RateLimitSettings = {
  /** Requests per address per window; 0: no limit. */
  perIp: number
  /** Requests per API key per window; 0: no limit. */
  perKey: number
  windowSeconds: number
  /** Failed authentications per address per failure window before its keys are no longer looked up; 0: none. */
  authFailures: number
  authFailureWindowSeconds: number
}

/** A refusal: which limit, and in how many seconds the caller may try again (at least 1). */
export type RateLimited = { limiter: LimiterName; retryAfterSeconds: number }

export type RateLimits = {
  /** Counts a request of an address; the refusal when the address is over its limit. */
  request(subject: string): Promise<RateLimited | undefined>
  /** Counts a request of an authenticated key (by key id); the refusal when the key is over its limit. */
  key(keyId: string): Promise<RateLimited | undefined>
  /** Reads, without counting, whether the address failed authentication too often for its keys to be looked up. */
  authBlocked(subject: string): Promise<RateLimited | undefined>
  /** Counts a failed authentication of the address. */
  authFailed(subject: string): Promise<void>
}

// a Redis that stalls must not stall the API: past this, the check gives up (and the request goes through)
const storeTimeoutMs = 250
const warnEveryMs = 30_000

type Limiter = {
  name: LimiterName
  points: number
  store: RateLimiterAbstract
  /** The Redis limiter itself: its key naming and its in-process block list. */
  redis: RateLimiterRedis
}

const retryAfter = (ms: number) => Math.max(1, Math.ceil(ms / 1000))

/** Blocks this process keeps after Redis said a subject is over (not in the library's typings). */
function inMemoryBlockMs(limiter: Limiter, subject: string): number {
  const redis = limiter.redis as unknown as { getInMemoryBlockMsBeforeExpire(key: string): number }
  return redis.getInMemoryBlockMsBeforeExpire(limiter.redis.getKey(subject))
}

/**
 * Request and failed-authentication limits shared by every API process through Redis (keys under
 * `<REDIS_PREFIX>:ratelimit:`), fixed windows as rate-limiter-flexible counts them. A subject found over its
 * limit is also blocked in this process until the window ends, so a flood costs no Redis round trip either.
 * Redis unreachable or slow (over 250 ms): the request limits let requests through (the API must not go down
 * with its limiter) and failed authentications are counted in this process instead; both are logged as a
 * warning at most every 30 s and counted in `tollgate_rate_limiter_unavailable_total`.
 *
 * @example
 * const limits = createRateLimits({ redis, prefix: 'tollgate', settings, log, metrics })
 * const refused = await limits.request('203.0.113.9')
 * if (refused) return tooManyRequests(refused.retryAfterSeconds)
 */
export function createRateLimits(deps: {
  redis: Redis
  prefix: string
  settings: RateLimitSettings
  log: Logger
  metrics: Pick<Metrics, 'rateLimited' | 'rateLimiterUnavailable'>
}): RateLimits {
  const { settings, log, metrics } = deps
  const lastWarned = new Map<LimiterName, number>()

  function limiter(
    name: LimiterName,
    points: number,
    duration: number,
    blockAt: number,
  ): Limiter | undefined {
    if (points === 0) return undefined
    const redis = new RateLimiterRedis({
      storeClient: deps.redis,
      keyPrefix: `${deps.prefix}:ratelimit:${name}`,
      points,
      duration,
      inMemoryBlockOnConsumed: blockAt,
      rejectIfRedisNotReady: true,
    })
    return {
      name,
      points,
      redis,
      store: new RLWrapperTimeouts({ limiter: redis, timeoutMs: storeTimeoutMs }),
    }
  }

  const ip = limiter('ip', settings.perIp, settings.windowSeconds, settings.perIp + 1)
  const key = limiter('key', settings.perKey, settings.windowSeconds, settings.perKey + 1)
  const auth = limiter(
    'auth',
    settings.authFailures,
    settings.authFailureWindowSeconds,
    settings.authFailures,
  )
  // failed authentications keep being counted, per process, while Redis is away
  const authFallback =
    settings.authFailures > 0
      ? new RateLimiterMemory({ points: settings.authFailures, duration: settings.authFailureWindowSeconds })
      : undefined

  function unavailable(name: LimiterName, err: unknown) {
    metrics.rateLimiterUnavailable.inc({ limiter: name })
    const now = Date.now()
    if (now - (lastWarned.get(name) ?? 0) < warnEveryMs) return
    lastWarned.set(name, now)
    log.warn(
      { limiter: name, err: err instanceof Error ? err.message : String(err) },
      name === 'auth'
        ? 'rate limiter cannot reach Redis: failed authentications are counted in this process only'
        : 'rate limiter cannot reach Redis: requests are let through unlimited',
    )
  }

  function refused(name: LimiterName, ms: number): RateLimited {
    metrics.rateLimited.inc({ limiter: name })
    return { limiter: name, retryAfterSeconds: retryAfter(ms) }
  }

  async function consume(l: Limiter | undefined, subject: string): Promise<RateLimited | undefined> {
    if (!l) return undefined
    try {
      await l.store.consume(subject)
      return undefined
    } catch (err) {
      if (err instanceof RateLimiterRes) return refused(l.name, err.msBeforeNext)
      unavailable(l.name, err)
      return undefined
    }
  }

  return {
    request: (subject) => consume(ip, subject),
    key: (keyId) => consume(key, keyId),

    async authBlocked(subject) {
      if (!auth) return undefined
      const blockedMs = inMemoryBlockMs(auth, subject)
      if (blockedMs > 0) return refused('auth', blockedMs)
      let seen: RateLimiterRes | null
      try {
        seen = await auth.store.get(subject)
      } catch (err) {
        unavailable('auth', err)
        seen = await (authFallback as RateLimiterMemory).get(subject)
      }
      return seen && seen.consumedPoints >= auth.points ? refused('auth', seen.msBeforeNext) : undefined
    },

    async authFailed(subject) {
      if (!auth) return
      // consume, not penalty: reaching the limit is what puts the address on this process's block list
      try {
        await auth.store.consume(subject)
      } catch (err) {
        if (err instanceof RateLimiterRes) return
        unavailable('auth', err)
        await (authFallback as RateLimiterMemory).consume(subject).catch(() => undefined)
      }
    },
  }
}
