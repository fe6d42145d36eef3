import { DriverError, isCurrencyCode, type RatePair } from '@tollgate/sdk'

/**
 * The distinct pairs of a request, each checked: codes such as `BTC` and `USD`, two different ones. A malformed
 * pair is refused with the non-retryable `RATE_BAD_REQUEST` before anything is sent.
 *
 * @example
 * distinctPairs([{ base: 'BTC', quote: 'USD' }, { base: 'BTC', quote: 'USD' }]) // [{ base: 'BTC', quote: 'USD' }]
 */
export function distinctPairs(pairs: readonly RatePair[]): RatePair[] {
  const seen = new Map<string, RatePair>()
  for (const pair of pairs) {
    if (!isCurrencyCode(pair?.base) || !isCurrencyCode(pair?.quote) || pair.base === pair.quote)
      throw new DriverError(
        'RATE_BAD_REQUEST',
        `not a currency pair: ${String(JSON.stringify(pair)).slice(0, 80)} (codes such as BTC and USD, two different ones)`,
        { retryable: false },
      )
    seen.set(`${pair.base}/${pair.quote}`, { base: pair.base, quote: pair.quote })
  }
  return [...seen.values()]
}
