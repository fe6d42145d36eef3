import type { Db } from '../../db/client.ts'
import { invalidInput, invariantBroken } from '../errors.ts'
import { checksBetween } from './queries.ts'
import { csvHeader, csvLine, reportInstant, reportRow } from './report.ts'

// `/exports/kyt.csv`: the compliance report `tollgate kyt report` prints, for one merchant over HTTP. The query
// string is checked here; the rows and their columns are the core's (report.ts), so both give the same file.

/** The period of a report: screenings opened at or after `from` and before `to`. */
export type KytReportRange = { from: Date; to: Date }

const reportParams = new Set(['from', 'to'])
/** A bound of the period (see reportInstant), else INVALID_INPUT naming the parameter. */
function reportBound(params: URLSearchParams, field: 'from' | 'to'): Date {
  const value = params.get(field)
  if (value === null || value === '')
    throw invalidInput(field, `${field} is required, e.g. ${field}=2026-01-01`)
  const at = reportInstant(value)
  if (!at)
    throw invalidInput(
      field,
      `${field} takes a date (2026-01-31, UTC) or an ISO-8601 instant with its zone (2026-01-31T12:00:00Z)`,
    )
  return at
}

/**
 * The period a report request asks for, checked: `from` and `to` are required, each a date or an instant with its
 * zone, `from` before `to`; an unknown or repeated parameter is refused. Every refusal is an INVALID_INPUT
 * TollgateError naming the parameter (nothing is read then).
 *
 * @example
 * kytReportQuery(new URLSearchParams('from=2026-01-01&to=2026-02-01'))
 * // { from: 2026-01-01T00:00:00.000Z, to: 2026-02-01T00:00:00.000Z }
 */
export function kytReportQuery(params: URLSearchParams): KytReportRange {
  for (const key of new Set(params.keys())) {
    if (!reportParams.has(key)) throw invalidInput(key, `unknown parameter ${JSON.stringify(key)}`)
    if (params.getAll(key).length > 1) throw invalidInput(key, `${key} is given more than once`)
  }
  const from = reportBound(params, 'from')
  const to = reportBound(params, 'to')
  if (from.getTime() >= to.getTime())
    throw invalidInput('to', `to (${to.toISOString()}) must be after from (${from.toISOString()})`)
  return { from, to }
}

/**
 * The merchant's report as CSV text, a page of screenings at a time: the header line, then one line per screening
 * opened in the period, oldest first. Only `merchantId`'s screenings are read.
 *
 * @example
 * for await (const text of kytReportCsv(db, merchantId, range)) stream.write(text)
 */
export async function* kytReportCsv(
  db: Db,
  merchantId: string,
  range: KytReportRange,
): AsyncGenerator<string> {
  // checksBetween reads every merchant's screenings without one: never for a merchant's download
  if (merchantId === '') throw invariantBroken('KYT_REPORT_NO_MERCHANT', 'a merchant report needs a merchant')
  yield `${csvHeader()}\n`
  for await (const page of checksBetween(db, { ...range, merchantId }))
    yield `${page.map((check) => csvLine(reportRow(check))).join('\n')}\n`
}
