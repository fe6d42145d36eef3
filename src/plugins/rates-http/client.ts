/**
 * The message of an error body (`{"error": "…"}` or `{"message": "…"}`), for the error's text; undefined when
 * the body is neither.
 *
 * @example
 * endpointErrorMessage({ error: 'unauthorized' }) // 'unauthorized'
 */
export function endpointErrorMessage(body: unknown): string | undefined {
  const parsed = body as { error?: unknown; message?: unknown } | null | undefined
  const said = [parsed?.error, parsed?.message].find((m) => typeof m === 'string')
  return typeof said === 'string' ? said : undefined
}
