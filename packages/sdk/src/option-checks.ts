/**
 * Checks drivers' option schemas share (the built-in ones and any plugin's): crediting depths with their
 * defaults, tokens listed twice, a preset contradicted by an explicit network. Each reports through `report`
 * (zod's `ctx.addIssue` fits) and never throws, so every problem of an options object is reported at once.
 */

/** One problem at a path of the options, as a schema's custom issue. */
export type OptionIssue = { code: 'custom'; path: PropertyKey[]; message: string }

/**
 * The confirmations and finality depth to use: the ones given, else the defaults (a preset's, the driver's);
 * a finality depth below the confirmations is reported at `finalityDepth`.
 *
 * @example
 * const { confirmations, finalityDepth } = resolveDepths(input, { confirmations: 12, finalityDepth: 64 }, ctx.addIssue)
 */
export function resolveDepths(
  given: { confirmations?: number; finalityDepth?: number },
  defaults: { confirmations: number; finalityDepth: number },
  report: (issue: OptionIssue) => void,
): { confirmations: number; finalityDepth: number } {
  const confirmations = given.confirmations ?? defaults.confirmations
  const finalityDepth = given.finalityDepth ?? defaults.finalityDepth
  if (finalityDepth < confirmations)
    report({
      code: 'custom',
      path: ['finalityDepth'],
      message: `must be at least confirmations (${confirmations})`,
    })
  return { confirmations, finalityDepth }
}

/**
 * Reports a token whose symbol or contract address (compared through `addressKey`) repeats an earlier one, at
 * `tokens.<i>`.
 *
 * @example
 * refuseRepeatedTokens(tokens, (a) => a.toLowerCase(), ctx.addIssue)
 */
export function refuseRepeatedTokens(
  tokens: ReadonlyArray<{ symbol: string; address: string }>,
  addressKey: (address: string) => string,
  report: (issue: OptionIssue) => void,
): void {
  const seen = new Set<string>()
  tokens.forEach((t, i) => {
    for (const [what, key] of [
      ['symbol', `symbol ${t.symbol}`],
      ['address', `address ${addressKey(t.address)}`],
    ] as const) {
      if (seen.has(key)) report({ code: 'custom', path: ['tokens', i], message: `${what} repeats a token` })
      seen.add(key)
    }
  })
}

/**
 * Reports an explicit `network` that is not the named preset's.
 *
 * @example
 * refuseContradictedPreset('tron', tronPresets.tron.network, input.network, ctx.addIssue)
 */
export function refuseContradictedPreset(
  presetName: string,
  presetNetwork: string,
  givenNetwork: string | undefined,
  report: (issue: OptionIssue) => void,
): void {
  if (givenNetwork !== undefined && givenNetwork !== presetNetwork)
    report({
      code: 'custom',
      path: ['network'],
      message: `"${givenNetwork}" contradicts preset "${presetName}" (network ${presetNetwork}); give one of them`,
    })
}
