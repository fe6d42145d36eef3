import { DriverError, isCurrencyCode, type RateQuote } from '@tollgate/sdk'
import { z } from 'zod'

// The documented answer of a merchant's rates endpoint:
//   { "rates": [ { "base": "BTC", "quote": "USD", "rate": "65000.12", "at": "2026-12-04T10:00:00Z" } ] }
// Rates are decimal strings (a JSON number is refused: 0.1 as a double is not 0.1), `at` an ISO 8601 time with
// its zone (`Z` or `+01:00`). Objects are loose so an endpoint may add fields of its own.
const entrySchema = z.looseObject({
  base: z.string().refine(isCurrencyCode, 'must be a currency code such as BTC (upper case)'),
  quote: z.string().refine(isCurrencyCode, 'must be a currency code such as USD (upper case)'),
  rate: z.string('must be a decimal string such as "65000.12" (not a number)').max(64),
  at: z.iso.datetime({
    offset: true,
    message: 'must be an ISO 8601 time with its zone, such as 2026-12-04T10:00:00Z',
  }),
})
const answerSchema = z.looseObject({ rates: z.array(entrySchema).max(10_000) })

const badAnswer = (message: string) => new DriverError('RATE_BAD_ANSWER', message, { retryable: false })

/**
 * The quotes of a parsed answer, by pair (`BTC/USD`), as the endpoint wrote them (rates unchecked here). An
 * answer of another shape, or naming a pair twice, is the non-retryable `RATE_BAD_ANSWER`: the whole answer,
 * never a part of it.
 *
 * @example
 * readRates({ rates: [{ base: 'BTC', quote: 'USD', rate: '65000.12', at: '2026-12-04T10:00:00Z' }] }, what)
 * // Map { 'BTC/USD' => { base: 'BTC', quote: 'USD', rate: '65000.12', at: 2026-12-04T10:00:00.000Z } }
 */
export function readRates(body: unknown, what: string): Map<string, RateQuote> {
  const parsed = answerSchema.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.length ? issue.path.join('.') : 'the body'
    throw badAnswer(`${what}: an unexpected shape: ${where}: ${issue?.message ?? 'invalid'}`)
  }
  const quotes = new Map<string, RateQuote>()
  for (const entry of parsed.data.rates) {
    const key = `${entry.base}/${entry.quote}`
    if (quotes.has(key)) throw badAnswer(`${what}: ${key} is in the answer twice`)
    quotes.set(key, { base: entry.base, quote: entry.quote, rate: entry.rate, at: new Date(entry.at) })
  }
  return quotes
}
