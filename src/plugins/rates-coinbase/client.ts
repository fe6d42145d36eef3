/**
 * The messages of a Coinbase error body (`{"errors": [{"id": "rate_limit_exceeded", "message": "Too many
 * requests"}]}`), for the error's text; undefined when the body is not one.
 *
 * @example
 * coinbaseErrorMessage({ errors: [{ id: 'invalid_request', message: 'Invalid currency' }] })
 * // 'invalid_request: Invalid currency'
 */
export function coinbaseErrorMessage(body: unknown): string | undefined {
  const errors = (body as { errors?: unknown } | null | undefined)?.errors
  if (!Array.isArray(errors)) return undefined
  const said = errors
    .map((e: { id?: unknown; message?: unknown }) =>
      [e?.id, e?.message].filter((s) => typeof s === 'string').join(': '),
    )
    .filter((s) => s !== '')
  return said.length > 0 ? said.join('; ') : undefined
}
