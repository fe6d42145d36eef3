import type { ChainDriverDefinition, OptionsSchema } from './types.ts'

/**
 * Declares a chain-driver plugin. The module's default export must be the result.
 *
 * @example
 * export default defineChainDriver({
 *   apiVersion: 1,
 *   name: 'evm',
 *   options: evmOptionsSchema,
 *   create: (options, ctx) => createEvmDriver(options, ctx),
 * })
 */
export function defineChainDriver<Options>(
  definition: ChainDriverDefinition<Options>,
): ChainDriverDefinition<Options> {
  return definition
}

/** How `plugins.config.ts` names the module that drives a chain: a package name or a lazy import. */
export type ModuleLoader = string | (() => Promise<unknown>)

/** How the gateway runs a chain, whatever drives it. */
export type ChainSettings = {
  /** First block to scan when the chain has no cursor yet (default: the tip less the finality depth). */
  startHeight?: number
  /** How often the scanner runs without a new-head push (default 2000 ms). */
  scanIntervalMs?: number
  /** Most blocks one scan call covers; the scanner adapts below it (default 100). */
  maxRange?: number
  /** How long settled payments' addresses stay watched for late funds (default 24 h). */
  monitoringWindowMs?: number
  /**
   * The longest one driver call of a scan or a payout pass may take (default 10000 ms). A call past it fails its
   * step as retryable and the pass goes on with the rest; the driver's own timeouts and retries still apply
   * inside it. 0 turns the deadline off.
   */
  callTimeoutMs?: number
  /** When the chain's status counts as degraded: readiness details, `Chain.status.degraded`, warnings. */
  degradedAfter?: DegradedAfter
  /**
   * Deposit addresses shared with other chains of the same address format and account path (all EVM chains):
   * `distinct` (default): this chain never hands out a deposit address another such chain also hands out;
   * `cross`: the operator accepts that one address may receive payments on several such chains (explicit,
   * for one address across EVM chains).
   */
  addresses?: 'distinct' | 'cross'
  /**
   * How long the chain may go without a successful scan or tip read before `createPayment` on it answers
   * `CHAIN_UNAVAILABLE` (default 120000 ms). 0 never refuses.
   */
  unavailableAfterMs?: number
  /**
   * Lets this chain share its CAIP-2 chain id with other chains of the config that also set it (default false):
   * deliberately two entries on one network, e.g. two sweep-funding strategies. They must use different account
   * paths (`account`), or one transfer would pay both. Without it a repeated chain id is refused at boot: it is
   * almost always a copy-pasted entry or a wrong preset.
   */
  shareChainId?: boolean
  /**
   * What a wrong-network deposit on this chain (sent to an address issued for a payment on a sibling chain)
   * becomes once confirmed here. Never part of the payment (its asset is another). Default false: held under
   * `gateway:misdirected` for the operator to recover and settle; true: credited to the merchant's balance on
   * this chain, in the asset that arrived. With KYT screening on it is always held (nothing is credited
   * unscreened).
   */
  creditMisdirected?: boolean
  /**
   * How many confirmations a payment needs by its amount, per asset symbol (or CAIP-19 id), and what merchants may
   * choose instead. An asset without an entry needs its own `confirmations` (or the driver's) for every amount, and
   * merchants may choose nothing else.
   */
  amountTiers?: Record<string, ConfirmationTierSettings>
  /** Withdrawals on this chain. */
  payouts?: PayoutSettings
  /** Moving completed payments' funds from deposit addresses to the treasury. */
  sweeps?: SweepSettings
  /** Cold storage: an address the gateway holds no key for; treasury funds above the float go there. */
  cold?: ColdSettings
  /**
   * A block explorer for people reading the API and the console: URL templates where `{tx}` (a transaction hash)
   * and `{address}` (an address) are replaced, e.g. `{ tx: 'https://etherscan.io/tx/{tx}' }`. Only http: and
   * https: URLs whose placeholder is outside the host; anything else is refused at boot.
   */
  explorer?: ExplorerSettings
}

/** A chain's block explorer links (see `ChainSettings.explorer`); each template optional. */
export type ExplorerSettings = {
  /** A transaction's page, with `{tx}` where its hash goes. */
  tx?: string
  /** An address's page, with `{address}` where it goes. */
  address?: string
}

/**
 * Thresholds past which a chain's status is degraded; each one is 0 to turn it off. Degraded is reported (readiness
 * detail, metrics, `Chain.status`, a warning), never a reason to refuse requests.
 */
export type DegradedAfter = {
  /** The scanner is this many blocks behind the node's tip, or the node this many behind the scanner (default 20). */
  lagBlocks?: number
  /** No scan run has succeeded for this long (default 60000 ms). */
  scanAgeMs?: number
  /**
   * The node's tip has not moved for this long (default 600000 ms): a stale node, or a halted chain. Set it well
   * above the chain's longest usual gap between blocks (Bitcoin: an hour or more).
   */
  staleTipMs?: number
  /** A payout pass ran once and none has finished for this long (default 300000 ms): the signer stopped or stalls. */
  payoutPassAgeMs?: number
  /** The oldest queued withdrawal has waited this long to be sent (default 900000 ms). */
  queuedAgeMs?: number
}

/** One step of a confirmation ladder: an amount below `below` needs `confirmations`. */
export type ConfirmationTier = {
  /** Exclusive upper amount of the step, a decimal string in the asset (or in `currency` when set). */
  below: string
  /** Confirmations a payment of this step needs (a non-negative integer; 0 only when `bounds.min` is 0). */
  confirmations: number
}

/**
 * Confirmations required by amount for one asset of a chain. Steps ascend by `below`, and a larger amount never
 * needs fewer confirmations than a smaller one.
 *
 * @example
 * { tiers: [{ below: '0.001', confirmations: 1 }, { below: '1', confirmations: 3 }], above: 6, bounds: { min: 1, max: 6 } }
 */
export type ConfirmationTierSettings = {
  /** Ascending steps; the first whose `below` is above the payment's amount applies. Default none. */
  tiers?: ConfirmationTier[]
  /**
   * Confirmations for amounts at or above the last step's `below` (every amount without steps). Default the asset's
   * `confirmations`, else the driver's.
   */
  above?: number
  /**
   * What the `below` amounts are in: omitted, the asset itself; an ISO 4217 code (`USD`), that currency: a price in
   * it is compared as given, any other amount at the current rate of `SYMBOL/CURRENCY`. Without a fresh rate the
   * payment needs `above` (the most the ladder asks).
   */
  currency?: string
  /**
   * The confirmations a merchant's own choice may ask (inclusive). Default from the fewest to the most this ladder
   * asks. 0-confirmation steps (an unconfirmed transaction can still be replaced or double-spent) are refused
   * unless `min` is 0 here.
   */
  bounds?: { min: number; max: number }
}

export type ColdSettings = {
  /** Validated by the driver at boot; with `multisig` on Bitcoin it may be left out (derived from the owners). */
  address?: string
  /**
   * The cold address is a multisig wallet the gateway can draft transfers out of (a Safe on EVM chains; a P2WSH
   * M-of-N address of the owners' account xpubs on Bitcoin): `threshold` of the `owners` sign each one.
   */
  multisig?: { threshold: number; owners: string[] }
  /** What the treasury keeps for payouts, per asset symbol (decimal strings); the excess moves to `address`. */
  float: Record<string, string>
  /** Move only when the excess is at least this much, per asset symbol (default: any excess). */
  minMove?: Record<string, string>
}

export type SweepSettings = {
  /** Default true wherever the driver can send. */
  enabled?: boolean
  /** Skip a native deposit whose sweep fee would exceed this share of it, in basis points (default 1000 = 10 %). */
  maxFeeShareBps?: number
  /** Token deposits below these amounts (decimal strings by asset symbol) stay where they are. */
  minAmount?: Record<string, string>
}

export type PayoutSettings = {
  /** `none`: each withdrawal is sent as soon as it is queued; `batch`: queued ones are grouped (default `batch`). */
  mode?: 'none' | 'batch'
  /** Most withdrawals one batch takes (default 50); on chains with `maxOutputs` 1, that many sequential sends. */
  maxBatch?: number
  /** How long a batch waits for more withdrawals after the oldest queued one (default 0: at the next run). */
  windowMs?: number
  /** How often the payout job runs (default 2000 ms). */
  intervalMs?: number
  /** Withdrawals above these amounts (decimal strings by asset symbol) wait for admins' approval. */
  approvalAbove?: Record<string, string>
  /**
   * How many distinct admin API keys must approve a withdrawal above `approvalAbove`, by asset symbol (an integer
   * from 1 to 10; default 1). Never the key that requested it; one rejection cancels it. Only for assets with an
   * `approvalAbove` threshold.
   */
  approvalsRequired?: Record<string, number>
  /**
   * A withdrawal still awaiting approval this long after it was requested is canceled ('approval expired') and
   * its reserve released (default 604800000: 7 days; 0 = never).
   */
  approvalExpiresAfterMs?: number
  /** A sent transaction not mined after this many blocks is replaced with a higher fee (default 10). */
  stuckAfterBlocks?: number
  /** Fee increase per replacement, in percent (default 125: +25 %). */
  feeBumpPercent?: number
}

export type ChainEntry<Options = unknown> = {
  load: ModuleLoader
  options: Options
  settings: ChainSettings
}

/**
 * Names the module that drives a chain and the options handed to it (validated by the plugin at boot).
 *
 * @example
 * chain(() => import('./src/plugins/evm'), { chain: { id: 1, name: 'Ethereum', ... }, rpcUrls: [url] })
 * chain('@acme/tollgate-solana', { rpcUrl: 'http://127.0.0.1:8899' }, { scanIntervalMs: 400 })
 */
export function chain<Options>(
  load: ModuleLoader,
  options: Options,
  settings: ChainSettings = {},
): ChainEntry<Options> {
  return { load, options, settings }
}

/** A KYT provider entry of `plugins.config.ts`: the module and the options handed to it. */
export type KytEntry<Options = unknown> = {
  load: ModuleLoader
  options: Options
}

/**
 * Names the module of a KYT provider and the options handed to it (validated by the plugin at boot).
 *
 * @example
 * kyt(() => import('./src/plugins/kyt-sanctions'), { lists: [{ asset: 'ETH', file: './ofac_sdn_ETH.txt' }] })
 * kyt('@acme/tollgate-kyt', { apiKey: process.env.KYT_API_KEY })
 */
export function kyt<Options>(load: ModuleLoader, options: Options): KytEntry<Options> {
  return { load, options }
}

/** What a verdict does to a deposit: credit it as usual, or hold the payment for an admin's review. */
export type KytDepositAction = 'credit' | 'hold'
/** What a verdict does to a withdrawal: send it, wait for an admin's approval, or refuse it. */
export type KytWithdrawalAction = 'send' | 'approval' | 'refuse'

/** KYT policy rules; every field optional (unset ones come from the wider rule: gateway, then defaults). */
export type KytPolicyRules = {
  /**
   * When the providers cannot answer within `failAfterMs`: `closed` holds the deposit (the withdrawal waits for
   * approval), `open` lets it through as allowed. Either way an operator is alerted (metric and log). Default closed.
   */
  failMode?: 'open' | 'closed'
  /** How long screening is retried before the fail mode decides. Default 60 000. */
  failAfterMs?: number
  /** Per verdict. Default `{ allow: 'credit', review: 'hold', block: 'hold' }`. */
  deposits?: Partial<Record<'allow' | 'review' | 'block', KytDepositAction>>
  /** Per verdict. Default `{ allow: 'send', review: 'approval', block: 'refuse' }`. */
  withdrawals?: Partial<Record<'allow' | 'review' | 'block', KytWithdrawalAction>>
}

/** The gateway's KYT policy: rules for every chain, and per chain name overrides. */
export type KytPolicyConfig = KytPolicyRules & { chains?: Record<string, KytPolicyRules> }

/** A rate provider entry of `plugins.config.ts`: the module and the options handed to it. */
export type RateEntry<Options = unknown> = { load: ModuleLoader; options: Options }

/**
 * Names the module of a rate provider and the options handed to it (validated by the plugin at boot).
 *
 * @example
 * rates(() => import('./src/plugins/rates-kraken'), {})
 * rates(() => import('./src/plugins/rates-fixed'), { rates: { 'USDT/USD': '1' } })
 */
export function rates<Options>(load: ModuleLoader, options: Options): RateEntry<Options> {
  return { load, options }
}

/** How one pair's rate is made. Every field optional; unset ones come from `pricing.defaults`. */
export type RateRule = {
  /** Rate providers (names under `rates`), in fallback order (or all of them, for a median). */
  sources?: string[]
  /** `fallback`: the first fresh source's rate; `median`: the median of every fresh source. Default fallback. */
  mode?: 'fallback' | 'median'
  /** A rate older than this is not used (and with none fresher, prices in the pair are refused). Default 600. */
  maxAgeSeconds?: number
  /** Taken off the rate in the merchant's favour, in basis points (50 = 0.5 %: the buyer pays 0.5 % more). */
  spreadBps?: number
  /** A sources' rate further than this from the median of the others is ignored, in basis points. Default 5000. */
  outlierBps?: number
  /** The operator's fixed rate for the pair (a stablecoin pinned to its currency: `'1'`); no source is asked. */
  pin?: string
  /** Derive the pair through this currency: `BTC/EUR` via `USD` is `BTC/USD × USD/EUR`, each by its own rule. */
  via?: string
}

/** Fiat pricing: which pairs have rates, how they are made, and how long a quoted price holds. */
export type PricingConfig = {
  /** Rules per pair, `BASE/QUOTE` (`BTC/USD`, `USDT/EUR`). A pair without a rule has no rate. */
  pairs: Record<string, RateRule>
  /** What every pair's rule starts from. */
  defaults?: RateRule
  /** How often the rates job asks the providers. Default 60. */
  refreshSeconds?: number
  /** How long a payment's quoted amount holds before an unpaid one is quoted again. Default 900. */
  rateLockSeconds?: number
}

export type TollgateConfig = {
  chains: Record<string, ChainEntry>
  /** KYT providers by name; every deposit and payout is screened by all of them (the worst verdict counts). */
  kyt?: Record<string, KytEntry>
  /** What screening verdicts do (merchants may have their own overrides, set by an operator). */
  kytPolicy?: KytPolicyConfig
  /** Rate providers by name (exchange tickers, fixed rates, the merchant's own endpoint). */
  rates?: Record<string, RateEntry>
  /** Which pairs have rates and how they are made; fiat-priced payments need it. */
  pricing?: PricingConfig
}

/**
 * The shape of `plugins.config.ts`.
 *
 * @example
 * export default defineConfig({ chains: { devnet: chain(() => import('./src/plugins/evm'), devnetOptions) } })
 */
export function defineConfig(config: TollgateConfig): TollgateConfig {
  return config
}

/** Re-exported so plugins can type their schemas without depending on a validation library. */
export type { OptionsSchema }
