import type { Redis } from 'ioredis'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible'

/** The window a budget is counted over: GRAPHQL_COST_BUDGET is points per minute. */
export const budgetWindowSeconds = 60

// a Redis that stalls must not stall the API: past this, this process counts on its own for a while
const storeTimeoutMs = 250

export type BudgetRefusal = { retryAfterSeconds: number; spent: number }

export type CostBudget = {
  points: number
  /**
   * Charges `cost` points to an API key; undefined when it fits in what is left of the key's window, else the
   * refusal (and nothing is charged: a refused operation did no work).
   */
  spend(keyId: string, cost: number): Promise<BudgetRefusal | undefined>
}

/**
 * A budget of query cost points per API key per minute, counted in Redis (keys under
 * `<prefix>:ratelimit:cost:`) so that every API process draws on the same one. When Redis does not answer
 * within 250 ms, this process keeps a count of its own instead (the per-operation limit still holds).
 *
 * @example
 * const budget = createCostBudget({ redis, prefix: 'tollgate', points: 200_000 })
 * const refused = await budget.spend(auth.keyId, 1200)
 * if (refused) throw rateLimited(refused.retryAfterSeconds)
 */
export function createCostBudget(deps: { redis: Redis; prefix: string; points: number }): CostBudget {
  const options = { points: deps.points, duration: budgetWindowSeconds }
  const store = new RLWrapperTimeouts({
    limiter: new RateLimiterRedis({
      ...options,
      storeClient: deps.redis,
      keyPrefix: `${deps.prefix}:ratelimit:cost`,
      rejectIfRedisNotReady: true,
    }),
    timeoutMs: storeTimeoutMs,
    insuranceLimiter: new RateLimiterMemory(options),
  })
  return {
    points: deps.points,
    async spend(keyId, cost) {
      const points = Math.ceil(cost)
      if (points <= 0) return undefined
      try {
        await store.consume(keyId, points)
        return undefined
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err
        // the counter went up before the refusal was known: give the points back
        await store.reward(keyId, points).catch(() => undefined)
        return {
          retryAfterSeconds: Math.max(1, Math.ceil(err.msBeforeNext / 1000)),
          spent: err.consumedPoints - points,
        }
      }
    },
  }
}
