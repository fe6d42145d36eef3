/**
 * How Kraken names a market. A request names it by base and quote codes run together (`XBTUSD`); the answer keys
 * it by the market's own name, which for the old markets prefixes each 3-letter asset with X (crypto) or Z
 * (fiat): `XXBTZUSD`, `XETHXXBT`, `USDTZUSD`, and for newer ones is the plain name (`XBTUSDT`, `USDCUSD`).
 */

// codes are letters and digits (checked before): nothing in them means anything to a regular expression
const literal = (code: string) => code.replace(/[^A-Z0-9]/g, '')
/** An asset as a result key may write it: a 3-letter code may carry the legacy X or Z. */
const asset = (code: string) => (code.length === 3 ? `[XZ]?${literal(code)}` : literal(code))

/**
 * The result key of each market asked for (by its name in the request), among `keys`. A market no key matches,
 * or more than one, is left out, as is a key two markets could claim: an answer is never guessed at.
 *
 * @example
 * resultKeys([{ name: 'XBTUSD', base: 'XBT', quote: 'USD' }], ['XXBTZUSD']) // Map { 'XBTUSD' => 'XXBTZUSD' }
 */
export function resultKeys(
  markets: ReadonlyArray<{ name: string; base: string; quote: string }>,
  keys: readonly string[],
): Map<string, string> {
  const patterns = markets.map((m) => ({
    name: m.name,
    pattern: new RegExp(`^${asset(m.base)}${asset(m.quote)}$`),
  }))
  const found = new Map<string, string>()
  for (const { name, pattern } of patterns) {
    const matching = keys.filter((k) => pattern.test(k))
    if (matching.length !== 1) continue
    const key = matching[0] as string
    if (patterns.filter((p) => p.pattern.test(key)).length === 1) found.set(name, key)
  }
  return found
}
