import { z } from 'zod'

/** CAIP-2 chain id, e.g. `eip155:56`. */
const caip2 = z
  .string()
  .regex(/^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/, 'must be a CAIP-2 chain id (e.g. eip155:56)')

const listSchema = z
  .strictObject({
    /** The list's name in answers and messages: the SDN list's asset code (`ETH`, `XBT`, `USDT`…). */
    asset: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,32}$/, 'must be 1-32 letters, digits, dot, dash or underscore'),
    /** A local file, read at start and on reload. */
    file: z.string().min(1).optional(),
    /** An http(s) URL, fetched at start and on reload. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /**
     * Restricts the list to these chains. Default: each address applies to every chain the gateway runs of the
     * address's own family (an `0x…` address to every EVM chain, `T…` to every Tron chain, a Bitcoin address to
     * the Bitcoin chain whose network it belongs to).
     */
    chains: z.array(caip2).min(1).optional(),
  })
  .refine((l) => (l.file === undefined) !== (l.url === undefined), 'give exactly one of file or url')

export const sanctionsOptionsSchema = z.strictObject({
  lists: z.array(listSchema).min(1, 'at least one list is required'),
  /** Largest list accepted, in bytes (default 4 MiB; the whole SDN XBT list is 16 kB). */
  maxBytes: z
    .number()
    .int()
    .min(1)
    .max(64 << 20)
    .default(4 << 20),
  /** Longest a URL list may take to download (default 30 s). */
  fetchTimeoutMs: z.number().int().min(1).max(600_000).default(30_000),
})

export type SanctionsOptions = z.output<typeof sanctionsOptionsSchema>
