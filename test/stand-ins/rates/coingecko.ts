import { json, type StandIn, serveStandIn } from './serve.ts'

/**
 * A stand-in for CoinGecko's simple price endpoint (API v3), as its docs describe it:
 *
 * - `GET /api/v3/simple/price?ids=bitcoin,ethereum&vs_currencies=usd,eur&include_last_updated_at=true` answers
 *   `{"bitcoin": {"usd": 65000.12, "eur": 60012.5, "last_updated_at": 1733306400}, …}`: prices as JSON numbers,
 *   by coin id and lowercase currency; an id or a currency it does not know is simply absent;
 *   `last_updated_at` (unix seconds) only when asked for;
 * - the public (keyless or Demo) API is `api.coingecko.com`, a Demo key in the `x-cg-demo-api-key` header; the
 *   Pro API is `pro-api.coingecko.com`, its key in `x-cg-pro-api-key`. A missing or wrong key is a 401
 *   `{"status": {"error_code": 10002, "error_message": "…"}}`; a key of the other plan is 10010 (a Pro key on the
 *   public host) or 10011 (a Demo key on the Pro host);
 * - too many requests are a 429 with `Retry-After` and `{"status": {"error_code": 429, "error_message": "You've
 *   exceeded the Rate Limit. …"}}`.
 *
 * The stand-in is one host: `plan` says which (default the public one) and `apiKey` the key it accepts. Tests
 * set prices and update times (`setPrice`, `setUpdatedAt`) and switch it into failures (see serve.ts).
 */
export type CoinGeckoStandIn = StandIn & {
  /** The key the stand-in accepts, when it has one. */
  apiKey: string | undefined
  /** Sets the price of a coin in a (lowercase) currency; undefined forgets it. */
  setPrice(id: string, vs: string, price: number | undefined): void
  /** Dates a coin's prices (its `last_updated_at`); undefined: 20 s before each answer. */
  setUpdatedAt(id: string, at: Date | undefined): void
  /** Back to the recorded prices and times. */
  reset(): void
}

/** Prices shaped like a recorded answer (numbers as CoinGecko prints them). */
const recorded: Record<string, Record<string, number>> = {
  bitcoin: { usd: 65000.12, eur: 60012.5, btc: 1 },
  ethereum: { usd: 3400.55, eur: 3140.21, btc: 0.05231741 },
  tether: { usd: 1.0002, eur: 0.92405 },
  'usd-coin': { usd: 0.99995, eur: 0.92375 },
  tron: { usd: 0.198712 },
  binancecoin: { usd: 612.4 },
  'polygon-ecosystem-token': { usd: 0.451203 },
  'shiba-inu': { usd: 0.00001523, eur: 1.5e-7 },
}

const status = (code: number, message: string) => ({ status: { error_code: code, error_message: message } })
const rateLimited = status(
  429,
  "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits.",
)
const statusText: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/**
 * Starts the CoinGecko stand-in on a free port of 127.0.0.1.
 *
 * @example
 * const gecko = startCoinGecko({ plan: 'pro', apiKey: 'CG-pro-key' })
 * gecko.setUpdatedAt('bitcoin', new Date('2026-12-04T09:00:00Z'))
 * await gecko.stop()
 */
export function startCoinGecko(options: { plan?: 'public' | 'pro'; apiKey?: string } = {}): CoinGeckoStandIn {
  const plan = options.plan ?? 'public'
  const prices = new Map<string, Map<string, number>>()
  const updatedAt = new Map<string, Date>()
  const reset = () => {
    prices.clear()
    updatedAt.clear()
    for (const [id, p] of Object.entries(recorded)) prices.set(id, new Map(Object.entries(p)))
  }
  reset()

  /** The 401 for a request's keys, or undefined when the host lets it through. */
  function refusal(req: Request): Response | undefined {
    const demo = req.headers.get('x-cg-demo-api-key')
    const pro = req.headers.get('x-cg-pro-api-key')
    if (plan === 'public') {
      if (pro !== null)
        return json(
          401,
          status(
            10010,
            'If you are using Pro API key, please change your root URL from api.coingecko.com to pro-api.coingecko.com',
          ),
        )
      if (demo !== null && demo !== options.apiKey)
        return json(401, status(10002, 'API Key Missing or invalid: check your x-cg-demo-api-key'))
      return undefined
    }
    if (demo !== null)
      return json(
        401,
        status(
          10011,
          'If you are using Demo API key, please change your root URL from pro-api.coingecko.com to api.coingecko.com',
        ),
      )
    if (pro === null || pro !== options.apiKey)
      return json(401, status(10002, 'API Key Missing or invalid: check your x-cg-pro-api-key'))
    return undefined
  }

  const list = (value: string | null) => (value ?? '').split(',').filter((s) => s !== '')

  const standIn = serveStandIn({
    errorBody: (code) =>
      JSON.stringify(code === 429 ? rateLimited : status(code, statusText[code] ?? 'Error')),
    route(req, url) {
      if (req.method !== 'GET' || url.pathname !== '/api/v3/simple/price')
        return json(404, { error: 'Not found' })
      const refused = refusal(req)
      if (refused) return refused
      const ids = list(url.searchParams.get('ids'))
      const vs = list(url.searchParams.get('vs_currencies')).map((v) => v.toLowerCase())
      if (ids.length === 0) return json(400, { error: 'Missing parameter ids' })
      if (vs.length === 0) return json(400, { error: 'Missing parameter vs_currencies' })
      const withTime = url.searchParams.get('include_last_updated_at') === 'true'
      const answer: Record<string, Record<string, number>> = {}
      for (const id of ids) {
        const known = prices.get(id)
        if (!known) continue
        const entry: Record<string, number> = {}
        for (const v of vs) if (known.has(v)) entry[v] = known.get(v) as number
        if (withTime)
          entry.last_updated_at = Math.floor((updatedAt.get(id)?.getTime() ?? Date.now() - 20_000) / 1000)
        answer[id] = entry
      }
      return json(200, answer)
    },
  })
  return {
    ...standIn,
    apiKey: options.apiKey,
    setPrice(id, vs, price) {
      const known = prices.get(id) ?? new Map<string, number>()
      prices.set(id, known)
      if (price === undefined) known.delete(vs)
      else known.set(vs, price)
    },
    setUpdatedAt(id, at) {
      if (at) updatedAt.set(id, at)
      else updatedAt.delete(id)
    },
    reset,
  }
}
