import { z } from 'zod'

/**
 * The plugin's options, as the operator writes them in `plugins.config.ts`. Strict: a key the plugin does not
 * know (a typo such as `confirmation`) is refused at boot instead of being silently dropped.
 */
export const toyOptions = z
  .strictObject({
    /** The toy node's JSON-RPC endpoint. */
    rpcUrl: z.url({ protocol: /^https?$/ }),
    /** The network the node must be on; part of the CAIP-2 chain id (`toy:devnet`). */
    network: z
      .string()
      .regex(/^[-_a-zA-Z0-9]{1,32}$/)
      .default('devnet'),
    /** Depth at which a deposit counts as final. */
    confirmations: z.number().int().min(1).default(3),
    /** Deepest reorg expected; at least `confirmations`. */
    finalityDepth: z.number().int().min(1).default(10),
    /** Tokens to watch besides the native TOY coin. */
    tokens: z
      .array(
        z.strictObject({
          symbol: z.string().min(1).max(16),
          name: z.string().min(1).optional(),
          contract: z.string().regex(/^[0-9a-z]{1,64}$/),
          decimals: z.number().int().min(0).max(36),
        }),
      )
      .default([]),
    /** The longest one RPC call may take. */
    timeoutMs: z.number().int().min(100).default(5000),
  })
  .refine((o) => o.finalityDepth >= o.confirmations, {
    message: 'finalityDepth must be at least confirmations',
    path: ['finalityDepth'],
  })

export type ToyOptions = z.output<typeof toyOptions>
