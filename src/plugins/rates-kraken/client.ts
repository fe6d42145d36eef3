/**
 * The error strings of a Kraken body (`{"error": ["EService:Unavailable"]}`), for the error's text; undefined
 * when the body is not one.
 *
 * @example
 * krakenErrorMessage({ error: ['EGeneral:Too many requests'], result: {} }) // 'EGeneral:Too many requests'
 */
export function krakenErrorMessage(body: unknown): string | undefined {
  const errors = (body as { error?: unknown } | null | undefined)?.error
  if (!Array.isArray(errors)) return undefined
  const said = errors.filter((e): e is string => typeof e === 'string')
  return said.length > 0 ? said.join('; ') : undefined
}
