import {
  checkRateQuote,
  defineRateProvider,
  distinctPairs,
  type RateContext,
  type RatePair,
  type RateProvider,
  type RateQuote,
  SDK_API_VERSION,
} from '@tollgate/sdk'
import { type FixedOptions, fixedOptionsSchema } from './options.ts'

/**
 * The rate provider for the operator's own rates (`rates: { 'USDT/USD': '1', 'EUR/USD': '1.08' }`): each pair
 * asked that the options list, at its rate, dated now on every fetch (a set rate is as fresh as the config that
 * holds it). A pair not listed is left out: no inverse (`USD/EUR`) and no chain (`USDT/EUR`) is made up.
 *
 * @example
 * const fixed = createFixedProvider(fixedOptionsSchema.parse({ rates: { 'USDT/USD': '1' } }), ctx)
 * await fixed.fetchRates([{ base: 'USDT', quote: 'USD' }]) // [{ base: 'USDT', quote: 'USD', rate: '1', at: <now> }]
 */
export function createFixedProvider(options: FixedOptions, ctx: RateContext): RateProvider {
  const rates = new Map(Object.entries(options.rates))
  return {
    async fetchRates(pairs: readonly RatePair[]): Promise<RateQuote[]> {
      const at = new Date()
      const quotes = distinctPairs(pairs).flatMap((pair) => {
        const rate = rates.get(`${pair.base}/${pair.quote}`)
        return rate === undefined ? [] : [checkRateQuote({ ...pair, rate, at }, at)]
      })
      ctx.log.debug({ asked: pairs.length, answered: quotes.length }, 'fixed rates given')
      return quotes
    },
  }
}

export default defineRateProvider({
  apiVersion: SDK_API_VERSION,
  name: 'rates-fixed',
  options: fixedOptionsSchema,
  create: (options, ctx) => createFixedProvider(options, ctx),
})
