import { and, eq, gte, lt, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { type PaymentStatus, paymentStatuses, payments } from '../../db/schema/index.ts'
import { invalidInput } from '../errors.ts'

// Aggregates over one merchant's rows for an overview: counts and sums computed by Postgres, amounts kept as
// bigint from the numeric column to the caller (never a float), every statement narrowed to the merchant.

/** How many payments a merchant has in one status. */
export type StatusCount = { status: PaymentStatus; count: number }

/**
 * A merchant's payments counted per status, every status listed (zero where none), in the order statuses are
 * declared.
 *
 * @example
 * const counts = await paymentCountsByStatus({ db }, merchantId)
 * // [{ status: 'PENDING', count: 3 }, { status: 'PARTIALLY_PAID', count: 0 }, …]
 */
export async function paymentCountsByStatus(ctx: { db: Db }, merchantId: string): Promise<StatusCount[]> {
  const rows = await ctx.db
    .select({ status: payments.status, count: sql<string>`count(*)` })
    .from(payments)
    .where(eq(payments.merchantId, merchantId))
    .groupBy(payments.status)
  const counted = new Map(rows.map((r) => [r.status, Number(r.count)]))
  return paymentStatuses.map((status) => ({ status, count: counted.get(status) ?? 0 }))
}

export const volumeIntervals = ['DAY', 'HOUR'] as const
export type VolumeInterval = (typeof volumeIntervals)[number]

/** The most buckets one volume query may span: a year of days, or about two weeks of hours. */
export const maxVolumeBuckets = 366

const intervalMs: Record<VolumeInterval, number> = { DAY: 86_400_000, HOUR: 3_600_000 }

/** What a volume query covers when `from` is not given: the last 30 days by day, the last 24 hours by hour. */
const defaultWindowMs: Record<VolumeInterval, number> = { DAY: 30 * 86_400_000, HOUR: 24 * 3_600_000 }

/** A checked volume range: `[from, to)`, spanning at most `maxVolumeBuckets` buckets of `interval`. */
export type VolumeRange = { interval: VolumeInterval; from: Date; to: Date }

/** The start of the UTC bucket holding `ms` (UTC days and hours are whole multiples of their length). */
const bucketOf = (ms: number, interval: VolumeInterval) =>
  Math.floor(ms / intervalMs[interval]) * intervalMs[interval]

/**
 * The range a volume query runs over: `to` defaults to `now`, `from` to the default window before `to`. Throws
 * INVALID_INPUT on `to` when it is not after `from`, on `from` when the range spans more than
 * `maxVolumeBuckets` buckets.
 *
 * @example
 * volumeRange({ interval: 'DAY' }, new Date('2025-03-31T12:00:00Z'))
 * // { interval: 'DAY', from: 2025-03-01T12:00:00Z, to: 2025-03-31T12:00:00Z }
 */
export function volumeRange(
  params: { interval?: VolumeInterval | null; from?: Date | null; to?: Date | null },
  now: Date,
): VolumeRange {
  const interval = params.interval ?? 'DAY'
  if (!volumeIntervals.includes(interval))
    throw invalidInput('interval', `interval must be one of ${volumeIntervals.join(', ')}`)
  for (const [field, value] of [
    ['from', params.from],
    ['to', params.to],
  ] as const)
    if (value != null && Number.isNaN(value.getTime()))
      throw invalidInput(field, `${field} is not an instant`)
  const to = params.to ?? now
  const from = params.from ?? new Date(to.getTime() - defaultWindowMs[interval])
  if (from.getTime() >= to.getTime())
    throw invalidInput('to', 'to must be after from (the range is [from, to))')
  // the buckets touched: from the one holding `from` to the one holding the last instant before `to`
  const buckets =
    (bucketOf(to.getTime() - 1, interval) - bucketOf(from.getTime(), interval)) / intervalMs[interval] + 1
  if (buckets > maxVolumeBuckets)
    throw invalidInput(
      'from',
      `the range spans ${buckets} ${interval.toLowerCase()}s; at most ${maxVolumeBuckets} buckets per query`,
    )
  return { interval, from, to }
}

/** What completed in one bucket for one asset: the credited amount in base units and how many payments. */
export type VolumePoint = { bucketStart: Date; chain: string; asset: string; amount: bigint; count: number }

/**
 * A merchant's completed payments in `[from, to)` by `completed_at`, summed per UTC bucket (Postgres
 * `date_trunc` in UTC), chain and asset: what each credited (`amount_confirmed`, refunds not deducted) and how
 * many. Buckets where nothing completed are left out; points come oldest first, then by chain and asset.
 *
 * @example
 * const range = volumeRange({ interval: 'DAY' }, new Date())
 * const points = await paymentVolume({ db }, merchantId, range)
 * // [{ bucketStart: 2025-03-02T00:00:00Z, chain: 'ethereum', asset: 'eip155:1/slip44:60', amount: 10n ** 18n, count: 1 }]
 */
export async function paymentVolume(
  ctx: { db: Db },
  merchantId: string,
  range: VolumeRange,
): Promise<VolumePoint[]> {
  // the unit inlined, not a parameter: the select and the group by must be the same expression to Postgres
  const unit = sql.raw(range.interval === 'DAY' ? `'day'` : `'hour'`)
  const bucket = sql`date_trunc(${unit}, ${payments.completedAt}, 'UTC')`
  const rows = await ctx.db
    .select({
      bucketStart: sql<string>`${bucket}`,
      chain: payments.chain,
      asset: payments.asset,
      amount: sql<string>`sum(${payments.amountConfirmed})::text`,
      count: sql<string>`count(*)`,
    })
    .from(payments)
    .where(
      and(
        eq(payments.merchantId, merchantId),
        eq(payments.status, 'COMPLETED'),
        gte(payments.completedAt, range.from),
        lt(payments.completedAt, range.to),
      ),
    )
    .groupBy(bucket, payments.chain, payments.asset)
  const points = rows.map((r) => ({
    bucketStart: new Date(r.bucketStart),
    chain: r.chain,
    asset: r.asset,
    amount: BigInt(r.amount),
    count: Number(r.count),
  }))
  // ordered here, by code point: the database's collation would order ids differently per deployment
  const key = (p: VolumePoint) => `${p.bucketStart.toISOString()}\u0000${p.chain}\u0000${p.asset}`
  return points.sort((a, b) => (key(a) < key(b) ? -1 : 1))
}
