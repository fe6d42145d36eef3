import { once } from 'node:events'
import { parseArgs } from 'node:util'
import type { KytPolicyConfig } from '@tollgate/sdk'
import { loadCompliance, loadPluginsConfig } from './context.ts'
import { announceKytUpdate, kytUpdateChannel } from './core/compliance/announce.ts'
import { merchantKytPolicy, setMerchantKytPolicy } from './core/compliance/merchant-policy.ts'
import { reviewHeldPayment } from './core/compliance/operator-review.ts'
import { checkKytPolicy, effectiveKytPolicy, type KytPolicy } from './core/compliance/policy.ts'
import { checksBetween } from './core/compliance/queries.ts'
import { csvHeader, csvLine, reportInstant, reportRow } from './core/compliance/report.ts'
import { KytReloadError, reloadKytProviders, rescreenAfterUpdate } from './core/compliance/update.ts'
import { TollgateError } from './core/errors.ts'
import { recoverMisdirectedAsOperator } from './core/payouts/misdirected-recovery.ts'
import type { DbHandle } from './db/client.ts'
import type { Env } from './env.ts'
import { createLogger } from './log.ts'
import { closeChains, closeKytProviders, type LoadedKytProvider, loadChains } from './plugins/registry.ts'

/** What the KYT and payment commands take from the CLI: the environment and a migrated database. */
export type CliDeps = {
  loadEnv(): Env
  withDb<T>(env: Env, fn: (handle: DbHandle) => Promise<T>): Promise<T>
}

export const kytUsage = `  tollgate kyt update                   reload the KYT providers' data (sanctions lists), tell running workers,
                                        and re-screen open deposits: a sender listed since is held
  tollgate kyt report --from DATE --to DATE [--merchant ID] [--format csv|json]
                                        every screening opened in [from, to), one per line (default csv);
                                        DATE: 2026-01-31 (UTC midnight) or an ISO-8601 instant with its zone
  tollgate kyt policy MERCHANT_ID [--set JSON | --clear] [--json]
                                        a merchant's KYT policy overrides and the effective policy per chain;
                                        --set replaces the overrides, --clear removes them (both audited)
  tollgate payment release|reject PAYMENT_ID --note TEXT
                                        decide a payment KYT screening held (audited with the note)
  tollgate payment recover PAYMENT_ID --chain N --asset A
                                        sweep what was sent to the payment's address on another chain N (a
                                        wrong-network deposit) to N's treasury (audited)
  (kyt and payment commands exit 2 on a wrong command line)`

/** The command line itself is wrong: said in one line, exit 2, before anything is opened or changed. */
function argsError(message: string): never {
  console.error(message)
  process.exit(2)
}

/** parseArgs, with an unknown option or one missing its value said as an args error of `command`. */
function parse<const O extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(
  command: string,
  args: string[],
  options: O,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    argsError(`${command}: ${(err as Error).message.split('\n')[0]}`)
  }
}

/** A sanctions-style provider that shows the lists it loaded (see src/plugins/kyt-sanctions). */
type ListingProvider = {
  lists(): ReadonlyArray<{ asset: string; origin: string; version: string; size: number }>
}
const listsOf = (p: LoadedKytProvider) => {
  const { lists } = p.provider as Partial<ListingProvider>
  return typeof lists === 'function' ? lists.call(p.provider) : undefined
}

/**
 * The chains and KYT providers of the plugins config, with the gateway's policy checked as at start — what
 * `kyt update` screens with. Not the whole context: this command needs no Redis, and must not listen for the
 * update it announces itself.
 */
async function loadScreening(env: Env) {
  const config = await loadPluginsConfig(env.TOLLGATE_PLUGINS_CONFIG)
  const log = createLogger('warn')
  const chains = await loadChains(config, log)
  let compliance: Awaited<ReturnType<typeof loadCompliance>>
  try {
    compliance = await loadCompliance(config, chains, log, env.KYT_TIMEOUT_MS)
  } catch (err) {
    await closeChains(chains)
    throw err
  }
  return {
    chains,
    compliance,
    close: async () => {
      await closeKytProviders(compliance.registry)
      await closeChains(chains)
    },
  }
}

async function kytUpdate(args: string[], deps: CliDeps) {
  const { positionals } = parse('kyt update', args, {})
  if (positionals.length > 0) argsError(`kyt update: takes no arguments (got ${positionals.join(' ')})`)
  const env = deps.loadEnv()
  const { chains, compliance, close } = await loadScreening(env)
  try {
    const { providers } = compliance
    if (providers.length === 0) {
      console.error(
        'kyt update: no KYT providers are configured (`kyt` in the plugins config): nothing to update',
      )
      process.exitCode = 1
      return
    }
    let reloads: Awaited<ReturnType<typeof reloadKytProviders>>
    try {
      reloads = await reloadKytProviders(providers)
    } catch (err) {
      if (!(err instanceof KytReloadError)) throw err
      for (const f of err.failures)
        console.error(`kyt update: provider "${f.provider}" could not reload: ${f.code}: ${f.message}`)
      console.error('kyt update: nothing was replaced; no worker was told and nothing was re-screened')
      process.exitCode = 1
      return
    }
    for (const r of reloads) {
      const provider = providers.find((p) => p.name === r.provider) as LoadedKytProvider
      console.log(`${r.provider}: ${r.reloaded ? 'reloaded' : 'nothing to reload (answers live)'}`)
      for (const l of listsOf(provider) ?? [])
        console.log(`  ${l.version}  ${l.size} address(es)  from ${l.origin}`)
    }
    await deps.withDb(env, async (h) => {
      const notice = await announceKytUpdate(h.db)
      console.log(`running workers told to reload (${kytUpdateChannel}, ${notice.at})`)
      // done here too, so deposits are screened again even when no worker runs
      const result = await rescreenAfterUpdate(
        { db: h.db, compliance, chains },
        { actor: { cli: true }, reloaded: reloads.filter((r) => r.reloaded).map((r) => r.provider) },
      )
      console.log(
        `re-screened ${result.screened} open deposit(s): ${result.held} newly held, ${result.failed} failed`,
      )
      for (const c of result.changes.filter((c) => c.to === 'HELD'))
        console.log(`  held ${c.paymentId} (merchant ${c.merchantId}, was ${c.from})`)
      if (result.failed > 0) {
        console.error(
          `kyt update: ${result.failed} deposit(s) got no answer from the providers and keep their earlier decision; run it again`,
        )
        process.exitCode = 1
      }
    })
  } finally {
    await close()
  }
}

/** A bound of the report's period (see reportInstant), else the command line is refused. */
function parseDate(flag: string, value: string | undefined): Date {
  if (value === undefined) argsError(`kyt report: ${flag} is required (e.g. ${flag} 2026-01-01)`)
  const at = reportInstant(value)
  if (!at)
    argsError(
      `kyt report: ${flag} takes a date (2026-01-31, UTC) or an ISO-8601 instant with its zone (2026-01-31T12:00:00Z), not ${JSON.stringify(value)}`,
    )
  return at
}

/** Writes to stdout, waiting while the reader is behind (a report can be long). */
async function emit(text: string) {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain')
}

async function kytReport(args: string[], deps: CliDeps) {
  const { values, positionals } = parse('kyt report', args, {
    from: { type: 'string' },
    to: { type: 'string' },
    merchant: { type: 'string' },
    format: { type: 'string', default: 'csv' },
  })
  if (positionals.length > 0) argsError(`kyt report: unexpected argument ${positionals[0]}`)
  const format = values.format
  if (format !== 'csv' && format !== 'json')
    argsError(`kyt report: --format is csv (default) or json, not ${JSON.stringify(format)}`)
  const from = parseDate('--from', values.from)
  const to = parseDate('--to', values.to)
  if (from.getTime() >= to.getTime())
    argsError(`kyt report: --from (${from.toISOString()}) must be before --to (${to.toISOString()})`)
  const env = deps.loadEnv()
  await deps.withDb(env, async (h) => {
    if (format === 'csv') await emit(`${csvHeader()}\n`)
    for await (const page of checksBetween(h.db, { from, to, merchantId: values.merchant })) {
      const rows = page.map(reportRow)
      await emit(
        rows
          .map((row) => (format === 'csv' ? csvLine(row) : JSON.stringify(row)))
          .join('\n')
          .concat('\n'),
      )
    }
  })
}

const describePolicy = (p: KytPolicy) =>
  `failMode ${p.failMode} after ${p.failAfterMs} ms; deposits: ${Object.entries(p.deposits)
    .map(([verdict, action]) => `${verdict} ${action}`)
    .join(', ')}; withdrawals: ${Object.entries(p.withdrawals)
    .map(([verdict, action]) => `${verdict} ${action}`)
    .join(', ')}`

/** The `--set` value as a policy, or an args error naming what is wrong (nothing is stored then). */
function overridesOf(text: string): KytPolicyConfig {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    argsError(`kyt policy: --set takes the overrides as JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    argsError('kyt policy: --set takes a JSON object (e.g. \'{"failMode":"open"}\')')
  try {
    return checkKytPolicy(value, 'merchant')
  } catch (err) {
    if (err instanceof TollgateError) argsError(`kyt policy: ${err.code}: ${err.message}`)
    throw err
  }
}

async function kytPolicy(args: string[], deps: CliDeps) {
  const { values, positionals } = parse('kyt policy', args, {
    set: { type: 'string' },
    clear: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  })
  const [merchantId, ...extra] = positionals
  if (!merchantId) argsError('kyt policy: give the merchant id (mer_…)')
  if (extra.length > 0) argsError(`kyt policy: unexpected argument ${extra[0]}`)
  if (values.set !== undefined && values.clear) argsError('kyt policy: give --set or --clear, not both')
  const overrides = values.set === undefined ? undefined : overridesOf(values.set)
  const env = deps.loadEnv()
  const config = await loadPluginsConfig(env.TOLLGATE_PLUGINS_CONFIG)
  // the gateway's own policy, checked as the gateway checks it at start
  const gateway = config.kytPolicy === undefined ? undefined : checkKytPolicy(config.kytPolicy, 'kytPolicy')
  const chains = Object.keys(config.chains)
  const stored = await deps.withDb(env, async (h) => {
    if (overrides !== undefined || values.clear)
      return setMerchantKytPolicy(h, merchantId, values.clear ? null : overrides, { cli: true })
    return merchantKytPolicy(h, merchantId)
  })
  for (const chain of Object.keys(stored?.chains ?? {}))
    if (!chains.includes(chain))
      console.error(`kyt policy: note: the overrides name chain "${chain}", which is not configured here`)
  const effective = Object.fromEntries(chains.map((c) => [c, effectiveKytPolicy(gateway, stored, c)]))
  if (values.json) {
    console.log(JSON.stringify({ merchantId, overrides: stored, effective }))
    return
  }
  if (values.clear) console.log(`cleared the KYT policy overrides of ${merchantId}`)
  else if (overrides !== undefined) console.log(`set the KYT policy overrides of ${merchantId}`)
  console.log(
    stored === null
      ? `${merchantId}: no KYT policy overrides (the gateway's policy applies)`
      : `${merchantId} overrides: ${JSON.stringify(stored)}`,
  )
  if (Object.keys(config.kyt ?? {}).length === 0)
    console.log('(no KYT providers are configured: nothing is screened until some are)')
  console.log('effective policy:')
  const width = Math.max(...chains.map((c) => c.length))
  for (const [chain, policy] of Object.entries(effective))
    console.log(`  ${chain.padEnd(width)}  ${describePolicy(policy)}`)
}

/**
 * `tollgate kyt update|report|policy …`: the operator's KYT commands.
 *
 * @example
 * await kytCommand('report', ['--from', '2026-01-01', '--to', '2026-02-01'], { loadEnv, withDb })
 */
export async function kytCommand(sub: string | undefined, args: string[], deps: CliDeps): Promise<void> {
  if (sub === 'update') return kytUpdate(args, deps)
  if (sub === 'report') return kytReport(args, deps)
  if (sub === 'policy') return kytPolicy(args, deps)
  argsError(`kyt: the commands are update, report and policy\n\n${kytUsage}`)
}

/**
 * `tollgate payment release|reject PAYMENT_ID --note TEXT`: an operator's decision on a payment KYT screening
 * held; the core's checks apply (a held payment, a note) and its errors are shown as they are.
 *
 * @example
 * await paymentCommand('release', ['pay_…', '--note', 'customer verified'], { loadEnv, withDb })
 */
export async function paymentCommand(sub: string | undefined, args: string[], deps: CliDeps): Promise<void> {
  if (sub === 'recover') return recoverCommand(args, deps)
  if (sub !== 'release' && sub !== 'reject')
    argsError(`payment: the commands are release, reject and recover\n\n${kytUsage}`)
  const { values, positionals } = parse(`payment ${sub}`, args, { note: { type: 'string' } })
  const [paymentId, ...extra] = positionals
  if (!paymentId) argsError(`payment ${sub}: give the payment id (pay_…)`)
  if (extra.length > 0) argsError(`payment ${sub}: unexpected argument ${extra[0]}`)
  const env = deps.loadEnv()
  const { merchantId, changes } = await deps.withDb(env, (h) =>
    // a missing note is the core's to refuse, like any other note it would not keep
    reviewHeldPayment(h, paymentId, sub, { actor: { cli: true }, note: values.note ?? '' }),
  )
  const change = changes.find((c) => c.paymentId === paymentId)
  console.log(
    `${sub === 'release' ? 'released' : 'rejected'} ${paymentId} (merchant ${merchantId})${change ? `: ${change.from} -> ${change.to}` : ''}`,
  )
}

async function recoverCommand(args: string[], deps: CliDeps): Promise<void> {
  const { values, positionals } = parse('payment recover', args, {
    chain: { type: 'string' },
    asset: { type: 'string' },
  })
  const [paymentId, ...extra] = positionals
  if (!paymentId) argsError('payment recover: give the payment id (pay_…)')
  if (extra.length > 0) argsError(`payment recover: unexpected argument ${extra[0]}`)
  if (!values.chain || !values.asset)
    argsError('payment recover: give --chain and --asset (where it arrived)')
  const env = deps.loadEnv()
  const config = await loadPluginsConfig(env.TOLLGATE_PLUGINS_CONFIG)
  const chains = await loadChains(config, createLogger('warn'))
  try {
    const { merchantId, sweep } = await deps.withDb(env, (h) =>
      recoverMisdirectedAsOperator(
        { db: h.db, chains },
        { paymentId, chain: values.chain as string, asset: values.asset as string },
      ),
    )
    console.log(
      `recovery ${sweep.id} of ${paymentId} (merchant ${merchantId}) on ${sweep.chain}: ${sweep.status}`,
    )
  } finally {
    await closeChains(chains)
  }
}
