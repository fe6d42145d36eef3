import { z } from 'zod'

const hexAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')

export const evmTokenSchema = z.object({
  symbol: z.string().min(1).max(16),
  name: z.string().min(1).optional(),
  address: hexAddress,
  decimals: z.number().int().min(0).max(36),
  confirmations: z.number().int().min(1).optional(),
})

/** Options of the EVM driver: a chain is data (a viem `Chain`-shaped object, RPC URLs and tokens). */
export const evmOptionsSchema = z.object({
  chain: z.object({
    id: z.number().int().positive(),
    name: z.string().min(1),
    nativeCurrency: z.object({
      name: z.string().min(1),
      symbol: z.string().min(1),
      decimals: z.number().int().min(0).max(36),
    }),
  }),
  rpcUrls: z.array(z.url({ protocol: /^(https?|wss?)$/ })).min(1, 'at least one RPC URL is required'),
  tokens: z.array(evmTokenSchema).default([]),
  confirmations: z.number().int().min(1).default(12),
  finalityDepth: z.number().int().min(1).default(64),
  /** BIP44 account index: addresses are m/44'/60'/account'/0/i. */
  account: z.number().int().min(0).max(0x7fffffff).default(0),
  /** Parallel block fetches while scanning. */
  scanConcurrency: z.number().int().min(1).max(64).default(6),
  /** How often to poll for new heads when no WebSocket URL is configured. */
  headPollMs: z.number().int().min(50).default(1000),
  /** Fee ceiling for outbound transactions, wei per gas (decimal string); above it sending waits. */
  maxFeePerGas: z
    .string()
    .regex(/^[0-9]{1,30}$/, 'must be a decimal integer string (wei per gas)')
    .transform((v) => BigInt(v))
    .optional(),
  /** Per-request RPC timeout. */
  timeoutMs: z.number().int().positive().default(10_000),
})

export type EvmOptions = z.output<typeof evmOptionsSchema>
export type EvmOptionsInput = z.input<typeof evmOptionsSchema>
