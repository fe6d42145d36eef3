type GeckoStatus = { error_code?: unknown; error_message?: unknown }

/**
 * The message of a CoinGecko error body, in any of the shapes it answers: `{"status": {"error_code": 429,
 * "error_message": "…"}}`, `{"error": {"status": {…}}}` or `{"error": "…"}`; undefined when the body is none.
 *
 * @example
 * coinGeckoErrorMessage({ status: { error_code: 10002, error_message: 'API Key Missing' } }) // '10002 API Key Missing'
 */
export function coinGeckoErrorMessage(body: unknown): string | undefined {
  const parsed = body as
    | { status?: GeckoStatus; error?: string | { status?: GeckoStatus } }
    | null
    | undefined
  if (typeof parsed?.error === 'string') return parsed.error
  const status = parsed?.status ?? (typeof parsed?.error === 'object' ? parsed.error?.status : undefined)
  if (typeof status?.error_message !== 'string') return undefined
  const code = typeof status.error_code === 'number' ? `${status.error_code} ` : ''
  return `${code}${status.error_message}`
}
