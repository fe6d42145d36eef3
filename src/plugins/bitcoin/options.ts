import { type OptionIssue, refuseContradictedPreset, resolveDepths } from '@tollgate/sdk/option-checks'
import { z } from 'zod'
import { type BitcoinPreset, bitcoinPresets, findBitcoinPreset } from './presets.ts'

/** What the operator writes; a preset names the network and its confirmation defaults. */
const bitcoinOptionsInputSchema = z.strictObject({
  /** A well-known network by name (`bitcoin`, `bitcoin-testnet`): network and confirmation defaults. */
  preset: z.string().optional(),
  /** Required without a preset. */
  network: z.enum(['mainnet', 'testnet', 'testnet4', 'signet', 'regtest']).optional(),
  /**
   * Bitcoin Core or bcoin JSON-RPC endpoints, tried in order with failover. Credentials may sit in the URL
   * (`http://user:pass@host:8332`, Core's cookie as `__cookie__:<hex>`).
   */
  rpcUrls: z.array(z.url({ protocol: /^https?$/ })).min(1, 'at least one RPC URL is required'),
  /** Basic-auth user and password for URLs without credentials (bcoin: any user, the API key as password). */
  rpcUser: z.string().optional(),
  rpcPassword: z.string().optional(),
  /** Default: the preset's (6 on mainnet), else 2. */
  confirmations: z.number().int().min(1).optional(),
  /** Default: the preset's (12 on mainnet), else 6. */
  finalityDepth: z.number().int().min(1).optional(),
  /** Outputs one payout transaction may have. */
  maxOutputs: z.number().int().min(1).max(10_000).default(100),
  /** BIP84 account index: addresses are m/84'/coin'/account'/0/i. */
  account: z.number().int().min(0).max(0x7fffffff).default(0),
  /** Parallel block fetches while scanning. */
  scanConcurrency: z.number().int().min(1).max(32).default(4),
  /** How often `watchHeads` polls the node's block count. */
  headPollMs: z.number().int().min(50).default(2000),
  /** Per-request RPC timeout (a full block can be several MB). */
  timeoutMs: z.number().int().positive().default(30_000),
  /** Payouts: confirmation target (blocks) asked of `estimatesmartfee`. */
  feeTargetBlocks: z.number().int().min(1).max(1008).default(6),
  /** Payouts: sat/vB used when the node has no fee estimate (a fresh node, regtest). */
  fallbackFeeRate: z.number().positive().max(100_000).default(2),
  /** Payouts: the highest sat/vB the driver builds with; above it building fails with `FEE_TOO_HIGH`. */
  maxFeeRate: z.number().positive().max(100_000).default(500),
  /**
   * Payouts: sat/vB floor, and BIP125's incremental relay fee a replacement adds on top of the fee it replaces
   * (Bitcoin Core's `minrelaytxfee` and `incrementalrelayfee`, both 1 sat/vB by default).
   */
  minRelayFeeRate: z.number().positive().max(100_000).default(1),
  /**
   * Payouts: how long `broadcast` waits for the transaction to show in the node's mempool (bcoin accepts it
   * asynchronously and reports no rejection).
   */
  broadcastWaitMs: z.number().int().min(0).default(5000),
})

/** Options of the Bitcoin driver: derivation, validation, scanning, and payouts (fees). */
export const bitcoinOptionsSchema = bitcoinOptionsInputSchema.transform((input, ctx) => {
  const { preset: presetName, network: givenNetwork, ...rest } = input
  const report = (issue: OptionIssue) => ctx.addIssue(issue)
  let preset: BitcoinPreset | undefined
  if (presetName !== undefined) {
    const found = findBitcoinPreset(presetName)
    if (!found.ok) ctx.addIssue({ code: 'custom', path: ['preset'], message: found.message })
    else preset = found.value
  }
  if (preset) refuseContradictedPreset(presetName as string, preset.network, givenNetwork, report)
  const network = givenNetwork ?? preset?.network
  if (network === undefined) {
    if (presetName === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['network'],
        message: `required: give a preset (${Object.keys(bitcoinPresets).join(', ')}) or a network (mainnet, testnet, testnet4, signet, regtest)`,
      })
    return z.NEVER
  }
  // without a preset, a public network gets its preset's defensible depths (mainnet 6); regtest stays quick
  const defaults = preset ?? Object.values(bitcoinPresets).find((p) => p.network === network)
  const { confirmations, finalityDepth } = resolveDepths(
    rest,
    { confirmations: defaults?.confirmations ?? 2, finalityDepth: defaults?.finalityDepth ?? 6 },
    report,
  )
  return { ...rest, network, confirmations, finalityDepth }
})

export type BitcoinOptions = z.output<typeof bitcoinOptionsSchema>
export type BitcoinOptionsInput = z.input<typeof bitcoinOptionsSchema>
