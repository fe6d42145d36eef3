import { json, type StandIn, serveStandIn } from './serve.ts'

/**
 * A stand-in for Kraken's public ticker (`GET /0/public/Ticker`, Spot REST API, no key needed), as its docs
 * describe it:
 *
 * - `?pair=XBTUSD,ETHEUR` names markets by their alternative names (or their result keys); the answer is
 *   `{"error": [], "result": {"XXBTZUSD": {"a": [price, whole lot volume, lot volume], "b": […], "c": [price,
 *   lot volume], "v": [today, 24h], "p": [today, 24h], "t": [today, 24h], "l": […], "h": […], "o": "…"}}}`, keyed
 *   by each market's own name: X/Z-prefixed legacy names for the old markets (`XXBTZUSD`, `XETHZEUR`,
 *   `USDTZUSD`), the plain name for newer ones (`XBTUSDT`, `USDCUSD`); prices are decimal strings, Bitcoin is XBT;
 * - a pair Kraken does not list fails the whole request: HTTP 200 with `{"error": ["EQuery:Unknown asset pair"]}`;
 * - every API error is an `E<Category>:<Description>` string in `error` (`EService:Unavailable`,
 *   `EGeneral:Too many requests`); an empty `error` means success.
 *
 * Tests add markets (`setMarket`) and switch it into failures (see serve.ts; Kraken's own error strings through
 * a `body` misbehavior).
 */
export type KrakenStandIn = StandIn & {
  /** Lists a market: its alternative name, its result key and its last trade price. */
  setMarket(altname: string, key: string, last: string): void
  /** Back to the recorded markets. */
  resetMarkets(): void
}

/** [altname, result key, last trade price], as a recorded answer names them. */
const recorded: Array<[string, string, string]> = [
  ['XBTUSD', 'XXBTZUSD', '65000.10000'],
  ['XBTEUR', 'XXBTZEUR', '60011.90000'],
  ['ETHUSD', 'XETHZUSD', '3400.51000'],
  ['ETHEUR', 'XETHZEUR', '3140.18000'],
  ['ETHXBT', 'XETHXXBT', '0.05231000'],
  ['XBTUSDT', 'XBTUSDT', '65004.20000'],
  ['USDTUSD', 'USDTZUSD', '1.00020000'],
  ['USDCUSD', 'USDCUSD', '0.99990000'],
  ['XDGUSD', 'XDGUSD', '0.1623140'],
  ['TRXUSD', 'TRXUSD', '0.198700'],
]

const errorStrings: Record<number, string> = {
  429: 'EGeneral:Too many requests',
  500: 'EGeneral:Internal error',
  502: 'EService:Unavailable',
  503: 'EService:Unavailable',
  504: 'EService:Deadline elapsed',
}

/** A ticker entry in the documented shape around a last trade price. */
function ticker(last: string) {
  return {
    a: [last, '1', '1.000'],
    b: [last, '2', '2.000'],
    c: [last, '0.00150000'],
    v: ['1234.56789012', '2345.67890123'],
    p: [last, last],
    t: [12345, 23456],
    l: [last, last],
    h: [last, last],
    o: last,
  }
}

/**
 * Starts the Kraken stand-in on a free port of 127.0.0.1.
 *
 * @example
 * const kraken = startKraken()
 * kraken.setMarket('SOLUSD', 'SOLUSD', '150.12')
 * await kraken.stop()
 */
export function startKraken(): KrakenStandIn {
  const markets = new Map<string, { key: string; last: string }>()
  const resetMarkets = () => {
    markets.clear()
    for (const [altname, key, last] of recorded) markets.set(altname, { key, last })
  }
  resetMarkets()
  const byName = (name: string) => {
    const upper = name.toUpperCase()
    return markets.get(upper) ?? [...markets.values()].find((m) => m.key === upper)
  }
  const standIn = serveStandIn({
    errorBody: (status) => JSON.stringify({ error: [errorStrings[status] ?? 'EGeneral:Unknown method'] }),
    route(req, url) {
      if (req.method !== 'GET' || url.pathname !== '/0/public/Ticker')
        return json(404, { error: ['EGeneral:Unknown method'] })
      const asked = url.searchParams.get('pair')
      const found = asked === null ? [...markets.values()] : asked.split(',').map(byName)
      // one unknown pair fails the whole request
      if (found.some((m) => m === undefined)) return json(200, { error: ['EQuery:Unknown asset pair'] })
      const result = Object.fromEntries(found.map((m) => [m!.key, ticker(m!.last)]))
      return json(200, { error: [], result })
    },
  })
  return {
    ...standIn,
    setMarket(altname, key, last) {
      markets.set(altname, { key, last })
    },
    resetMarkets,
  }
}
