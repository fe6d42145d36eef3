/** Edit distance (insertions, deletions, substitutions), for "did you mean" hints on misspelt names. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    previous = current
  }
  return previous[b.length]!
}

/**
 * The known name closest to a misspelt one, when it is close enough to be a typo (at most a third of its length
 * apart, or one is a prefix of the other); undefined otherwise.
 *
 * @example
 * closestName('confirmation', ['confirmations', 'finalityDepth']) // 'confirmations'
 * closestName('solana', ['ethereum', 'bsc']) // undefined
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase()
  let best: { name: string; d: number } | undefined
  for (const candidate of known) {
    const c = candidate.toLowerCase()
    const d = c.startsWith(lower) || lower.startsWith(c) ? 1 : distance(lower, c)
    if (d <= Math.max(1, Math.floor(c.length / 3)) && (!best || d < best.d)) best = { name: candidate, d }
  }
  return best?.name
}

/**
 * ` (did you mean "x"?)` for a close known name, or an empty string.
 *
 * @example
 * `unknown option "confirmation"${didYouMean('confirmation', keys)}`
 */
export function didYouMean(name: string, known: readonly string[]): string {
  const close = closestName(name, known)
  return close === undefined ? '' : ` (did you mean "${close}"?)`
}

export type Named<T> = { ok: true; value: T } | { ok: false; message: string }

/**
 * An entry of a table by name, or the message an operator reads: what was not found, the close name they
 * probably meant, and the known names (own keys only: `__proto__` and friends are not names).
 *
 * @example
 * findNamed(presets, 'etherum', 'evm preset') // { ok: false, message: 'unknown evm preset "etherum" (did you mean "ethereum"?); known: …' }
 */
export function findNamed<T>(table: Readonly<Record<string, T>>, name: string, what: string): Named<T> {
  if (Object.hasOwn(table, name)) return { ok: true, value: table[name] as T }
  const known = Object.keys(table)
  return {
    ok: false,
    message: `unknown ${what} "${name}"${didYouMean(name, known)}; known: ${known.join(', ')}`,
  }
}

/**
 * A preset's token by symbol, or the message naming the tokens it has. No "did you mean": symbols are short and
 * alike (USDT, USDC), and a near one is another asset.
 *
 * @example
 * presetToken('ethereum', { USDT: usdt, USDC: usdc }, 'DAI') // { ok: false, message: 'preset "ethereum" has no token "DAI" (it has USDT, USDC); …' }
 */
export function presetToken<T>(
  presetName: string,
  tokens: Readonly<Record<string, T>>,
  symbol: string,
): Named<T> {
  if (Object.hasOwn(tokens, symbol)) return { ok: true, value: tokens[symbol] as T }
  const known = Object.keys(tokens)
  const has = known.length > 0 ? `it has ${known.join(', ')}` : 'it lists none'
  return {
    ok: false,
    message: `preset "${presetName}" has no token "${symbol}" (${has}); give { symbol, address, decimals } for another token`,
  }
}
