import type { AppContext } from '../context.ts'
import { refreshRates } from '../core/pricing/refresh-rates.ts'

/**
 * Asks the rate providers, stores every pair's rate and has this process's book read them at once (other
 * processes read them within their reload interval). Nothing to do without `pricing` in the config.
 */
export async function processRates(ctx: AppContext) {
  if (!ctx.pricing) return { stored: 0 }
  const result = await refreshRates({
    db: ctx.db,
    rates: ctx.pricing.providers,
    pricing: ctx.pricing.config,
    log: ctx.log,
  })
  await ctx.rateBook?.reload()
  if (result.unavailable.length > 0)
    ctx.log.warn(
      { unavailable: result.unavailable, failed: result.failed },
      'rates: some pairs have no fresh rate',
    )
  return {
    stored: result.stored.length,
    unavailable: result.unavailable.length,
    failed: result.failed.length,
  }
}
