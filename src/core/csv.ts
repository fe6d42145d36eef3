/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a field a spreadsheet would run
 * as a formula (`=`, `+`, `-`, `@`, tab, carriage return first) is prefixed with `'` so a hostile note cannot.
 * Numbers the gateway formats itself (a signed amount) are written as they are, not through this.
 *
 * @example
 * csvField('=HYPERLINK("x")') // `"'=HYPERLINK(""x"")"`
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe
}
