import { presetToken } from '@tollgate/sdk/names'
import { type OptionIssue, refuseRepeatedTokens, resolveDepths } from '@tollgate/sdk/option-checks'
import { z } from 'zod'
import { evmPresets, findEvmPreset } from './presets.ts'

const hexAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')

export const evmTokenSchema = z.strictObject({
  symbol: z.string().min(1).max(16),
  name: z.string().min(1).optional(),
  address: hexAddress,
  decimals: z.number().int().min(0).max(36),
  confirmations: z.number().int().min(1).optional(),
})

/**
 * Loose on purpose: a viem `Chain` (`import { bsc } from 'viem/chains'`) carries more keys than these, and every
 * key read here is required, so a misspelt one is still refused as missing.
 */
const evmChainSchema = z.object({
  id: z.number().int().positive(),
  name: z.string().min(1),
  nativeCurrency: z.object({
    name: z.string().min(1),
    symbol: z.string().min(1),
    decimals: z.number().int().min(0).max(36),
  }),
})

/** What the operator writes: a preset names the chain and its tokens; anything given explicitly wins over it. */
const evmOptionsInputSchema = z.strictObject({
  /**
   * A well-known chain by name (`ethereum`, `bsc`, `polygon`, `arbitrum`, `base`, `optimism` and their testnets,
   * src/plugins/evm/presets.ts): its chain id, native currency and confirmation defaults.
   */
  preset: z.string().optional(),
  /** The chain itself; required without a preset, overrides the preset's with one. */
  chain: evmChainSchema.optional(),
  rpcUrls: z.array(z.url({ protocol: /^(https?|wss?)$/ })).min(1, 'at least one RPC URL is required'),
  /** Tokens: a preset's by symbol (`'USDT'`), or any token as `{ symbol, address, decimals }`. */
  tokens: z.array(z.union([z.string().min(1), evmTokenSchema])).default([]),
  /** Default: the preset's, else 12. */
  confirmations: z.number().int().min(1).optional(),
  /** Default: the preset's, else 64. */
  finalityDepth: z.number().int().min(1).optional(),
  /** BIP44 account index: addresses are m/44'/60'/account'/0/i. */
  account: z.number().int().min(0).max(0x7fffffff).default(0),
  /** Parallel block fetches while scanning. */
  scanConcurrency: z.number().int().min(1).max(64).default(6),
  /** How often to poll for new heads over HTTP when no WebSocket URL is configured, or while the subscription is down. */
  headPollMs: z.number().int().min(50).default(1000),
  /** Fee ceiling for outbound transactions, wei per gas (decimal string); above it sending waits. */
  maxFeePerGas: z
    .string()
    .regex(/^[0-9]{1,30}$/, 'must be a decimal integer string (wei per gas)')
    .transform((v) => BigInt(v))
    .optional(),
  /** Per-request RPC timeout. */
  timeoutMs: z.number().int().positive().default(10_000),
  /**
   * How ETH moved by contracts (internal transfers) into watched addresses is found: `traces` asks the node for
   * call traces of every block, `balance` compares the balances of watched addresses block by block, `off`
   * counts top-level transactions only, `auto` uses traces where the node has them and balances otherwise.
   */
  internalTransfers: z.enum(['auto', 'traces', 'balance', 'off']).default('auto'),
  /**
   * Whether ETH sent to watched addresses is looked for at all. `false` (token-only) reads no full blocks:
   * headers and the token contracts' logs only, for chains where merchants take tokens alone.
   */
  nativeDeposits: z.boolean().default(true),
  /** Blocks the scan stays behind the node's tip, for providers whose logs index lags the newest blocks. */
  tipLag: z.number().int().min(0).max(64).default(0),
  /**
   * Withdrawals of one asset paid together in one transaction through the BatchPayouts contract (set it up once
   * with `tollgate batch enable --chain NAME`), where that costs less gas than sending them one by one; a
   * recipient whose transfer would revert goes alone. Until the contract and the token allowances are in place,
   * every withdrawal goes alone as without it.
   */
  batchPayouts: z.boolean().default(false),
  /** JSON-RPC batching: most calls sent in one HTTP request (1 = no batching, for providers that refuse it). */
  rpcBatchSize: z.number().int().min(1).max(1000).default(50),
})

type EvmToken = z.output<typeof evmTokenSchema>

/** Options of the EVM driver: a chain is data (a viem `Chain`-shaped object, RPC URLs and tokens), or a preset. */
export const evmOptionsSchema = evmOptionsInputSchema.transform((input, ctx) => {
  const { preset: presetName, chain: givenChain, tokens: givenTokens, ...rest } = input
  const report = (issue: OptionIssue) => ctx.addIssue(issue)
  let preset: (typeof evmPresets)[keyof typeof evmPresets] | undefined
  if (presetName !== undefined) {
    const found = findEvmPreset(presetName)
    if (!found.ok) ctx.addIssue({ code: 'custom', path: ['preset'], message: found.message })
    else preset = found.value
  }
  const chain = givenChain ?? preset?.chain
  if (!chain && presetName === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['chain'],
      message: `required: give a preset (${Object.keys(evmPresets).join(', ')}) or { id, name, nativeCurrency }`,
    })
  const tokens: EvmToken[] = []
  givenTokens.forEach((token, i) => {
    if (typeof token !== 'string') {
      tokens.push(token)
      return
    }
    if (presetName === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokens', i],
        message: `token "${token}" by name needs a preset; without one give { symbol, address, decimals }`,
      })
      return
    }
    if (!preset) return
    const found = presetToken(presetName, preset.tokens as Record<string, EvmToken>, token)
    if (!found.ok) ctx.addIssue({ code: 'custom', path: ['tokens', i], message: found.message })
    else tokens.push({ ...found.value })
  })
  refuseRepeatedTokens(tokens, (address) => address.toLowerCase(), report)
  const { confirmations, finalityDepth } = resolveDepths(
    rest,
    { confirmations: preset?.confirmations ?? 12, finalityDepth: preset?.finalityDepth ?? 64 },
    report,
  )
  if (!chain) return z.NEVER
  return { ...rest, chain, tokens, confirmations, finalityDepth }
})

export type EvmOptions = z.output<typeof evmOptionsSchema>
/** Options with the chain spelled out (a devnet, a chain no preset knows). */
export type EvmOptionsInput = Omit<z.input<typeof evmOptionsSchema>, 'chain'> & {
  chain: z.input<typeof evmChainSchema>
}
/** Options naming a preset: `{ preset: 'ethereum', rpcUrls, tokens: ['USDT', 'USDC'] }`. */
export type EvmPresetOptionsInput = z.input<typeof evmOptionsSchema> & { preset: string }
