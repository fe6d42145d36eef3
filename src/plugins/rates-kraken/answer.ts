import { DriverError } from '@tollgate/sdk'
import { z } from 'zod'

// The shape of `GET /0/public/Ticker` as Kraken documents it. Objects are loose (Kraken adds fields over time);
// only `c`, the last trade closed as [price, lot volume], is read. Prices stay strings: they are checked later.
const tickerSchema = z.looseObject({ c: z.tuple([z.string().max(64), z.string().max(64)]) })
const answerSchema = z.looseObject({
  error: z.array(z.string().max(512)).max(64),
  result: z.record(z.string().max(64), tickerSchema).optional(),
})

/** What one Ticker request gave: last prices by result key, or Kraken's word that it lists no such pair. */
export type TickerRead = { kind: 'prices'; prices: Map<string, string> } | { kind: 'unknown-pair' }

const fail = (code: string, message: string, retryable: boolean) =>
  new DriverError(code, message, { retryable })

/** The typed error for Kraken's error strings (it answers HTTP 200 with them). */
function errorOf(errors: readonly string[], what: string): DriverError {
  const said = `${what}: Kraken answered ${errors.join('; ').slice(0, 300)}`
  if (errors.some((e) => /rate limit exceeded|too many requests/i.test(e)))
    return fail('RATE_LIMITED', `${said} (rate limited, no Retry-After given)`, true)
  if (errors.some((e) => e.startsWith('EService:') || e === 'EGeneral:Internal error'))
    return fail('RATE_UNAVAILABLE', said, true)
  if (errors.some((e) => e.startsWith('EAPI:Invalid key') || e === 'EGeneral:Permission denied'))
    return fail('RATE_AUTH', said, false)
  return fail('RATE_REJECTED', said, false)
}

/**
 * Reads a parsed Ticker answer: its last trade prices by result key, or `unknown-pair` when Kraken refused the
 * request for a pair it does not list (`EQuery:Unknown asset pair`, which fails the whole request). Any other
 * error string is a typed error (rate limit and service trouble retryable); another shape is the non-retryable
 * `RATE_BAD_ANSWER`.
 *
 * @example
 * readTicker({ error: [], result: { XXBTZUSD: { c: ['65000.10000', '0.0015'] } } }, what)
 * // { kind: 'prices', prices: Map { 'XXBTZUSD' => '65000.10000' } }
 */
export function readTicker(body: unknown, what: string): TickerRead {
  const parsed = answerSchema.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.length ? issue.path.join('.') : 'the body'
    throw fail(
      'RATE_BAD_ANSWER',
      `${what}: an unexpected shape: ${where}: ${issue?.message ?? 'invalid'}`,
      false,
    )
  }
  const { error, result } = parsed.data
  if (error.length > 0) {
    if (error.every((e) => e.startsWith('EQuery:Unknown asset pair'))) return { kind: 'unknown-pair' }
    throw errorOf(error, what)
  }
  if (!result) throw fail('RATE_BAD_ANSWER', `${what}: an answer without result or error`, false)
  return { kind: 'prices', prices: new Map(Object.entries(result).map(([key, t]) => [key, t.c[0]])) }
}
