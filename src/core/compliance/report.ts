import { csvField } from '../csv.ts'
import type { KytCheckRow } from './checks.ts'

/** One line of the compliance report: a screening, its verdict and grounds, and the reviewer's decision. */
export type ReportRow = {
  screenedAt: string
  checkId: string
  merchantId: string
  chain: string
  direction: string
  subject: string
  paymentId: string
  txHash: string
  asset: string
  amount: string
  addresses: string
  state: string
  verdict: string
  reason: string
  failMode: string
  categories: string
  providers: string
  versions: string
  decidedBy: string
  decidedAt: string
  note: string
}

export const reportColumns: readonly (keyof ReportRow)[] = [
  'screenedAt',
  'checkId',
  'merchantId',
  'chain',
  'direction',
  'subject',
  'paymentId',
  'txHash',
  'asset',
  'amount',
  'addresses',
  'state',
  'verdict',
  'reason',
  'failMode',
  'categories',
  'providers',
  'versions',
  'decidedBy',
  'decidedAt',
  'note',
]

/**
 * A screening as a report line: every provider's categories and answers flattened to text, amounts in base units.
 *
 * @example
 * reportRow(check).verdict // 'block'
 */
export function reportRow(c: KytCheckRow): ReportRow {
  const categories = [...new Set(c.answers.flatMap((a) => a.categories ?? []))]
  return {
    screenedAt: (c.screenedAt ?? c.createdAt).toISOString(),
    checkId: c.id,
    merchantId: c.merchantId,
    chain: c.chain,
    direction: c.direction,
    subject: `${c.subjectType}:${c.subjectId}`,
    paymentId: c.paymentId ?? '',
    txHash: c.txHash ?? '',
    asset: c.asset,
    amount: c.amount.toString(),
    addresses: c.addresses.join(' '),
    state: c.state,
    verdict: c.verdict ?? '',
    reason: c.reason ?? '',
    failMode: c.failMode ?? '',
    categories: categories.join(' '),
    providers: c.answers
      .map((a) => `${a.provider}:${a.address}:${a.verdict ?? `error ${a.error}`}`)
      .join(' '),
    versions: c.versions ?? '',
    decidedBy: c.decidedBy ?? '',
    decidedAt: c.decidedAt?.toISOString() ?? '',
    note: c.note ?? '',
  }
}

/** The CSV header line. */
export const csvHeader = () => reportColumns.join(',')

/** A report row as a CSV line. */
export const csvLine = (row: ReportRow) => reportColumns.map((k) => csvField(row[k])).join(',')

const reportInstantPattern =
  /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/

/**
 * A bound of a report's period as written by a person: `2026-01-31` (UTC midnight) or an ISO-8601 instant with
 * its zone; null for anything else, a day the calendar lacks included (the CLI and the HTTP export word their own
 * refusal).
 *
 * @example
 * reportInstant('2026-01-31') // 2026-01-31T00:00:00.000Z
 * reportInstant('2026-02-30') // null
 */
export function reportInstant(value: string): Date | null {
  const m = reportInstantPattern.exec(value)
  if (!m) return null
  const at = new Date(m[4] ? value : `${value}T00:00:00Z`)
  // Date rolls 2026-02-30 over into March
  const day = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])))
  return Number.isNaN(at.getTime()) || day.getUTCDate() !== Number(m[3]) ? null : at
}
