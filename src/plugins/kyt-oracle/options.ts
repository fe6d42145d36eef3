import { isAddress } from 'viem'
import { z } from 'zod'

/** A chain's name in `plugins.config.ts`, as the gateway accepts it (lowercase letters, digits, dashes). */
const chainName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,31}$/,
    'must be a chain name of plugins.config.ts (lowercase letters, digits, dashes)',
  )

/** A 20-byte `0x` address; a mixed-case one must carry a valid EIP-55 checksum (a typo is caught, not called). */
const contractAddress = z.string().superRefine((address, ctx) => {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address))
    ctx.addIssue({ code: 'custom', message: 'must be a 0x-prefixed 20-byte contract address' })
  else if (!isAddress(address, { strict: true }))
    ctx.addIssue({ code: 'custom', message: 'has a wrong EIP-55 checksum (mixed case that does not match)' })
  else if (/^0x0{40}$/.test(address))
    ctx.addIssue({ code: 'custom', message: 'must not be the zero address' })
})

export const oracleOptionsSchema = z.strictObject({
  /** Per chain name of `plugins.config.ts`: the oracle contract asked for requests on that chain. */
  chains: z
    .record(chainName, z.strictObject({ address: contractAddress }))
    .refine((chains) => Object.keys(chains).length > 0, 'at least one chain is required'),
  /**
   * What an address the oracle lists gets: `block` (default), or `review` to have a person decide. There is no
   * `allow`: an oracle whose listings are let through is one not to configure.
   */
  verdict: z.enum(['review', 'block']).default('block'),
  /** Longest one oracle call may take, node failover included (default 5 s); then a retryable `KYT_TIMEOUT`. */
  timeoutMs: z.number().int().min(1).max(60_000).default(5000),
})

export type OracleOptions = z.output<typeof oracleOptionsSchema>
