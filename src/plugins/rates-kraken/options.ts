import { z } from 'zod'

const code = z.string().regex(/^[A-Z0-9]{2,10}$/, 'must be a currency code such as BTC or USD (upper case)')

/** Kraken's own codes for assets whose usual ticker it does not use. */
export const krakenAssetDefaults: Readonly<Record<string, string>> = { BTC: 'XBT', DOGE: 'XDG' }

export const krakenOptionsSchema = z.strictObject({
  /**
   * The API's origin, without the `/0/public/Ticker` path (default `https://api.kraken.com`). http(s) only; no
   * credentials, query or fragment.
   */
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .refine((u) => {
      // runs after a failed url check too: only a URL that parses has parts to look at
      const url = URL.canParse(u) ? new URL(u) : undefined
      return !url || (url.username === '' && url.password === '' && url.search === '' && url.hash === '')
    }, 'must not hold credentials, a query or a fragment')
    .default('https://api.kraken.com'),
  /**
   * Kraken's code for a currency whose gateway code differs, added to (or replacing) the defaults `BTC → XBT`
   * and `DOGE → XDG`; a code not listed is asked as it is.
   */
  assets: z
    .record(code, code)
    .default({})
    .transform((given) => ({ ...krakenAssetDefaults, ...given })),
  /** Longest one request may take, body included (default 5 s). */
  timeoutMs: z.number().int().min(1).max(120_000).default(5000),
  /** Largest response body read; a longer one is cut off and refused (default 1 MiB). */
  maxResponseBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 << 20)
    .default(1 << 20),
})

export type KrakenOptions = z.output<typeof krakenOptionsSchema>
