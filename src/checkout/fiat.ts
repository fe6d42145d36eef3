// Display formatting of fiat values and rates, on their decimal strings (never through a float: a number would
// round long rates and large prices). `assets/checkout.js` has the same two functions for live updates; the
// browser test compares a live render with a server render of the same payment.

const plainDecimal = /^(\d+)(?:\.(\d+))?$/

/** Thousands separated by commas: `1234567` → `1,234,567`. */
function group(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/**
 * A fiat amount (a plain decimal string) with exactly the currency's minor units, thousands grouped: missing
 * digits are padded with zeros, and digits beyond them, should there be any, are kept (never rounded away).
 * Text that is not a plain decimal is returned as it is.
 *
 * @example
 * formatFiat('12.5', 2)    // '12.50'
 * formatFiat('1234567', 2) // '1,234,567.00'
 * formatFiat('2500', 0)    // '2,500' (JPY)
 */
export function formatFiat(text: string, decimals: number): string {
  const match = plainDecimal.exec(text)
  if (!match) return text
  const fraction = (match[2] ?? '').padEnd(decimals, '0')
  return fraction ? `${group(match[1] as string)}.${fraction}` : group(match[1] as string)
}

/**
 * A rate (fiat per whole unit of an asset, a plain decimal string) for display: thousands grouped, trailing
 * zeros dropped but at least the currency's minor units kept, every significant digit shown (a rate of a small
 * coin has many).
 *
 * @example
 * formatRate('3456.78', 2)    // '3,456.78'
 * formatRate('1', 2)          // '1.00'
 * formatRate('0.00001234', 2) // '0.00001234'
 * formatRate('97123.4500', 2) // '97,123.45'
 */
export function formatRate(text: string, decimals: number): string {
  const match = plainDecimal.exec(text)
  if (!match) return text
  return formatFiat(`${match[1]}.${(match[2] ?? '').replace(/0+$/, '')}`.replace(/\.$/, ''), decimals)
}
