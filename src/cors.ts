/** Request headers a browser page may send to /graphql. */
const allowedHeaders = 'authorization, content-type, accept, x-request-id'
/** Response headers a browser page may read. */
const exposedHeaders = 'x-request-id, retry-after'

/**
 * CORS for /graphql from an allowlist (`CORS_ORIGINS`). A listed origin gets its own origin back; `*` in the list
 * answers `*`; any other origin gets no CORS header at all, so the browser keeps the response from the page.
 * Credentials are never allowed: the API authenticates with a bearer key, not cookies, so no response may be
 * read with the browser's ambient credentials. Every answer varies by Origin.
 *
 * @example
 * const headers = corsHeaders(request, ['https://shop.example'])
 */
export function corsHeaders(request: Request, allowed: readonly string[]): Record<string, string> {
  const origin = request.headers.get('origin')
  const vary = { vary: 'Origin' }
  if (origin === null || allowed.length === 0) return vary
  const any = allowed.includes('*')
  if (!any && !allowed.includes(origin)) return vary
  return {
    ...vary,
    'access-control-allow-origin': any ? '*' : origin,
    'access-control-expose-headers': exposedHeaders,
  }
}

/**
 * The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`): 204, with the allow headers
 * only for an allowed origin.
 *
 * @example
 * if (isPreflight(request)) return preflight(request, env.CORS_ORIGINS)
 */
export function preflight(request: Request, allowed: readonly string[]): Response {
  const headers = corsHeaders(request, allowed)
  if (headers['access-control-allow-origin'])
    Object.assign(headers, {
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': allowedHeaders,
      'access-control-max-age': '600',
    })
  return new Response(null, { status: 204, headers: { ...headers, 'content-length': '0' } })
}
