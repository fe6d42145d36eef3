import { resolve } from 'node:path'
import type { PricingConfig, TollgateConfig } from '@tollgate/sdk'
import { Redis } from 'ioredis'
import { type AuthCache, createAuthCache, listenForRevocations } from './core/access/api-keys.ts'
import { secretKeyOf } from './core/access/secret-box.ts'
import { kytUpdateChannel } from './core/compliance/announce.ts'
import type { Compliance } from './core/compliance/checks.ts'
import { checkKytPolicy } from './core/compliance/policy.ts'
import { reloadKytProviders } from './core/compliance/update.ts'
import type { PaymentsContext } from './core/payments/create.ts'
import { keyUnavailable } from './core/payouts/errors.ts'
import { createSigner, type Signer, xpubSource } from './core/payouts/signer.ts'
import { openRateBook } from './core/pricing/book.ts'
import { checkPricingConfig } from './core/pricing/config.ts'
import { PricingConfigError } from './core/pricing/errors.ts'
import type { WebhookContext } from './core/webhooks/events.ts'
import { type Db, type DbHandle, openDb } from './db/client.ts'
import { migrate } from './db/migrate.ts'
import type { Env } from './env.ts'
import type { Logger } from './log.ts'
import {
  type ChainRegistry,
  closeChains,
  closeKytProviders,
  closeProviders,
  type KytRegistry,
  loadChains,
  loadKytProviders,
  loadRateProviders,
  PluginConfigError,
  type RateRegistry,
} from './plugins/registry.ts'
import { createPaymentBus, type PaymentBus } from './pubsub.ts'
import { createQueues, type Queues } from './queues.ts'
import { redisOptions } from './redis-options.ts'

/** Everything a process works with. Core functions take the parts they need. */
export type AppContext = PaymentsContext &
  WebhookContext & {
    env: Env
    log: Logger
    db: Db
    dbHandle: DbHandle
    chains: ChainRegistry
    redis: Redis
    /** Authenticated keys, evicted on every revocation (Postgres NOTIFY). */
    authCache: AuthCache
    /** Seals console users' TOTP secrets at rest (CONSOLE_SECRET_KEY); unset: stored as they are. */
    consoleSecretKey?: Buffer
    /** Payment signals between processes (Redis pub/sub). */
    bus: PaymentBus
    /** Queue producers (jobs are added by id; workers consume them). */
    queues: Queues
    /** Present only where the seed is loaded (signing workers, or the all-in-one dev process). */
    signer: Signer | undefined
    /** KYT providers and policy (no providers: nothing is screened). */
    compliance: Compliance
    /** Rate providers (asked by the rates job) and the pricing rules; absent without `pricing` in the config. */
    pricing: { config: PricingConfig; providers: RateRegistry } | undefined
    close(): Promise<void>
  }

export type ContextOptions = {
  /**
   * Which process this is. `worker-chain` never loads the seed (it derives from `TOLLGATE_XPUBS`); `signer` must
   * have it; the API loads it only when no xpubs are configured (with a warning).
   */
  role: 'api' | 'worker' | 'worker-chain' | 'signer' | 'all'
  /** A config object instead of importing `TOLLGATE_PLUGINS_CONFIG`. */
  config?: TollgateConfig
  /** Apply pending migrations on start (always done for embedded PGlite). */
  migrate?: boolean
}

export async function loadPluginsConfig(path: string): Promise<TollgateConfig> {
  const mod = (await import(resolve(process.cwd(), path))) as { default?: TollgateConfig }
  if (!mod.default?.chains)
    throw new PluginConfigError([`${path}: the default export must be defineConfig({ chains: { … } })`])
  return mod.default
}

/**
 * A watch-only process (the API given `TOLLGATE_XPUBS`, the chain worker) must not hold the seed, even when a
 * shared environment hands it one: every reference to it goes (the parsed `env`, which the caller shares, and
 * `process.env.TOLLGATE_SEED`), and the log says so, so the operator can take it out of this process's
 * environment. It is dropped rather than refused: one environment file for every role is common, and the
 * process is correct without it. (The seed file was read once, when the environment was parsed and checked.)
 */
function dropSeed(env: Env, log: Logger) {
  if (env.seed === undefined && env.TOLLGATE_SEED === undefined && process.env.TOLLGATE_SEED === undefined)
    return
  const source = env.TOLLGATE_SEED_FILE !== undefined ? 'TOLLGATE_SEED_FILE' : 'TOLLGATE_SEED'
  delete env.seed
  delete env.TOLLGATE_SEED
  delete process.env.TOLLGATE_SEED
  log.warn(
    { seedSource: source },
    `watch-only process (TOLLGATE_XPUBS): the seed from ${source} was dropped unused; remove it from this process's environment`,
  )
}

/**
 * The KYT providers of the config (`kyt`) and its policy (`kytPolicy`, checked: a wrong key is a boot error
 * like any other in the config).
 *
 * @example
 * const compliance = await loadCompliance(config, chains, log, env.KYT_TIMEOUT_MS)
 */
export async function loadCompliance(
  config: TollgateConfig,
  chains: ChainRegistry,
  log: Logger,
  timeoutMs: number,
): Promise<Compliance & { registry: KytRegistry }> {
  let policy: Compliance['policy']
  try {
    policy = config.kytPolicy === undefined ? undefined : checkKytPolicy(config.kytPolicy, 'kytPolicy')
  } catch (err) {
    throw new PluginConfigError([(err as Error).message])
  }
  const registry = await loadKytProviders(config, chains, log)
  return { providers: [...registry.values()], policy, timeoutMs, registry }
}

/**
 * The rate providers of the config (`rates`) and the pricing rules (`pricing`, checked against the providers'
 * names: a wrong key or an unknown source is a boot error like any other in the config).
 */
async function loadPricing(
  config: TollgateConfig,
  log: Logger,
): Promise<{ config: PricingConfig; providers: RateRegistry } | undefined> {
  const providers = await loadRateProviders(config, log)
  if (config.pricing === undefined) return undefined
  try {
    return { config: checkPricingConfig(config.pricing, [...providers.keys()]), providers }
  } catch (err) {
    await closeProviders(providers)
    if (err instanceof PricingConfigError)
      throw new PluginConfigError(err.problems.map((p) => `${p.path}: ${p.message}`))
    throw err
  }
}

/**
 * Reloads this process's KYT providers' data (lists) whenever an update is announced
 * (`announceKytUpdate`), and after the listening connection comes back (a notice may have been missed). A
 * reload that fails keeps the data the providers had, and says so.
 */
async function listenForKytUpdates(db: DbHandle, compliance: Compliance, log: Logger): Promise<void> {
  if (!compliance.providers.some((p) => p.provider.reload)) return
  const reload = (why: string) =>
    reloadKytProviders(compliance.providers)
      .then((reloads) => log.info({ why, reloads }, 'kyt: providers reloaded'))
      .catch((err: unknown) =>
        log.error(
          { why, err: err instanceof Error ? err.message : String(err) },
          'kyt: reloading the providers failed; they keep the data they had',
        ),
      )
  let listening = false
  await db.listen(
    kytUpdateChannel,
    () => reload('update announced'),
    () => {
      // the first time is the start, with data just loaded; later ones are reconnections
      if (listening) reload('listening again')
      listening = true
    },
  )
}

/**
 * Opens the database, loads chain plugins and connects Redis. In a watch-only role the seed is dropped from
 * `env` (see dropSeed).
 *
 * @example
 * const ctx = await createContext(parseEnv(process.env), createLogger('info'), { role: 'api' })
 */
export async function createContext(env: Env, log: Logger, options: ContextOptions): Promise<AppContext> {
  const config = options.config ?? (await loadPluginsConfig(env.TOLLGATE_PLUGINS_CONFIG))
  const chains = await loadChains(config, log)
  const compliance = await loadCompliance(config, chains, log, env.KYT_TIMEOUT_MS)
  const pricing = await loadPricing(config, log)
  const dbHandle = await openDb({
    url: env.DATABASE_URL,
    listenUrl: env.DATABASE_DIRECT_URL,
    dataDir: env.TOLLGATE_DATA_DIR,
    maxConnections: env.DATABASE_POOL_SIZE,
    prepare: env.DATABASE_PREPARE,
    report: (level, fields, message) => log[level](fields, message),
  })
  if (options.migrate || dbHandle.kind === 'pglite') await migrate(dbHandle)
  const watchOnly =
    options.role === 'worker-chain' || (options.role === 'api' && env.TOLLGATE_XPUBS !== undefined)
  if (watchOnly) dropSeed(env, log)
  const signer = env.seed ? createSigner(env.seed) : undefined
  if (options.role === 'signer' && !signer)
    throw keyUnavailable('the signer role needs the seed (TOLLGATE_SEED or TOLLGATE_SEED_FILE)')
  if (options.role === 'api' && signer)
    log.warn(
      'the API process holds the seed; set TOLLGATE_XPUBS (see `tollgate xpub show`) to run it watch-only',
    )
  const redis = new Redis({
    ...redisOptions(env.REDIS_URL),
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  })
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'))
  redis.connect().catch(() => undefined)
  const bus = createPaymentBus(env.REDIS_URL, env.REDIS_PREFIX, log)
  const authCache = createAuthCache()
  // only processes that authenticate keys need to hear revocations (and hold a connection for LISTEN)
  if (options.role === 'api' || options.role === 'all') await listenForRevocations(dbHandle, authCache)
  // every process that screens keeps its own copy of the providers' data: `tollgate kyt update` tells them all
  if (options.role !== 'signer') await listenForKytUpdates(dbHandle, compliance, log)
  const producer = createQueues(redis, env.REDIS_PREFIX)
  // the latest rates in memory (the rates job writes them): prices are quoted without asking any provider
  const rateBook = pricing
    ? await openRateBook(dbHandle.db, pricing.config, {
        onError: (err) =>
          log.warn({ err: (err as Error).message }, 'rates could not be read; serving the last ones'),
      })
    : undefined
  return {
    env,
    log,
    db: dbHandle.db,
    query: dbHandle.query,
    authCache,
    consoleSecretKey: secretKeyOf(env.CONSOLE_SECRET_KEY),
    dbHandle,
    chains,
    redis,
    bus,
    queues: producer,
    // the worker derives; the API only asks (deduplicated, so a burst asks once)
    requestPoolRefill:
      options.role === 'api'
        ? (chain) => {
            producer.addressPool
              .add(
                'refill',
                { chain },
                { deduplication: { id: `refill:${chain}` }, removeOnComplete: true, removeOnFail: 100 },
              )
              .catch((err) =>
                log.warn({ chain, err: (err as Error).message }, 'could not request an address pool refill'),
              )
          }
        : undefined,
    signer,
    compliance,
    pricing,
    rateBook,
    xpubFor: xpubSource({ xpubs: env.TOLLGATE_XPUBS, signer }),
    addressPoolSize: env.ADDRESS_POOL_SIZE,
    webhooks: {
      allowInternal: env.WEBHOOK_ALLOW_PRIVATE ?? env.TOLLGATE_ENV === 'development',
      retrySchedule: env.WEBHOOK_RETRY_SCHEDULE,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    },
    payments: {
      defaultExpiresIn: env.PAYMENT_DEFAULT_EXPIRES_IN,
      maxExpiresIn: env.PAYMENT_MAX_EXPIRES_IN,
      toleranceBps: env.PAYMENT_TOLERANCE_BPS,
    },
    close: async () => {
      await Promise.all(Object.values(producer).map((q) => q.close()))
      redis.disconnect()
      bus.close()
      await closeKytProviders(compliance.registry)
      rateBook?.close()
      if (pricing) await closeProviders(pricing.providers)
      await closeChains(chains)
      await dbHandle.close()
    },
  }
}
