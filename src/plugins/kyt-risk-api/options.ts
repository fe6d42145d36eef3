import { z } from 'zod'

const verdict = z.enum(['allow', 'review', 'block'])
const rank = { allow: 0, review: 1, block: 2 } as const

/**
 * The verdict each risk grade of the API maps to. Keys are the grades as answers carry them (lowercase); the
 * defaults block `severe`, send `high` and `medium` to a reviewer and allow `low`.
 */
const verdictsSchema = z
  .strictObject({
    severe: verdict.default('block'),
    high: verdict.default('review'),
    medium: verdict.default('review'),
    low: verdict.default('allow'),
  })
  .superRefine((v, ctx) => {
    // a higher risk never gets a milder verdict than a lower one: `low: block, severe: allow` is a typo, not a policy
    const order = ['low', 'medium', 'high', 'severe'] as const
    for (let i = 1; i < order.length; i++) {
      const lower = order[i - 1] as (typeof order)[number]
      const higher = order[i] as (typeof order)[number]
      if (rank[v[higher]] < rank[v[lower]])
        ctx.addIssue({
          code: 'custom',
          path: [higher],
          message: `${higher} maps to ${v[higher]}, milder than ${lower}'s ${v[lower]}`,
        })
    }
  })

export const riskApiOptionsSchema = z.strictObject({
  /**
   * The API's origin, without the `/api/risk/v2/…` path: `https://api.chainalysis.com`, or the sandbox instance
   * the vendor gives. http(s) only; no credentials, query or fragment (the key travels in the `Token` header).
   */
  baseUrl: z.url({ protocol: /^https?$/ }).refine((u) => {
    // runs after a failed url check too: only a URL that parses has parts to look at
    const url = URL.canParse(u) ? new URL(u) : undefined
    return !url || (url.username === '' && url.password === '' && url.search === '' && url.hash === '')
  }, 'must not hold credentials, a query or a fragment'),
  /**
   * The API key, sent as the `Token` header. Read it from the environment in plugins.config.ts
   * (`apiKey: process.env.KYT_RISK_API_KEY`); it never appears in a message or a log line.
   */
  apiKey: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[\x21-\x7e]*$/, 'must be printable ASCII without spaces (it is sent as an HTTP header)'),
  verdicts: verdictsSchema.default({ severe: 'block', high: 'review', medium: 'review', low: 'allow' }),
  /** Longest one HTTP request (register or read) may take, body included (default 5 s). */
  timeoutMs: z.number().int().min(1).max(120_000).default(5000),
  /** Largest response body read; a longer one is cut off and refused (default 1 MiB). */
  maxResponseBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 << 20)
    .default(1 << 20),
  /**
   * How often the assessment is read again while the API answers `status: IN_PROGRESS` (default 3); after that
   * the screening fails with the retryable `KYT_PENDING`.
   */
  inProgressRetries: z.number().int().min(0).max(20).default(3),
  /** The pause before each such re-read (default 1 s). */
  inProgressPauseMs: z.number().int().min(0).max(60_000).default(1000),
})

export type RiskApiOptions = z.output<typeof riskApiOptionsSchema>
export type RiskVerdicts = RiskApiOptions['verdicts']
