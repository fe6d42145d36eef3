import { DriverError } from '@tollgate/sdk'
import { z } from 'zod'

// The shape of `GET /v2/exchange-rates` as Coinbase documents it. Objects are loose: an API adds fields over time
// and an integration must not break on one. Rates stay strings here; only the ones asked for are checked.
const exchangeRatesSchema = z.looseObject({
  data: z.looseObject({
    currency: z.string().max(32),
    rates: z.record(z.string().max(32), z.string().max(64)),
  }),
})

const badAnswer = (message: string) => new DriverError('RATE_BAD_ANSWER', message, { retryable: false })

/**
 * The rates of a parsed `GET /v2/exchange-rates?currency=<currency>` answer: what one unit of `currency` costs in
 * each other currency, by Coinbase's code, as Coinbase wrote them. An answer of another shape, or for another
 * base currency, is the non-retryable `RATE_BAD_ANSWER` (never rates made up from it).
 *
 * @example
 * readExchangeRates({ data: { currency: 'BTC', rates: { USD: '65000.12' } } }, 'BTC', what) // { USD: '65000.12' }
 */
export function readExchangeRates(body: unknown, currency: string, what: string): Record<string, string> {
  const parsed = exchangeRatesSchema.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.length ? issue.path.join('.') : 'the body'
    throw badAnswer(`${what}: an unexpected shape: ${where}: ${issue?.message ?? 'invalid'}`)
  }
  const { data } = parsed.data
  if (data.currency.toUpperCase() !== currency)
    throw badAnswer(`${what}: rates of ${JSON.stringify(data.currency)} when asked for ${currency}`)
  return data.rates
}
