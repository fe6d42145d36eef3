import { presetToken } from '@tollgate/sdk/names'
import {
  type OptionIssue,
  refuseContradictedPreset,
  refuseRepeatedTokens,
  resolveDepths,
} from '@tollgate/sdk/option-checks'
import { z } from 'zod'
import { tronBase58ToHex } from './address.ts'
import { findTronPreset, type TronPreset, tronPresetOfNetwork, tronPresets } from './presets.ts'

const base58Address = z
  .string()
  .refine((s) => tronBase58ToHex(s) !== undefined, 'must be a base58check Tron address (T…)')

export const tronTokenSchema = z.strictObject({
  symbol: z.string().min(1).max(16),
  name: z.string().min(1).optional(),
  /** The TRC-20 contract, base58 (e.g. USDT: `TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t`). */
  address: base58Address,
  decimals: z.number().int().min(0).max(36),
  confirmations: z.number().int().min(1).optional(),
})

/** CAIP-2 references of the public Tron networks (the last 4 bytes of each genesis block id). */
export const tronNetworks = { mainnet: '0x2b6653dc', shasta: '0x94a9059e', nile: '0xcd8690dc' } as const

/** What the operator writes; a preset names the network and its tokens, anything given explicitly wins. */
const tronOptionsInputSchema = z.strictObject({
  /** A well-known network by name (`tron`, `tron-nile`, `tron-shasta`): its tokens and confirmation defaults. */
  preset: z.string().optional(),
  /** Which network: names the chain (`tron:0x2b6653dc`…). Default: the preset's, else mainnet. */
  network: z.enum(['mainnet', 'shasta', 'nile']).optional(),
  /** java-tron HTTP full-node base URLs (TronGrid or own nodes), tried in order; a failing one fails over. */
  fullHosts: z.array(z.url({ protocol: /^https?$/ })).min(1, 'at least one full-node URL is required'),
  /** Solidity-node base URL (`/walletsolidity/*`); optional, not used by detection (the core counts depth). */
  solidityUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** TronGrid API key, sent as the `TRON-PRO-API-KEY` header. */
  apiKey: z.string().min(1).optional(),
  /** Tokens: the network's well-known ones by symbol (`'USDT'`), or any TRC-20 as `{ symbol, address, decimals }`. */
  tokens: z.array(z.union([z.string().min(1), tronTokenSchema])).default([]),
  /** 19 blocks = the depth at which java-tron's solidity node considers a block irreversible (default). */
  confirmations: z.number().int().min(1).optional(),
  /** Default 27: one round of the 27 super representatives. */
  finalityDepth: z.number().int().min(1).optional(),
  /** BIP44 account index: addresses are m/44'/195'/account'/0/i. */
  account: z.number().int().min(0).max(0x7fffffff).default(0),
  /** Per-request timeout. */
  timeoutMs: z.number().int().positive().default(10_000),
  /** Rounds over the whole URL list before a call fails (each round waits `backoffMs` × 2^round first). */
  retryRounds: z.number().int().min(1).max(10).default(3),
  backoffMs: z.number().int().min(0).default(250),
  /** Parallel block fetches while scanning. */
  scanConcurrency: z.number().int().min(1).max(32).default(4),
  /** How often to poll `getnowblock` for new heads. */
  headPollMs: z.number().int().min(50).default(3000),
  /**
   * Sending: how long a built transaction stays valid, counted from its reference block's time (java-tron
   * refuses an expiration more than 24 h past the head). A transaction not mined by then can never be; the core
   * may build a replacement only after it.
   */
  expirationMs: z
    .number()
    .int()
    .min(3_000)
    .max(24 * 3600 * 1000)
    .default(60_000),
  /** Sending: sun per energy unit for `fee_limit`; default the network's `getEnergyFee` chain parameter. */
  energyPrice: z.coerce.bigint().positive().optional(),
  /** Sending: multiplier on the estimated energy (TRC-20 `fee_limit`, sweep funding and delegations). */
  energyMargin: z.number().min(1).max(10).default(1.2),
  /** Sending: the highest `fee_limit` (sun) a TRC-20 transfer may carry; above it `build` throws `FEE_TOO_HIGH`. */
  maxFeeLimit: z.coerce.bigint().positive().max(15_000_000_000n).default(100_000_000n),
  /**
   * Sweeps: how the gas tank covers a deposit address's TRC-20 sweep. `burn`: it sends the TRX the sweep burns
   * for energy and bandwidth (activating the address when needed). `delegate`: it delegates energy from its
   * Stake 2.0 frozen TRX (taken back by `buildDefunding` after the sweep), falling back to `burn` when a
   * delegation alone cannot do (the address is not activated yet, or it must also burn TRX for bandwidth it
   * does not have).
   */
  funding: z.enum(['burn', 'delegate']).default('burn'),
})

type TronToken = z.output<typeof tronTokenSchema>

/** Options of the Tron driver. */
export const tronOptionsSchema = tronOptionsInputSchema.transform((input, ctx) => {
  const { preset: presetName, network: givenNetwork, tokens: givenTokens, ...rest } = input
  const report = (issue: OptionIssue) => ctx.addIssue(issue)
  let preset: TronPreset | undefined
  if (presetName !== undefined) {
    const found = findTronPreset(presetName)
    if (!found.ok) ctx.addIssue({ code: 'custom', path: ['preset'], message: found.message })
    else preset = found.value
  }
  if (preset) refuseContradictedPreset(presetName as string, preset.network, givenNetwork, report)
  const network = givenNetwork ?? preset?.network ?? 'mainnet'
  // token names resolve against the network's preset even when no preset is named: the network says which
  const tokenPresetName = presetName !== undefined && preset ? presetName : tronPresetOfNetwork[network]
  const tokenPreset: TronPreset = preset ?? tronPresets[tronPresetOfNetwork[network]]
  const tokens: TronToken[] = []
  givenTokens.forEach((token, i) => {
    if (typeof token !== 'string') {
      tokens.push(token)
      return
    }
    const found = presetToken(tokenPresetName, tokenPreset.tokens, token)
    if (!found.ok) ctx.addIssue({ code: 'custom', path: ['tokens', i], message: found.message })
    else tokens.push({ ...found.value })
  })
  refuseRepeatedTokens(tokens, (address) => address, report)
  const { confirmations, finalityDepth } = resolveDepths(
    rest,
    { confirmations: preset?.confirmations ?? 19, finalityDepth: preset?.finalityDepth ?? 27 },
    report,
  )
  return { ...rest, network, tokens, confirmations, finalityDepth }
})

export type TronOptions = z.output<typeof tronOptionsSchema>
export type TronOptionsInput = z.input<typeof tronOptionsSchema>
