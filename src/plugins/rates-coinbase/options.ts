import { z } from 'zod'

const code = z.string().regex(/^[A-Z0-9]{2,10}$/, 'must be a currency code such as BTC or USD (upper case)')

export const coinbaseOptionsSchema = z.strictObject({
  /**
   * The API's origin, without the `/v2/exchange-rates` path (default `https://api.coinbase.com`). http(s) only;
   * no credentials, query or fragment.
   */
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .refine((u) => {
      // runs after a failed url check too: only a URL that parses has parts to look at
      const url = URL.canParse(u) ? new URL(u) : undefined
      return !url || (url.username === '' && url.password === '' && url.search === '' && url.hash === '')
    }, 'must not hold credentials, a query or a fragment')
    .default('https://api.coinbase.com'),
  /**
   * Coinbase's code for a currency whose gateway code differs (`{ MATIC: 'POL' }`); a code not listed is asked as
   * it is. Default none: Coinbase uses the usual tickers.
   */
  currencies: z.record(code, code).default({}),
  /** Longest one request may take, body included (default 5 s). */
  timeoutMs: z.number().int().min(1).max(120_000).default(5000),
  /** Largest response body read; a longer one is cut off and refused (default 1 MiB; an answer lists ~600 rates). */
  maxResponseBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 << 20)
    .default(1 << 20),
})

export type CoinbaseOptions = z.output<typeof coinbaseOptionsSchema>
