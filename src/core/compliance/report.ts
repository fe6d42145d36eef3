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
