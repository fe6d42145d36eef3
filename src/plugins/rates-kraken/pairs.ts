import { checkRateQuote, DriverError, isCurrencyCode, type RatePair, type RateQuote } from '@tollgate/sdk'

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

/**
 * A quote checked as the gateway checks it (`checkRateQuote`); one that fails is the source's bad answer, the
 * non-retryable `RATE_BAD_ANSWER` named by `what`.
 *
 * @example
 * checkedQuote({ base: 'BTC', quote: 'USD', rate: '65000.10000', at }, 'GET /0/public/Ticker?pair=XBTUSD')
 */
export function checkedQuote(quote: RateQuote, what: string): RateQuote {
  try {
    return checkRateQuote(quote)
  } catch (err) {
    throw new DriverError('RATE_BAD_ANSWER', `${what}: ${err instanceof Error ? err.message : String(err)}`, {
      retryable: false,
    })
  }
}
