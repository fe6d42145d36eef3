import { json, type StandIn, serveStandIn } from './serve.ts'

/**
 * A merchant's own rates endpoint as the rates-http provider documents it: `GET <url>` answers
 * `{"rates": [{"base": "BTC", "quote": "USD", "rate": "65000.12", "at": "2026-12-04T10:00:00Z"}]}`, rates as
 * decimal strings, `at` an ISO 8601 time with its zone. It may want a bearer token and/or a header of its own; a
 * request without them is a 401 `{"error": "unauthorized"}`. Errors are `{"error": "…"}`.
 *
 * Tests set the entries it answers (`setRates`) and switch it into failures (see serve.ts).
 */
export type RateEntry = { base: string; quote: string; rate: string; at: string }

export type RatesEndpointStandIn = StandIn & {
  /** The full URL of the endpoint. */
  endpoint: string
  setRates(entries: RateEntry[]): void
}

const messages: Record<number, string> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not found',
  429: 'too many requests',
  500: 'internal error',
  502: 'bad gateway',
  503: 'maintenance',
}

/**
 * Starts a merchant rates endpoint on a free port of 127.0.0.1, at `path`.
 *
 * @example
 * const endpoint = startRatesEndpoint({ bearerToken: 't0ken' })
 * endpoint.setRates([{ base: 'BTC', quote: 'USD', rate: '65000.12', at: '2026-12-04T10:00:00Z' }])
 * await endpoint.stop()
 */
export function startRatesEndpoint(
  options: { path?: string; bearerToken?: string; header?: { name: string; value: string } } = {},
): RatesEndpointStandIn {
  const path = options.path ?? '/api/rates'
  let entries: RateEntry[] = []
  const standIn = serveStandIn({
    errorBody: (status) => JSON.stringify({ error: messages[status] ?? 'error' }),
    route(req, url) {
      if (req.method !== 'GET' || url.pathname !== path) return json(404, { error: 'not found' })
      const bearer =
        options.bearerToken === undefined ||
        req.headers.get('authorization') === `Bearer ${options.bearerToken}`
      const header =
        options.header === undefined || req.headers.get(options.header.name) === options.header.value
      if (!bearer || !header) return json(401, { error: 'unauthorized' })
      return json(200, { rates: entries })
    },
  })
  return {
    ...standIn,
    endpoint: `${standIn.url}${path}`,
    setRates(next) {
      entries = next
    },
  }
}
