import { z } from 'zod'

/** Headers fetch manages itself, or that the bearer token sets: never taken from options. */
const reservedHeaders = ['host', 'content-length', 'transfer-encoding', 'connection', 'accept']

export const httpRatesOptionsSchema = z
  .strictObject({
    /**
     * The endpoint's full URL (`https://shop.example.com/api/rates`), asked with `GET`. http(s) only; a query is
     * kept, credentials and a fragment are refused (give a token through `bearerToken` or `headers`).
     */
    url: z.url({ protocol: /^https?$/ }).refine((u) => {
      // runs after a failed url check too: only a URL that parses has parts to look at
      const url = URL.canParse(u) ? new URL(u) : undefined
      return !url || (url.username === '' && url.password === '' && url.hash === '')
    }, 'must not hold credentials or a fragment'),
    /**
     * A token sent as `Authorization: Bearer <token>`. Read it from the environment in plugins.config.ts
     * (`bearerToken: process.env.RATES_TOKEN`); it never appears in a message or a log line.
     */
    bearerToken: z
      .string()
      .min(1)
      .max(4096)
      .regex(/^[\x21-\x7e]*$/, 'must be printable ASCII without spaces (it is sent as an HTTP header)')
      .optional(),
    /**
     * Further headers sent with each request (`{ 'X-Api-Key': process.env.RATES_KEY }`); their values never
     * appear in a message or a log line.
     */
    headers: z
      .record(
        z
          .string()
          .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'must be an HTTP header name')
          .refine((name) => !reservedHeaders.includes(name.toLowerCase()), 'is set by the gateway itself'),
        z
          .string()
          .min(1)
          .max(4096)
          .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII (it is sent as an HTTP header)'),
      )
      .default({}),
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
    const authorization = Object.keys(o.headers).find((name) => name.toLowerCase() === 'authorization')
    if (o.bearerToken !== undefined && authorization !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['headers', authorization],
        message: 'bearerToken sets Authorization already; give one or the other',
      })
  })

export type HttpRatesOptions = z.output<typeof httpRatesOptionsSchema>
