import type {
  ChainDriver,
  ChainDriverDefinition,
  ChainSettings,
  ColdSettings,
  DriverLogger,
  PayoutSettings,
  SweepSettings,
  TollgateConfig,
} from '@tollgate/sdk'
import { capabilityGaps, parseUnits, SDK_API_VERSION } from '@tollgate/sdk'
import type { DegradedAfter } from '@tollgate/sdk/define'

/** A loaded chain: its config name and its driver. */
export type LoadedChain = {
  name: string
  module: string
  driver: ChainDriver
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

function resolveAddressMode(mode: unknown): 'distinct' | 'cross' {
  if (mode === undefined) return chainSettingDefaults.addresses
  if (mode === 'distinct' || mode === 'cross') return mode
  throw new ConfigProblem(`addresses must be "distinct" or "cross" (got ${JSON.stringify(mode)})`)
}

function resolveDegradedAfter(settings: DegradedAfter = {}): Required<DegradedAfter> {
  const defaults = chainSettingDefaults.degradedAfter
  const known = Object.keys(defaults)
  const unknown = Object.keys(settings).filter((k) => !known.includes(k))
  if (unknown.length > 0)
    throw new ConfigProblem(
      `degradedAfter: unknown setting(s) ${unknown.join(', ')}; known: ${known.join(', ')}`,
    )
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
 * One problem with one chain's entry in plugins.config.ts. `loadChains` reports its message as it is;
 * anything else a chain throws while loading (its driver's `create`, say) is reported under the chain's name.
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
  /** Base units by asset id. */
  float: ReadonlyMap<string, bigint>
  minMove: ReadonlyMap<string, bigint>
}

function resolveColdSettings(
  driver: ChainDriver,
  settings: ColdSettings | undefined,
): ResolvedColdSettings | null {
  if (!settings) return null
  const checked = driver.validateAddress(settings.address)
  if (!checked.ok) throw new ConfigProblem(`cold.address: ${checked.reason}`)
  return {
    address: checked.normalized,
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

export type ResolvedPayoutSettings = Required<Omit<PayoutSettings, 'approvalAbove'>> & {
  /** Base units by asset id; a withdrawal above it waits for approval. */
  approvalAbove: ReadonlyMap<string, bigint>
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
  }
}
export type ChainRegistry = ReadonlyMap<string, LoadedChain>

/** Every problem found while loading plugins, reported together so an operator fixes them in one go. */
export class PluginConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(
      `plugins.config.ts has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    )
    this.name = 'PluginConfigError'
    this.problems = problems
  }
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

function isDefinition(value: unknown): value is ChainDriverDefinition {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return (
    typeof v.apiVersion === 'number' &&
    typeof v.create === 'function' &&
    typeof v.options === 'object' &&
    v.options !== null &&
    '~standard' in (v.options as object)
  )
}

function formatIssuePath(path: ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined): string {
  if (!path || path.length === 0) return '(options)'
  return path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.')
}

async function importModule(load: string | (() => Promise<unknown>)): Promise<unknown> {
  return typeof load === 'string' ? import(load) : load()
}

/** How problems name a chain: `chain "tron" (module "@acme/tollgate-tron")`. */
function chainLabel(name: string, config: TollgateConfig): string {
  return `chain "${name}" (module "${moduleName(config.chains[name]!.load)}")`
}

/** The problem line of a chain that failed to load. */
function problemOf(name: string, config: TollgateConfig, reason: unknown): string {
  if (reason instanceof ConfigProblem) return reason.message
  return `${chainLabel(name, config)}: ${reason instanceof Error ? reason.message : String(reason)}`
}

async function loadChain(name: string, config: TollgateConfig, log: DriverLogger): Promise<LoadedChain> {
  const entry = config.chains[name]!
  const module = moduleName(entry.load)
  const where = chainLabel(name, config)
  if (!chainNamePattern.test(name))
    throw new ConfigProblem(
      `${where}: the chain name must match ${chainNamePattern} (lowercase letters, digits, dashes)`,
    )
  let loaded: unknown
  try {
    loaded = await importModule(entry.load)
  } catch (err) {
    if (isModuleNotFound(err, module))
      throw new ConfigProblem(`${where}: module not found; install it (bun add ${module}) or fix the path`)
    throw new ConfigProblem(
      `${where}: the module failed to load: ${err instanceof Error ? err.message : String(err)}`,
    )
  }
  const definition = (loaded as { default?: unknown }).default
  if (!isDefinition(definition))
    throw new ConfigProblem(
      `${where}: the module's default export is not a chain driver (use defineChainDriver)`,
    )
  if (definition.apiVersion !== SDK_API_VERSION)
    throw new ConfigProblem(
      `${where}: plugin "${definition.name}" targets plugin API version ${definition.apiVersion}, this Tollgate supports version ${SDK_API_VERSION}`,
    )
  const result = await definition.options['~standard'].validate(entry.options)
  if (result.issues) {
    const details = result.issues.map((i) => `option "${formatIssuePath(i.path)}": ${i.message}`).join('; ')
    throw new ConfigProblem(`${where}: invalid options: ${details}`)
  }
  const driver = await definition.create(result.value, { chain: name, log })
  const gaps = capabilityGaps(driver)
  if (gaps.length > 0)
    throw new ConfigProblem(`${where}: the driver's capabilities are incomplete: ${gaps.join('; ')}`)
  const settings = entry.settings ?? {}
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
      payouts: resolvePayoutSettings(driver, settings.payouts),
      sweeps: resolveSweepSettings(driver, settings.sweeps),
      cold: resolveColdSettings(driver, settings.cold),
    },
  }
}

/**
 * Loads every chain of the config, checking plugin API versions and options. All problems are collected
 * and thrown as one `PluginConfigError`: each `ConfigProblem` as it is, anything else a chain threw (its
 * driver's `create` refusing, say) prefixed with the chain and its module.
 *
 * @example
 * const chains = await loadChains((await import('./plugins.config.ts')).default, log)
 */
export async function loadChains(
  config: TollgateConfig,
  log: DriverLogger & { child?(bindings: object): DriverLogger },
): Promise<ChainRegistry> {
  const names = Object.keys(config.chains ?? {})
  const results = await Promise.allSettled(
    names.map((name) => loadChain(name, config, log.child?.({ chain: name }) ?? log)),
  )
  const problems = results.flatMap((r, i) =>
    r.status === 'rejected' ? [problemOf(names[i]!, config, r.reason)] : [],
  )
  if (problems.length > 0) throw new PluginConfigError(problems)
  const registry = new Map<string, LoadedChain>()
  for (const r of results) if (r.status === 'fulfilled') registry.set(r.value.name, r.value)
  return registry
}

/** Closes every driver (sockets, timers). */
export async function closeChains(registry: ChainRegistry): Promise<void> {
  await Promise.allSettled([...registry.values()].map((c) => c.driver.close?.()))
}
