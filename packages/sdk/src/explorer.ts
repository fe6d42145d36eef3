// A chain's block explorer, as the operator configures it (`settings.explorer` in plugins.config.ts): URL
// templates the API fills with a transaction hash or an address. The templates are checked at boot so that a link
// the API hands out (and the console renders) is only ever an http(s) page on the host the operator named.

/** The placeholder each template kind must hold. */
export const explorerPlaceholders = { tx: '{tx}', address: '{address}' } as const

/** What a link is made for: a transaction or an address. */
export type ExplorerKind = keyof typeof explorerPlaceholders

/** A chain's checked explorer templates; null where the operator gave none. */
export type ResolvedExplorer = { tx: string | null; address: string | null }

const maxTemplateLength = 2000

/**
 * Why `template` is not a usable explorer template for `kind`, or null when it is: a string of at most 2000
 * characters without whitespace or control characters, holding the placeholder, that is an http: or https: URL
 * without credentials whatever the placeholder becomes, with the placeholder outside the scheme and host (a hash
 * can never move the link to another site).
 *
 * @example
 * explorerTemplateProblem('tx', 'https://etherscan.io/tx/{tx}') // null
 * explorerTemplateProblem('tx', 'javascript:alert({tx})') // 'must be an http: or https: URL …'
 */
export function explorerTemplateProblem(kind: ExplorerKind, template: unknown): string | null {
  const placeholder = explorerPlaceholders[kind]
  if (typeof template !== 'string') return 'must be a string'
  if (template.length > maxTemplateLength) return `must be at most ${maxTemplateLength} characters`
  // the URL parser silently drops tabs and newlines: refuse them rather than guess what was meant
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
  if (/[\s\u0000-\u001f\u007f]/.test(template)) return 'must not contain whitespace or control characters'
  if (!template.includes(placeholder)) return `must contain the placeholder ${placeholder}`
  const samples = ['a', 'b'].map((value) => {
    try {
      return new URL(template.replaceAll(placeholder, value))
    } catch {
      return null
    }
  })
  const [first, second] = samples
  if (!first || !second)
    return `must be an absolute URL (e.g. https://explorer.example/${kind}/${placeholder})`
  if (first.protocol !== 'https:' && first.protocol !== 'http:')
    return `must be an http: or https: URL (got ${first.protocol})`
  if (first.username !== '' || first.password !== '') return 'must not contain credentials'
  if (first.origin !== second.origin) return `must not have ${placeholder} in the scheme, host or port`
  return null
}

/**
 * The explorer page of `value` (a transaction hash or an address) from a checked template, the value
 * percent-encoded so it stays one path or query segment; null without a template.
 *
 * @example
 * explorerLink({ tx: 'https://etherscan.io/tx/{tx}', address: null }, 'tx', '0xabc') // 'https://etherscan.io/tx/0xabc'
 */
export function explorerLink(
  explorer: ResolvedExplorer | null | undefined,
  kind: ExplorerKind,
  value: string,
): string | null {
  const template = explorer?.[kind]
  if (!template) return null
  return template.replaceAll(explorerPlaceholders[kind], encodeURIComponent(value))
}
