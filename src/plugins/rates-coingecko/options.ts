import { z } from 'zod'

const code = z.string().regex(/^[A-Z0-9]{2,10}$/, 'must be a currency code such as BTC or USD (upper case)')
const coinId = z
  .string()
  .max(128)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a CoinGecko coin id such as bitcoin (its "API ID")')

/** CoinGecko's coin ids (its "API ID") of the assets the gateway's chains carry. */
export const coinIdDefaults: Readonly<Record<string, string>> = {
  BTC: 'bitcoin',
  ETH: 'ethereum',
  USDT: 'tether',
  USDC: 'usd-coin',
  TRX: 'tron',
  BNB: 'binancecoin',
  POL: 'polygon-ecosystem-token',
}

/** The API root of each plan: the public (keyless or Demo) API and the paid Pro API. */
export const planUrls = { demo: 'https://api.coingecko.com', pro: 'https://pro-api.coingecko.com' } as const

export const coinGeckoOptionsSchema = z
  .strictObject({
    /**
     * The API's origin, without the `/api/v3/…` path. Default: the plan's (`https://api.coingecko.com` for the
     * public and Demo API, `https://pro-api.coingecko.com` for Pro). http(s) only; no credentials, query or
     * fragment (the key travels in a header).
     */
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .refine((u) => {
        // runs after a failed url check too: only a URL that parses has parts to look at
        const url = URL.canParse(u) ? new URL(u) : undefined
        return !url || (url.username === '' && url.password === '' && url.search === '' && url.hash === '')
      }, 'must not hold credentials, a query or a fragment')
      .optional(),
    /**
     * `demo` (default): the public API, keyless or with a Demo key sent as `x-cg-demo-api-key`; `pro`: the paid
     * API, its key (required) sent as `x-cg-pro-api-key`.
     */
    plan: z.enum(['demo', 'pro']).default('demo'),
    /**
     * The API key of the plan. Read it from the environment in plugins.config.ts
     * (`apiKey: process.env.COINGECKO_API_KEY`); it never appears in a message or a log line.
     */
    apiKey: z
      .string()
      .min(1)
      .max(512)
      .regex(/^[\x21-\x7e]*$/, 'must be printable ASCII without spaces (it is sent as an HTTP header)')
      .optional(),
    /**
     * CoinGecko coin ids of gateway codes, added to (or replacing) the defaults for BTC, ETH, USDT, USDC, TRX,
     * BNB and POL. A base currency without an id is not asked for (its pairs are left out); quote currencies
     * are CoinGecko's `vs_currencies`, the code in lower case.
     */
    coinIds: z.record(code, coinId).default({}),
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
  .superRefine((o, ctx) => {
    if (o.plan === 'pro' && o.apiKey === undefined)
      ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'the Pro API needs its key' })
  })
  .transform((o) => ({
    ...o,
    baseUrl: o.baseUrl ?? planUrls[o.plan],
    coinIds: { ...coinIdDefaults, ...o.coinIds },
  }))

export type CoinGeckoOptions = z.output<typeof coinGeckoOptionsSchema>
