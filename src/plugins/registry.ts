import { dirname, isAbsolute, relative, resolve } from 'node:path'
import type {
  ChainDriver,
  ChainDriverDefinition,
  ChainSettings,
  ColdSettings,
  DriverLogger,
  ExplorerSettings,
  KytContext,
  KytEntry,
  KytProvider,
  MultisigWallet,
  PayoutSettings,
  RateContext,
  RateProvider,
  SweepSettings,
  TollgateConfig,
} from '@tollgate/sdk'
import { capabilityGaps, parseUnits, SDK_API_VERSION } from '@tollgate/sdk'
import type { ConfirmationTierSettings, DegradedAfter } from '@tollgate/sdk/define'
import {
  type ExplorerKind,
  explorerPlaceholders,
  explorerTemplateProblem,
  type ResolvedExplorer,
} from '@tollgate/sdk/explorer'
import { didYouMean } from '@tollgate/sdk/names'

/** A loaded chain: its config name and its driver. */
export type LoadedChain = {
  name: string
  module: string
  driver: ChainDriver
  /**
   * The other chains of the config that derive this chain's addresses (the same account path and CAIP-2
   * namespace: every EVM chain of one account): what reaches one of their payment addresses on this chain is a
   * wrong-network deposit. Set by `loadChains`; absent on a chain built by hand.
   */
  siblings?: readonly string[]
  settings: Required<
    Omit<
      ChainSettings,
      | 'startHeight'
      | 'payouts'
      | 'sweeps'
      | 'cold'
      | 'callTimeoutMs'
      | 'degradedAfter'
      | 'addresses'
      | 'unavailableAfterMs'
      | 'shareChainId'
      | 'creditMisdirected'
      | 'amountTiers'
      | 'explorer'
    >
  > & {
    startHeight?: number
    payouts: ResolvedPayoutSettings
    sweeps: ResolvedSweepSettings
    cold: ResolvedColdSettings | null
    /** Always set by `loadChains`; a chain built by hand (tests) gets `chainSettingDefaults.callTimeoutMs`. */
    callTimeoutMs?: number
    /** Always set by `loadChains`; a chain built by hand (tests) gets `chainSettingDefaults.degradedAfter`. */
    degradedAfter?: Required<DegradedAfter>
    /**
     * Always set by `loadChains` (default `distinct`); a chain built by hand (tests) gets
     * `chainSettingDefaults.addresses`.
     */
    addresses?: 'distinct' | 'cross'
    /**
     * Always set by `loadChains` (default 120000, 0 = never); a chain built by hand (tests) gets
     * `chainSettingDefaults.unavailableAfterMs`.
     */
    unavailableAfterMs?: number
    /** Always set by `loadChains` (default false). */
    shareChainId?: boolean
    /** Always set by `loadChains` (default false). */
    creditMisdirected?: boolean
    /**
     * The operator's confirmation ladders by asset id (an asset without one needs its own confirmations for every
     * amount). Always set by `loadChains`; a chain built by hand (tests) has none.
     */
    amountTiers?: ReadonlyMap<string, ConfirmationLadder>
    /** The operator's block explorer templates, checked; null or absent: none (no links). */
    explorer?: ResolvedExplorer | null
  }
}

/** Defaults of the chain settings that say how long calls may take and when a chain's status is degraded. */
export const chainSettingDefaults = {
  callTimeoutMs: 10_000,
  addresses: 'distinct' as 'distinct' | 'cross',
  unavailableAfterMs: 120_000,
  degradedAfter: {
    lagBlocks: 20,
    scanAgeMs: 60_000,
    staleTipMs: 600_000,
    payoutPassAgeMs: 300_000,
    queuedAgeMs: 900_000,
  } satisfies Required<DegradedAfter>,
} as const

/** Non-negative integers, defaults filled in; `what` names the setting in errors. */
function resolveCount(value: number | undefined, fallback: number, what: string): number {
  const n = value ?? fallback
  if (!Number.isInteger(n) || n < 0) throw new ConfigProblem(`${what} must be a non-negative integer`)
  return n
}

function resolveFlag(value: unknown, what: string): boolean {
  if (value === undefined) return false
  if (typeof value === 'boolean') return value
  throw new ConfigProblem(`${what} must be true or false`)
}

function resolveAddressMode(mode: unknown): 'distinct' | 'cross' {
  if (mode === undefined) return chainSettingDefaults.addresses
  if (mode === 'distinct' || mode === 'cross') return mode
  throw new ConfigProblem(`addresses must be "distinct" or "cross" (got ${JSON.stringify(mode)})`)
}

/** The keys of each settings object the gateway reads; anything else is a typo, refused rather than dropped. */
const settingKeys = {
  '': [
    'startHeight',
    'scanIntervalMs',
    'maxRange',
    'monitoringWindowMs',
    'callTimeoutMs',
    'degradedAfter',
    'addresses',
    'unavailableAfterMs',
    'shareChainId',
    'creditMisdirected',
    'amountTiers',
    'payouts',
    'sweeps',
    'cold',
    'explorer',
  ],
  payouts: [
    'mode',
    'maxBatch',
    'windowMs',
    'intervalMs',
    'approvalAbove',
    'approvalsRequired',
    'approvalExpiresAfterMs',
    'stuckAfterBlocks',
    'feeBumpPercent',
  ],
  sweeps: ['enabled', 'maxFeeShareBps', 'minAmount'],
  cold: ['address', 'float', 'minMove', 'multisig'],
  explorer: Object.keys(explorerPlaceholders),
  degradedAfter: Object.keys(chainSettingDefaults.degradedAfter),
  confirmationTier: ['tiers', 'above', 'currency', 'bounds'],
  confirmationStep: ['below', 'confirmations'],
  confirmationBounds: ['min', 'max'],
} satisfies Record<string, readonly string[]>

/** Refuses keys of `settings` (the object at `at`, '' for the top) that the gateway does not read. */
function refuseUnknownSettings(settings: unknown, at: keyof typeof settingKeys, label: string = at): void {
  if (settings === undefined) return
  const where = at === '' ? 'settings' : label
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
    throw new ConfigProblem(`${where} must be an object`)
  const known: readonly string[] = settingKeys[at]
  const unknown = Object.keys(settings).filter((k) => !known.includes(k))
  if (unknown.length > 0)
    throw new ConfigProblem(
      `${at === '' ? '' : `${label}: `}unknown setting(s) ${unknown
        .map((k) => `${k}${didYouMean(k, known)}`)
        .join(', ')}; known: ${known.join(', ')}`,
    )
}

/** The explorer templates of a chain's settings, each checked (see `explorerTemplateProblem`); null without any. */
function resolveExplorer(settings: ExplorerSettings | undefined): ResolvedExplorer | null {
  if (settings === undefined) return null
  refuseUnknownSettings(settings, 'explorer')
  const resolved: ResolvedExplorer = { tx: null, address: null }
  for (const kind of Object.keys(explorerPlaceholders) as ExplorerKind[]) {
    const template = settings[kind]
    if (template === undefined) continue
    const problem = explorerTemplateProblem(kind, template)
    if (problem) throw new ConfigProblem(`explorer.${kind} ${problem}`)
    resolved[kind] = template as string
  }
  return resolved
}

function resolveDegradedAfter(settings: DegradedAfter = {}): Required<DegradedAfter> {
  const defaults = chainSettingDefaults.degradedAfter
  const known = Object.keys(defaults)
  refuseUnknownSettings(settings, 'degradedAfter')
  return Object.fromEntries(
    known.map((k) => [
      k,
      resolveCount(
        settings[k as keyof DegradedAfter],
        defaults[k as keyof DegradedAfter],
        `degradedAfter.${k}`,
      ),
    ]),
  ) as Required<DegradedAfter>
}

/**
 * One problem with one chain's entry in plugins.config.ts. `loadChains` reports it, like anything else a chain
 * throws while loading (its driver's `create`, say), under the chain's name and module.
 *
 * @example
 * throw new ConfigProblem('sweeps.maxFeeShareBps must be an integer from 0 to 10000')
 */
export class ConfigProblem extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigProblem'
  }
}

export type ResolvedColdSettings = {
  /** Normalized by the driver. */
  address: string
  /** The multisig wallet the cold address is, as the driver checked it (absent: a plain address). */
  multisig?: MultisigWallet | null
  /** Base units by asset id. */
  float: ReadonlyMap<string, bigint>
  minMove: ReadonlyMap<string, bigint>
}

function resolveColdSettings(
  driver: ChainDriver,
  settings: ColdSettings | undefined,
): ResolvedColdSettings | null {
  if (!settings) return null
  let multisig: MultisigWallet | null = null
  if (settings.multisig) {
    if (!driver.multisig)
      throw new ConfigProblem('cold.multisig: this chain’s driver has no multisig wallets')
    try {
      multisig = driver.multisig.wallet({
        ...(settings.address === undefined ? {} : { address: settings.address }),
        threshold: settings.multisig.threshold,
        owners: settings.multisig.owners,
      })
    } catch (err) {
      throw new ConfigProblem(`cold.multisig: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const address = settings.address ?? multisig?.address
  if (address === undefined)
    throw new ConfigProblem('cold.address: required (or cold.multisig that derives it)')
  const checked = driver.validateAddress(address)
  if (!checked.ok) throw new ConfigProblem(`cold.address: ${checked.reason}`)
  return {
    address: checked.normalized,
    multisig,
    float: amountsByAsset(driver, settings.float, 'cold.float'),
    minMove: amountsByAsset(driver, settings.minMove, 'cold.minMove'),
  }
}

export type ResolvedSweepSettings = {
  enabled: boolean
  maxFeeShareBps: number
  /** Base units by asset id. */
  minAmount: ReadonlyMap<string, bigint>
}

/** Decimal amounts by asset symbol (or id) → base units by asset id; `what` names the setting in errors. */
function amountsByAsset(driver: ChainDriver, amounts: Record<string, string> = {}, what: string) {
  const out = new Map<string, bigint>()
  for (const [symbol, amount] of Object.entries(amounts)) {
    const asset = driver.assets.find((a) => a.symbol === symbol || a.id === symbol)
    if (!asset) throw new ConfigProblem(`${what}: unknown asset "${symbol}"`)
    const parsed = parseUnits(amount, asset.decimals)
    if (!parsed.ok) throw new ConfigProblem(`${what}.${symbol}: ${parsed.reason}`)
    out.set(asset.id, parsed.units)
  }
  return out
}

function resolveSweepSettings(driver: ChainDriver, settings: SweepSettings = {}): ResolvedSweepSettings {
  const share = settings.maxFeeShareBps ?? 1000
  if (!Number.isInteger(share) || share < 0 || share > 10_000)
    throw new ConfigProblem('sweeps.maxFeeShareBps must be an integer from 0 to 10000')
  return {
    enabled: (settings.enabled ?? true) && driver.payouts !== undefined,
    maxFeeShareBps: share,
    minAmount: amountsByAsset(driver, settings.minAmount, 'sweeps.minAmount'),
  }
}

export type ResolvedPayoutSettings = Required<
  Omit<PayoutSettings, 'approvalAbove' | 'approvalsRequired' | 'approvalExpiresAfterMs'>
> & {
  /** Base units by asset id; a withdrawal above it waits for approval. */
  approvalAbove: ReadonlyMap<string, bigint>
  /**
   * Distinct admin keys that must approve a withdrawal above `approvalAbove`, by asset id (an asset not in it: 1).
   * Always set by `loadChains`; a chain built by hand (tests) may leave it out (1 everywhere).
   */
  approvalsRequired?: ReadonlyMap<string, number>
  /** 0 = never; always set by `loadChains`, a chain built by hand (tests) may leave it out (never). */
  approvalExpiresAfterMs?: number
}

/** Most approvals a withdrawal can be made to need. */
export const maxApprovalsRequired = 10
/** How long a withdrawal may await approval by default: 7 days. */
export const defaultApprovalExpiresAfterMs = 7 * 24 * 3600 * 1000

function resolveApprovalsRequired(
  driver: ChainDriver,
  given: unknown,
  approvalAbove: ReadonlyMap<string, bigint>,
): Map<string, number> {
  const out = new Map<string, number>()
  if (given === undefined) return out
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new ConfigProblem('payouts.approvalsRequired must be an object of counts by asset symbol')
  for (const [symbol, count] of Object.entries(given)) {
    const asset = driver.assets.find((a) => a.symbol === symbol || a.id === symbol)
    if (!asset) throw new ConfigProblem(`payouts.approvalsRequired: unknown asset "${symbol}"`)
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > maxApprovalsRequired)
      throw new ConfigProblem(
        `payouts.approvalsRequired.${symbol} must be an integer from 1 to ${maxApprovalsRequired} (got ${JSON.stringify(count)})`,
      )
    if (!approvalAbove.has(asset.id))
      throw new ConfigProblem(
        `payouts.approvalsRequired.${symbol}: no payouts.approvalAbove.${symbol} threshold, so no withdrawal of it awaits approval`,
      )
    out.set(asset.id, count)
  }
  return out
}

/** Fills payout defaults and turns approval thresholds into base units of the driver's assets. */
function resolvePayoutSettings(driver: ChainDriver, settings: PayoutSettings = {}): ResolvedPayoutSettings {
  const approvalAbove = amountsByAsset(driver, settings.approvalAbove, 'payouts.approvalAbove')
  const positive = (v: number | undefined, fallback: number, what: string) =>
    resolveCount(v, fallback, `payouts.${what}`)
  return {
    mode: settings.mode ?? 'batch',
    maxBatch: Math.max(1, positive(settings.maxBatch, 50, 'maxBatch')),
    windowMs: positive(settings.windowMs, 0, 'windowMs'),
    intervalMs: Math.max(100, positive(settings.intervalMs, 2000, 'intervalMs')),
    stuckAfterBlocks: Math.max(1, positive(settings.stuckAfterBlocks, 10, 'stuckAfterBlocks')),
    feeBumpPercent: Math.max(111, positive(settings.feeBumpPercent, 125, 'feeBumpPercent')),
    approvalAbove,
    approvalsRequired: resolveApprovalsRequired(driver, settings.approvalsRequired, approvalAbove),
    approvalExpiresAfterMs: positive(
      settings.approvalExpiresAfterMs,
      defaultApprovalExpiresAfterMs,
      'approvalExpiresAfterMs',
    ),
  }
}
export type ChainRegistry = ReadonlyMap<string, LoadedChain>

/** An exact amount (`num / den`) in a ladder's unit: base units of its asset, or whole units of its currency. */
export type LadderAmount = { readonly num: bigint; readonly den: bigint }

/**
 * Confirmations required by amount for one asset, checked: steps strictly ascending by `below`, confirmations
 * never fewer for a larger amount, every value within `bounds`.
 */
export type ConfirmationLadder = {
  tiers: ReadonlyArray<{ below: LadderAmount; confirmations: number }>
  above: number
  /** null: amounts are in the asset (base units); else an ISO 4217 code. */
  currency: string | null
  /** What a merchant's own choice may ask, inclusive. */
  bounds: { min: number; max: number }
}

/** Most steps a ladder may have: more is never needed and would only slow every payment's creation. */
export const maxConfirmationTiers = 20
/** Most confirmations any step may ask (Bitcoin's 10 000 blocks is some 10 weeks). */
export const maxConfirmations = 10_000
/** Fraction digits a currency threshold may have; finer than any currency's minor unit. */
const currencyThresholdDigits = 8

/** One problem with a ladder, under the path of the offending value (`tiers.1.below`, `above`, `bounds`). */
export type LadderProblem = { path: string; message: string }

const isCount = (n: unknown): n is number =>
  typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= maxConfirmations

/**
 * Checks a confirmation ladder as given (by the operator in `amountTiers`, or by a merchant within the
 * operator's bounds) and turns its thresholds into exact amounts: asset amounts with at most the asset's
 * `decimals`, currency amounts with at most 8 digits. `above` defaults to `defaultAbove` where one is given.
 * Without `bounds` the ladder's own fewest and most confirmations are its bounds; with them every value must lie
 * inside. Answers every problem found (nothing is half-accepted).
 *
 * @example
 * checkConfirmationLadder({ tiers: [{ below: '0.1', confirmations: 1 }], above: 3 }, { decimals: 8 })
 */
export function checkConfirmationLadder(
  given: { tiers?: unknown; above?: unknown; currency?: unknown },
  options: { decimals: number; defaultAbove?: number; bounds?: { min: number; max: number } },
): { ok: true; ladder: ConfirmationLadder } | { ok: false; problems: LadderProblem[] } {
  const problems: LadderProblem[] = []
  const currency = given.currency ?? null
  if (currency !== null && (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)))
    problems.push({ path: 'currency', message: 'currency must be an ISO 4217 code such as USD' })
  const steps = given.tiers ?? []
  const tiers: Array<{ below: LadderAmount; confirmations: number }> = []
  if (!Array.isArray(steps)) problems.push({ path: 'tiers', message: 'tiers must be a list' })
  else if (steps.length > maxConfirmationTiers)
    problems.push({ path: 'tiers', message: `at most ${maxConfirmationTiers} tiers` })
  else
    steps.forEach((step: unknown, i) => {
      const at = `tiers.${i}`
      const s = (typeof step === 'object' && step !== null ? step : {}) as Record<string, unknown>
      const digits = currency === null ? options.decimals : currencyThresholdDigits
      const parsed =
        typeof s.below === 'string' ? parseUnits(s.below, digits) : { ok: false as const, reason: 'missing' }
      if (!parsed.ok || parsed.units <= 0n)
        problems.push({
          path: `${at}.below`,
          message: `below must be a positive decimal amount with at most ${digits} fraction digits`,
        })
      if (!isCount(s.confirmations))
        problems.push({
          path: `${at}.confirmations`,
          message: `confirmations must be an integer from 0 to ${maxConfirmations}`,
        })
      if (!parsed.ok || parsed.units <= 0n || !isCount(s.confirmations)) return
      const below =
        currency === null ? { num: parsed.units, den: 1n } : { num: parsed.units, den: 10n ** BigInt(digits) }
      const previous = tiers.at(-1)
      if (previous && below.num * previous.below.den <= previous.below.num * below.den)
        problems.push({
          path: `${at}.below`,
          message: 'tiers must ascend: each below above the previous one',
        })
      else if (previous && s.confirmations < previous.confirmations)
        problems.push({
          path: `${at}.confirmations`,
          message: 'a larger amount may not need fewer confirmations than a smaller one',
        })
      tiers.push({ below, confirmations: s.confirmations })
    })
  const above = given.above ?? options.defaultAbove
  if (above === undefined) problems.push({ path: 'above', message: 'above is required' })
  else if (!isCount(above))
    problems.push({ path: 'above', message: `above must be an integer from 0 to ${maxConfirmations}` })
  else if (tiers.length > 0 && above < (tiers.at(-1)?.confirmations ?? 0))
    problems.push({ path: 'above', message: 'above may not be fewer confirmations than the last tier' })
  if (problems.length > 0) return { ok: false, problems }
  const values = [...tiers.map((t) => t.confirmations), above as number]
  const bounds = options.bounds ?? { min: Math.min(...values), max: Math.max(...values) }
  const outside = values.filter((v) => v < bounds.min || v > bounds.max)
  if (outside.length > 0)
    return {
      ok: false,
      problems: [
        {
          path: 'bounds',
          message: `confirmations must lie from ${bounds.min} to ${bounds.max}; ${[...new Set(outside)].join(', ')} do not`,
        },
      ],
    }
  return { ok: true, ladder: { tiers, above: above as number, currency: currency as string | null, bounds } }
}

/**
 * The operator's ladder of one asset from `amountTiers`, checked: explicit bounds are integers with
 * min ≤ max that hold the ladder's own values, and a 0-confirmation step needs explicit `bounds.min: 0`.
 */
function resolveLadder(
  settings: ConfirmationTierSettings,
  decimals: number,
  defaultAbove: number,
  where: string,
): ConfirmationLadder {
  refuseUnknownSettings(settings, 'confirmationTier', where)
  for (const [i, step] of (Array.isArray(settings.tiers) ? settings.tiers : []).entries())
    refuseUnknownSettings(step, 'confirmationStep', `${where}.tiers.${i}`)
  const { bounds } = settings
  if (bounds !== undefined) {
    refuseUnknownSettings(bounds, 'confirmationBounds', `${where}.bounds`)
    if (!isCount(bounds.min) || !isCount(bounds.max) || bounds.min > bounds.max)
      throw new ConfigProblem(
        `${where}.bounds: min and max must be integers from 0 to ${maxConfirmations}, min not above max`,
      )
  }
  const checked = checkConfirmationLadder(settings, { decimals, defaultAbove, ...(bounds ? { bounds } : {}) })
  if (!checked.ok)
    throw new ConfigProblem(checked.problems.map((p) => `${where}.${p.path}: ${p.message}`).join('; '))
  const { ladder } = checked
  const zero = ladder.above === 0 || ladder.tiers.some((t) => t.confirmations === 0)
  if (zero && bounds?.min !== 0)
    throw new ConfigProblem(
      `${where}: a tier of 0 confirmations credits what can still be replaced or double-spent; set bounds.min: 0 to allow it`,
    )
  return ladder
}

/** The operator's confirmation ladders by asset id; unknown assets and malformed ladders refused. */
function resolveConfirmationTiers(
  driver: ChainDriver,
  settings: Record<string, ConfirmationTierSettings> | undefined,
): ReadonlyMap<string, ConfirmationLadder> {
  const out = new Map<string, ConfirmationLadder>()
  if (settings === undefined) return out
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
    throw new ConfigProblem('amountTiers must be an object by asset symbol')
  for (const [symbol, ladder] of Object.entries(settings)) {
    const where = `amountTiers.${symbol}`
    const asset = driver.assets.find((a) => a.symbol === symbol || a.id === symbol)
    if (!asset)
      throw new ConfigProblem(
        `${where}: unknown asset "${symbol}"; known: ${driver.assets.map((a) => a.symbol).join(', ')}`,
      )
    if (out.has(asset.id)) throw new ConfigProblem(`${where}: ${asset.symbol} is given twice`)
    out.set(
      asset.id,
      resolveLadder(ladder, asset.decimals, asset.confirmations ?? driver.confirmations, where),
    )
  }
  return out
}

/**
 * Every problem found while loading plugins, reported together so an operator fixes them in one go. The heading
 * names the config file they come from (relative to the working directory when inside it), when it is known.
 */
export class PluginConfigError extends Error {
  readonly problems: string[]
  readonly configPath: string | undefined
  constructor(problems: string[], configPath?: string) {
    const shown = configPath === undefined ? 'the plugins config (given in code)' : displayPath(configPath)
    super(`${shown} has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'PluginConfigError'
    this.problems = problems
    this.configPath = configPath
  }
}

/** A path as an operator reads it: relative to the working directory when inside it, absolute otherwise. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel
}

/**
 * The file `config` was imported from: the module in the loader's cache whose default export it is (Bun keeps
 * ES modules in `require.cache` too). Undefined for a config built in code (tests, embedding).
 */
export function configFileOf(config: TollgateConfig): string | undefined {
  for (const [path, module] of Object.entries(require.cache)) {
    try {
      if ((module?.exports as { default?: unknown } | undefined)?.default === config) return path
    } catch {
      // a module still evaluating: not the config, which was imported whole before loadChains
    }
  }
  return undefined
}

/** Chain names become GraphQL values, queue names and Redis keys: keep them simple. */
const chainNamePattern = /^[a-z][a-z0-9-]{0,31}$/

/** The module a loader points at, for messages: the string itself, or the specifier inside `() => import('x')`. */
export function moduleName(load: string | (() => Promise<unknown>)): string {
  if (typeof load === 'string') return load
  const match = /import\(\s*['"`]([^'"`]+)['"`]\s*\)/.exec(load.toString())
  return match?.[1] ?? '<inline loader>'
}

/** True when the import failed because `module` itself is missing (not one of its own dependencies). */
function isModuleNotFound(err: unknown, module: string): boolean {
  const text = err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}` : String(err)
  const notFound = /ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND|Cannot find (module|package)/i.test(text)
  return notFound && new RegExp(`['"\`]${module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"\`]`).test(text)
}

/** A chain driver definition's shape, options aside (`hasStandardSchema` checks them, with its own message). */
function isDefinition(value: unknown): value is ChainDriverDefinition {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v.apiVersion === 'number' && typeof v.create === 'function'
}

/** Standard Schema (standardschema.dev): what zod ≥ 3.24, valibot and arktype schemas implement. */
function hasStandardSchema(options: unknown): boolean {
  if ((typeof options !== 'object' && typeof options !== 'function') || options === null) return false
  const standard = (options as { '~standard'?: { validate?: unknown } })['~standard']
  return typeof standard === 'object' && standard !== null && typeof standard.validate === 'function'
}

/**
 * The keys a zod (v4) object schema knows at `path` of its input, for "did you mean" hints on unknown option
 * keys; undefined for any other schema (a plugin may use any Standard Schema library: the hint is a bonus).
 * Walks objects, arrays, unions, wrappers (optional, default, …) and pipes (a transform's input side).
 *
 * @example
 * knownOptionKeys(evmOptionsSchema, []) // ['preset', 'chain', 'rpcUrls', 'tokens', 'confirmations', …]
 */
function knownOptionKeys(schema: unknown, path: ReadonlyArray<PropertyKey>): string[] | undefined {
  const def = (schema as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def
  if (!def) return undefined
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, unknown>
      if (path.length === 0) return Object.keys(shape)
      const [head, ...rest] = path
      return knownOptionKeys(shape[String(head)], rest)
    }
    case 'array':
      return path.length === 0 ? undefined : knownOptionKeys(def.element, path.slice(1))
    case 'union':
      for (const option of def.options as unknown[]) {
        const keys = knownOptionKeys(option, path)
        if (keys) return keys
      }
      return undefined
    case 'pipe':
      return knownOptionKeys(def.in, path)
    default:
      return 'innerType' in def ? knownOptionKeys(def.innerType, path) : undefined
  }
}

type OptionIssue = {
  message: string
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>
  code?: unknown
  keys?: unknown
  /** zod's `invalid_union`: the issues of each alternative. */
  errors?: unknown
}

/** Whether a union alternative failed only because the value is of another type (a string where an object is). */
function isWrongTypeOnly(issues: OptionIssue[]): boolean {
  return issues.length === 1 && issues[0]!.code === 'invalid_type' && (issues[0]!.path ?? []).length === 0
}

/**
 * One validation issue as a problem line; unknown keys (zod's `unrecognized_keys`) with a close known one. A union
 * where only one alternative is of the value's type (a token given as an object) reports that alternative's
 * issues, not zod's bare "Invalid input".
 */
function formatIssue(issue: OptionIssue, schema: unknown): string {
  const path = (issue.path ?? []).map((p) => (typeof p === 'object' ? p.key : p))
  if (issue.code === 'invalid_union' && Array.isArray(issue.errors)) {
    const relevant = (issue.errors as OptionIssue[][]).filter((branch) => !isWrongTypeOnly(branch))
    if (relevant.length === 1)
      return relevant[0]!
        .map((inner) => formatIssue({ ...inner, path: [...path, ...(inner.path ?? [])] }, schema))
        .join('; ')
  }
  if (issue.code === 'unrecognized_keys' && Array.isArray(issue.keys)) {
    const known = knownOptionKeys(schema, path) ?? []
    return (issue.keys as unknown[])
      .map((k) => `unknown option "${[...path, k].map(String).join('.')}"${didYouMean(String(k), known)}`)
      .join('; ')
  }
  return `option "${formatIssuePath(issue.path)}": ${issue.message}`
}

function formatIssuePath(path: ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined): string {
  if (!path || path.length === 0) return '(options)'
  return path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.')
}

/**
 * A string loader's import specifier: a relative path (`./`, `../`) resolves against the config file's folder,
 * not the process's working directory (the folder of the working directory when the config was given in code);
 * a package name resolves as any import of the gateway does.
 */
export function moduleSpecifier(load: string, configPath: string | undefined): string {
  if (!load.startsWith('./') && !load.startsWith('../')) return load
  const base = configPath === undefined ? process.cwd() : dirname(configPath)
  return resolve(base, load)
}

async function importModule(
  load: string | (() => Promise<unknown>),
  configPath: string | undefined,
): Promise<unknown> {
  return typeof load === 'string' ? import(moduleSpecifier(load, configPath)) : load()
}

/** How problems name a chain: `chain "tron" (module "@acme/tollgate-tron")`. */
function chainLabel(name: string, config: TollgateConfig): string {
  return `chain "${name}" (module "${moduleName(config.chains[name]!.load)}")`
}

/** The problem line of a chain that failed to load: always under the chain's name and module. */
function problemOf(name: string, config: TollgateConfig, reason: unknown): string {
  const where = chainLabel(name, config)
  const message = reason instanceof Error ? reason.message : String(reason)
  return message.startsWith(where) ? message : `${where}: ${message}`
}

/**
 * Imports a plugin module and checks what every plugin kind shares: the module exists (a relative path from the
 * config file's folder), its default export is a definition, its plugin API version is this gateway's, its
 * options are a Standard Schema, and the operator's options pass it. Returns the definition and the validated
 * options; every problem is a ConfigProblem under `where`.
 */
async function importDefinition<D extends { name: string; apiVersion: number; options: unknown }>(
  where: string,
  load: string | (() => Promise<unknown>),
  given: unknown,
  configPath: string | undefined,
  kind: string,
): Promise<{ definition: D; options: unknown }> {
  const module = moduleName(load)
  const specifier = typeof load === 'string' ? moduleSpecifier(load, configPath) : module
  let loaded: unknown
  try {
    loaded = await importModule(load, configPath)
  } catch (err) {
    if (isModuleNotFound(err, specifier))
      throw new ConfigProblem(
        specifier === module
          ? `${where}: module not found; install it (bun add ${module}) or fix the path`
          : `${where}: module not found at ${specifier} (a relative path starts from the config file's folder)`,
      )
    throw new ConfigProblem(
      `${where}: the module failed to load: ${err instanceof Error ? err.message : String(err)}`,
    )
  }
  const definition = (loaded as { default?: unknown } | undefined)?.default
  if (!isDefinition(definition))
    throw new ConfigProblem(`${where}: the module's default export is not ${kind}`)
  if (definition.apiVersion !== SDK_API_VERSION)
    throw new ConfigProblem(
      `${where}: plugin "${definition.name}" targets plugin API version ${definition.apiVersion}, this Tollgate supports version ${SDK_API_VERSION}`,
    )
  if (!hasStandardSchema(definition.options))
    throw new ConfigProblem(
      `${where}: plugin "${definition.name}" declares options that are not a Standard Schema (no "~standard.validate"); the gateway cannot validate them. Use a schema library implementing Standard Schema (zod 3.24+, valibot, arktype; standardschema.dev)`,
    )
  const result = await definition.options['~standard'].validate(given)
  if (result.issues) {
    const details = result.issues.map((i) => formatIssue(i as OptionIssue, definition.options)).join('; ')
    throw new ConfigProblem(`${where}: invalid options: ${details}`)
  }
  return { definition: definition as unknown as D, options: result.value }
}

async function loadChain(
  name: string,
  config: TollgateConfig,
  log: DriverLogger,
  configPath: string | undefined,
): Promise<LoadedChain> {
  const entry = config.chains[name]!
  const module = moduleName(entry.load)
  const where = chainLabel(name, config)
  if (!chainNamePattern.test(name))
    throw new ConfigProblem(
      `${where}: the chain name must match ${chainNamePattern} (lowercase letters, digits, dashes)`,
    )
  if (typeof entry.load !== 'string' && typeof entry.load !== 'function')
    throw new ConfigProblem(
      `${where}: the module must be a package name, a path, or a loader (() => import('…'))`,
    )
  const settings = entry.settings ?? {}
  refuseUnknownSettings(settings, '')
  for (const at of ['payouts', 'sweeps', 'cold'] as const) refuseUnknownSettings(settings[at], at)
  const { definition, options } = await importDefinition<ChainDriverDefinition>(
    where,
    entry.load,
    entry.options,
    configPath,
    'a chain driver (use defineChainDriver)',
  )
  const driver = await definition.create(options, { chain: name, log })
  const gaps = capabilityGaps(driver)
  if (gaps.length > 0)
    throw new ConfigProblem(`${where}: the driver's capabilities are incomplete: ${gaps.join('; ')}`)
  return {
    name,
    module,
    driver,
    settings: {
      startHeight: settings.startHeight,
      scanIntervalMs: settings.scanIntervalMs ?? 2000,
      maxRange: settings.maxRange ?? 100,
      monitoringWindowMs: settings.monitoringWindowMs ?? 24 * 3600 * 1000,
      callTimeoutMs: resolveCount(
        settings.callTimeoutMs,
        chainSettingDefaults.callTimeoutMs,
        'callTimeoutMs',
      ),
      degradedAfter: resolveDegradedAfter(settings.degradedAfter),
      addresses: resolveAddressMode(settings.addresses),
      unavailableAfterMs: resolveCount(
        settings.unavailableAfterMs,
        chainSettingDefaults.unavailableAfterMs,
        'unavailableAfterMs',
      ),
      shareChainId: resolveFlag(settings.shareChainId, 'shareChainId'),
      creditMisdirected: resolveFlag(settings.creditMisdirected, 'creditMisdirected'),
      amountTiers: resolveConfirmationTiers(driver, settings.amountTiers),
      payouts: resolvePayoutSettings(driver, settings.payouts),
      sweeps: resolveSweepSettings(driver, settings.sweeps),
      cold: resolveColdSettings(driver, settings.cold),
      explorer: resolveExplorer(settings.explorer),
    },
  }
}

/**
 * Chains sharing a CAIP-2 chain id: refused unless every one of them sets `shareChainId`, and even then when two
 * of them derive from the same account path (one deposit address would then pay two payments).
 */
function sharedChainIdProblems(chains: readonly LoadedChain[], config: TollgateConfig): string[] {
  const byId = new Map<string, LoadedChain[]>()
  for (const c of chains) byId.set(c.driver.chainId, [...(byId.get(c.driver.chainId) ?? []), c])
  const problems: string[] = []
  for (const [chainId, group] of byId) {
    if (group.length < 2) continue
    const names = group.map((c) => `"${c.name}"`).join(', ')
    const [first, ...others] = group
    if (!group.every((c) => c.settings.shareChainId)) {
      problems.push(
        `${chainLabel(first!.name, config)}: chain id ${chainId} is also the chain id of ${others
          .map((c) => chainLabel(c.name, config))
          .join(
            ', ',
          )}; two entries for one network are refused (a copy-paste or a wrong preset?). If that is meant, give every one of ${names} the setting shareChainId: true and its own account`,
      )
      continue
    }
    const byPath = new Map<string, string>()
    for (const c of group) {
      const other = byPath.get(c.driver.accountPath)
      if (other)
        problems.push(
          `${chainLabel(c.name, config)}: shares chain id ${chainId} and account path ${c.driver.accountPath} with chain "${other}": one deposit address would pay both; give one of them another account`,
        )
      byPath.set(c.driver.accountPath, c.name)
    }
  }
  return problems
}

export type LoadChainsOptions = {
  /**
   * The file the config came from: relative module paths resolve against its folder, and the error heading names
   * it. Default: found from the loader's module cache (`configFileOf`), else none (a config built in code).
   */
  configPath?: string
}

/**
 * Loads every chain of the config, checking plugin API versions, options and settings (unknown keys refused),
 * and that no two chains claim one network by accident. All problems are collected and thrown as one
 * `PluginConfigError` headed by the config file, each under its chain's name and module.
 *
 * @example
 * const chains = await loadChains((await import('./plugins.config.ts')).default, log)
 */
export async function loadChains(
  config: TollgateConfig,
  log: DriverLogger & { child?(bindings: object): DriverLogger },
  options: LoadChainsOptions = {},
): Promise<ChainRegistry> {
  const configPath =
    options.configPath === undefined ? configFileOf(config) : resolve(process.cwd(), options.configPath)
  const names = Object.keys(config.chains ?? {})
  const results = await Promise.allSettled(
    names.map((name) => loadChain(name, config, log.child?.({ chain: name }) ?? log, configPath)),
  )
  const problems = results.flatMap((r, i) =>
    r.status === 'rejected' ? [problemOf(names[i]!, config, r.reason)] : [],
  )
  const loaded = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  problems.push(...sharedChainIdProblems(loaded, config))
  if (problems.length > 0) {
    await Promise.allSettled(loaded.map((c) => c.driver.close?.()))
    throw new PluginConfigError(problems, configPath)
  }
  for (const c of loaded) c.siblings = addressSiblings(loaded, c)
  return new Map(loaded.map((c) => [c.name, c]))
}

const namespaceOf = (chainId: string) => chainId.slice(0, chainId.indexOf(':'))

/** The chains deriving `chain`'s addresses: the same account path in the same CAIP-2 namespace, by name. */
export function addressSiblings(chains: readonly LoadedChain[], chain: LoadedChain): string[] {
  return chains
    .filter(
      (c) =>
        c.name !== chain.name &&
        c.driver.accountPath === chain.driver.accountPath &&
        namespaceOf(c.driver.chainId) === namespaceOf(chain.driver.chainId),
    )
    .map((c) => c.name)
    .sort()
}

/** Closes every driver (sockets, timers). */
export async function closeChains(registry: ChainRegistry): Promise<void> {
  await Promise.allSettled([...registry.values()].map((c) => c.driver.close?.()))
}

/** A loaded provider plugin (KYT, rates): its config name, module and the provider its plugin made. */
type LoadedProvider<P> = { name: string; module: string; provider: P }

/** A loaded KYT provider: its config name, module and the provider its plugin made. */
export type LoadedKytProvider = LoadedProvider<KytProvider>
export type KytRegistry = ReadonlyMap<string, LoadedKytProvider>

/** A loaded rate provider: its config name, module and the provider its plugin made. */
export type LoadedRateProvider = LoadedProvider<RateProvider>
export type RateRegistry = ReadonlyMap<string, LoadedRateProvider>

/** What differs between kinds of provider plugins: their name in messages and what their providers must have. */
type ProviderKind<P, Context> = {
  /** `kyt provider`, `rate provider`: how messages name one. */
  label: string
  /** What the module's default export must be made with, for messages. */
  expected: string
  /** The provider's one required method. */
  method: keyof P & string
  context(name: string, log: DriverLogger): Context
}

async function loadProvider<P, Context>(
  kind: ProviderKind<P, Context>,
  name: string,
  entry: { load: unknown; options: unknown },
  log: DriverLogger,
  configPath: string | undefined,
): Promise<LoadedProvider<P>> {
  const load = entry.load as KytEntry['load']
  const module = moduleName(load)
  const where = `${kind.label} "${name}" (module "${module}")`
  if (!chainNamePattern.test(name))
    throw new ConfigProblem(
      `${where}: the name must match ${chainNamePattern} (lowercase letters, digits, dashes)`,
    )
  if (typeof load !== 'string' && typeof load !== 'function')
    throw new ConfigProblem(
      `${where}: the module must be a package name, a path, or a loader (() => import('…'))`,
    )
  const { definition, options } = await importDefinition<{
    name: string
    apiVersion: number
    options: unknown
    create(options: unknown, ctx: Context): P | Promise<P>
  }>(where, load, entry.options, configPath, kind.expected)
  let provider: P
  try {
    provider = await definition.create(options, kind.context(name, log))
  } catch (err) {
    throw new ConfigProblem(`${where}: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof (provider as Record<string, unknown> | undefined)?.[kind.method] !== 'function')
    throw new ConfigProblem(`${where}: the module's default export is not ${kind.expected}`)
  return { name, module, provider }
}

/** Loads every provider of one kind, all problems thrown together; providers already made are closed then. */
async function loadProviders<P extends { close?(): Promise<void> }, Context>(
  kind: ProviderKind<P, Context>,
  entries: ReadonlyArray<[string, { load: unknown; options: unknown }]>,
  config: TollgateConfig,
  log: DriverLogger & { child?(bindings: object): DriverLogger },
  options: LoadChainsOptions,
): Promise<ReadonlyMap<string, LoadedProvider<P>>> {
  const configPath =
    options.configPath === undefined ? configFileOf(config) : resolve(process.cwd(), options.configPath)
  const results = await Promise.allSettled(
    entries.map(([name, entry]) =>
      loadProvider(
        kind,
        name,
        entry,
        log.child?.({ [kind.label.split(' ')[0] as string]: name }) ?? log,
        configPath,
      ),
    ),
  )
  const problems = results.flatMap((r, i) => {
    if (r.status === 'fulfilled') return []
    const where = `${kind.label} "${entries[i]![0]}"`
    const message = r.reason instanceof Error ? r.reason.message : String(r.reason)
    return [message.startsWith(where) ? message : `${where}: ${message}`]
  })
  const loaded = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  if (problems.length > 0) {
    await Promise.allSettled(loaded.map((p) => p.provider.close?.()))
    throw new PluginConfigError(problems, configPath)
  }
  return new Map(loaded.map((p) => [p.name, p]))
}

/**
 * Loads every KYT provider of the config (`kyt` in plugins.config.ts) for the loaded chains, with the same checks
 * and messages as chains (module, plugin API version, Standard Schema options); all problems are thrown together
 * as one `PluginConfigError`, and providers already made are closed.
 *
 * @example
 * const providers = await loadKytProviders(config, chains, log)
 */
export function loadKytProviders(
  config: TollgateConfig,
  chains: ChainRegistry,
  log: DriverLogger & { child?(bindings: object): DriverLogger },
  options: LoadChainsOptions = {},
): Promise<KytRegistry> {
  // providers key their data the way each chain compares addresses; they see nothing else of the gateway
  const kytChains = [...chains.values()].map((c) => {
    const { driver } = c
    return {
      name: c.name,
      chainId: driver.chainId,
      addressKey: (address: string) => driver.addressKey(address),
      ...(driver.callContract
        ? {
            callContract: (call: { to: string; data: string }, signal?: AbortSignal) =>
              (driver.callContract as NonNullable<typeof driver.callContract>)(call, signal),
          }
        : {}),
    }
  })
  return loadProviders<KytProvider, KytContext>(
    {
      label: 'kyt provider',
      expected: 'a KYT provider (use defineKytProvider)',
      method: 'screen',
      context: (name, providerLog) => ({ name, log: providerLog, chains: kytChains }),
    },
    Object.entries(config.kyt ?? {}),
    config,
    log,
    options,
  )
}

/**
 * Loads every rate provider of the config (`rates` in plugins.config.ts), with the same checks and messages as
 * chains; all problems are thrown together as one `PluginConfigError`, and providers already made are closed.
 *
 * @example
 * const providers = await loadRateProviders(config, log)
 */
export function loadRateProviders(
  config: TollgateConfig,
  log: DriverLogger & { child?(bindings: object): DriverLogger },
  options: LoadChainsOptions = {},
): Promise<RateRegistry> {
  return loadProviders<RateProvider, RateContext>(
    {
      label: 'rate provider',
      expected: 'a rate provider (use defineRateProvider)',
      method: 'fetchRates',
      context: (name, providerLog) => ({ name, log: providerLog }),
    },
    Object.entries(config.rates ?? {}),
    config,
    log,
    options,
  )
}

/** Closes every provider of a registry (timers, sockets). */
export async function closeProviders(
  registry: ReadonlyMap<string, LoadedProvider<{ close?(): Promise<void> }>>,
): Promise<void> {
  await Promise.allSettled([...registry.values()].map((p) => p.provider.close?.()))
}

/** Closes every KYT provider (timers, sockets). */
export const closeKytProviders = (registry: KytRegistry) => closeProviders(registry)
