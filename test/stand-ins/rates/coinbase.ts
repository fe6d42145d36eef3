import { json, type StandIn, serveStandIn } from './serve.ts'

/**
 * A stand-in for Coinbase's public exchange rates endpoint (Coinbase App "Data API", no key needed), as its docs
 * describe it:
 *
 * - `GET /v2/exchange-rates?currency=BTC` answers `{"data": {"currency": "BTC", "rates": {"USD": "65000.12", …}}}`:
 *   what one unit of the base currency costs in every other currency, each as a decimal string; without
 *   `currency` the base is USD; the base currency's own code is in its rates too (`"BTC": "1.0"`);
 * - a currency Coinbase does not know is a 400 `{"errors": [{"id": "invalid_request", "message": "Invalid
 *   currency (FOO)"}]}`;
 * - errors are `{"errors": [{"id": "…", "message": "…"}]}`; too many requests are a 429 with
 *   `{"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}`.
 *
 * Tests set the rates of a base (`setRates`) and switch it into failures (see serve.ts).
 */
export type CoinbaseStandIn = StandIn & {
  /** Sets the rates Coinbase answers for a base currency (replacing the defaults); undefined forgets the base. */
  setRates(base: string, rates: Record<string, string> | undefined): void
  /** Back to the recorded rates. */
  resetRates(): void
}

/** Rates shaped like a recorded answer (a handful of the ~600 currencies Coinbase lists per base). */
const recorded: Record<string, Record<string, string>> = {
  BTC: { AED: '238747.51', BTC: '1.0', ETH: '19.11405', EUR: '60012.5', GBP: '51230.98', USD: '65000.12' },
  ETH: { BTC: '0.05231741', ETH: '1.0', EUR: '3140.21', USD: '3400.55' },
  USDT: { EUR: '0.92405', USD: '1.0002', USDT: '1.0' },
  USDC: { EUR: '0.92375', USD: '0.99995', USDC: '1.0' },
  USD: { BTC: '0.0000153846', ETH: '0.00029407', EUR: '0.92330', USD: '1.0' },
}

const errors = (id: string, message: string) => JSON.stringify({ errors: [{ id, message }] })
const errorIds: Record<number, [string, string]> = {
  400: ['invalid_request', 'Invalid request'],
  401: ['authentication_error', 'invalid api key'],
  404: ['not_found', 'Not found'],
  429: ['rate_limit_exceeded', 'Too many requests'],
  500: ['internal_server_error', 'Internal server error'],
  503: ['service_unavailable', 'Service unavailable'],
}

/**
 * Starts the Coinbase stand-in on a free port of 127.0.0.1.
 *
 * @example
 * const coinbase = startCoinbase()
 * coinbase.setRates('BTC', { USD: '64000.5' })
 * await coinbase.stop()
 */
export function startCoinbase(): CoinbaseStandIn {
  const rates = new Map<string, Record<string, string>>()
  const resetRates = () => {
    rates.clear()
    for (const [base, r] of Object.entries(recorded)) rates.set(base, { ...r })
  }
  resetRates()
  const standIn = serveStandIn({
    errorBody: (status) =>
      errors(...(errorIds[status] ?? ['internal_server_error', 'Internal server error'])),
    route(req, url) {
      if (req.method !== 'GET' || url.pathname !== '/v2/exchange-rates')
        return new Response(errors(...errorIds[404]!), {
          status: 404,
          headers: { 'content-type': 'application/json' },
        })
      // the API reads the currency in any case and answers it upper case
      const currency = (url.searchParams.get('currency') ?? 'USD').toUpperCase()
      const known = rates.get(currency)
      if (!known)
        return json(400, { errors: [{ id: 'invalid_request', message: `Invalid currency (${currency})` }] })
      return json(200, { data: { currency, rates: known } })
    },
  })
  return {
    ...standIn,
    setRates(base, next) {
      if (next) rates.set(base, { ...next })
      else rates.delete(base)
    },
    resetRates,
  }
}
