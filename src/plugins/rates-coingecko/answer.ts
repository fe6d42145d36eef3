import { DriverError, decimalOfJsonNumber } from '@tollgate/sdk'
import { z } from 'zod'

// The shape of `GET /api/v3/simple/price` as CoinGecko documents it: by coin id, by lowercase currency, a price
// as a JSON number, and `last_updated_at` in unix seconds when asked for. Entries are loose (other `include_…`
// fields may come along); the values read are checked where they are read.
const priceSchema = z.record(z.string().max(128), z.record(z.string().max(64), z.unknown()))

/** One price of the answer: the exact decimal CoinGecko wrote, and when it says it updated it (if it says). */
export type Price = { rate: string; updatedAt: Date | undefined }

const badAnswer = (message: string) => new DriverError('RATE_BAD_ANSWER', message, { retryable: false })

/**
 * The checked answer of a `simple/price` request: a reader of one coin's price in one currency. A coin or a
 * currency the answer lacks (CoinGecko leaves out what it does not know) or a null price reads as undefined; a
 * body of another shape, a price that is not a positive number or a `last_updated_at` that is not unix seconds
 * is the non-retryable `RATE_BAD_ANSWER`.
 *
 * @example
 * const price = readPrices({ bitcoin: { usd: 65000.1, last_updated_at: 1733306400 } }, what)
 * price('bitcoin', 'usd') // { rate: '65000.1', updatedAt: 2024-12-04T10:00:00.000Z }
 */
export function readPrices(body: unknown, what: string): (id: string, vs: string) => Price | undefined {
  const parsed = priceSchema.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.length ? issue.path.join('.') : 'the body'
    throw badAnswer(`${what}: an unexpected shape: ${where}: ${issue?.message ?? 'invalid'}`)
  }
  const coins = new Map(Object.entries(parsed.data))
  return (id, vs) => {
    const coin = coins.get(id)
    const value = coin && Object.hasOwn(coin, vs) ? coin[vs] : undefined
    if (value === undefined || value === null) return undefined
    let rate: string
    try {
      rate = decimalOfJsonNumber(value)
    } catch {
      throw badAnswer(`${what}: ${id}.${vs} is not a positive price: ${JSON.stringify(value).slice(0, 32)}`)
    }
    const seconds = coin?.last_updated_at
    if (seconds === undefined || seconds === null) return { rate, updatedAt: undefined }
    if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds <= 0)
      throw badAnswer(
        `${what}: ${id}.last_updated_at is not unix seconds: ${JSON.stringify(seconds).slice(0, 32)}`,
      )
    return { rate, updatedAt: new Date(seconds * 1000) }
  }
}
