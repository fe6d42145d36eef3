#!/usr/bin/env bun
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { describePayouts, describeScan, readChainStatus } from './chain-status.ts'
import { checkoutLink } from './checkout/link.ts'
import { kytCommand, kytUsage, paymentCommand } from './cli-kyt.ts'
import { createContext, loadPluginsConfig } from './context.ts'
import { createApiKey, revokeApiKey } from './core/access/api-keys.ts'
import { createConsoleUser, grantConsoleRole, resetConsolePassword } from './core/access/console-users.ts'
import { createMerchant } from './core/access/merchants.ts'
import { errorCode, errorKind } from './core/errors.ts'
import { formatAmount } from './core/money.ts'
import { topUpAddressPool } from './core/payments/addresses.ts'
import { createPayment } from './core/payments/create.ts'
import { storeBatchSetup } from './core/payouts/batches.ts'
import { reconcileChain } from './core/payouts/reconcile.ts'
import { createSigner, newMnemonic } from './core/payouts/signer.ts'
import { roleAccountPath, roleWallet } from './core/payouts/wallet-roles.ts'
import { resumeChain } from './core/scanning/reorg.ts'
import { openDb } from './db/client.ts'
import { migrate } from './db/migrate.ts'
import {
  deployDevToken,
  devSandboxFile,
  devTokenAddress,
  fundDevWallet,
  rpcAnswers,
  startAnvil,
} from './devnet.ts'
import { type Env, EnvError, parseEnv } from './env.ts'
import { startWorkers } from './jobs/index.ts'
import { createLogger } from './log.ts'
import { signPsbt } from './plugins/bitcoin/multisig.ts'
import { signSafeDigest } from './plugins/evm/safe.ts'
import { closeChains, loadChains } from './plugins/registry.ts'
import { redisOptions } from './redis-options.ts'
import { startServer } from './server.ts'

const usage = `tollgate — self-hosted crypto payment gateway

Usage:
  tollgate dev                          API + workers + anvil devnet in one process (embedded defaults)
  tollgate serve                        the API (GraphQL, health, metrics); holds no keys given TOLLGATE_XPUBS
  tollgate worker [--role all|chain|signer]
                                        background jobs; chain = no keys (scanning, expiry, webhooks),
                                        signer = payouts only (the one process holding the seed)
  tollgate migrate                      apply database migrations
  tollgate merchant create --name N [--json]
  tollgate apikey create --merchant ID [--name N] [--scopes a,b] [--expires-in 90d | --expires-at ISO] [--json]
                                        --expires-in: a number with s, m, h or d; the key stops working then
  tollgate apikey revoke KEY_ID_OR_PREFIX
  tollgate console user create --email E --name N --merchant ID --role R
                                        a person who signs in to the console, with a role for the merchant
                                        (viewer, operator, approver, compliance, admin); the password is read
                                        from stdin, never the command line; prints the user's id
  tollgate console user grant --email E --merchant ID --role R
                                        one more role for a console user, for that merchant
  tollgate console user reset-password --email E
                                        a forgotten password replaced (read from stdin); the user's sessions
                                        end and the email's lock is lifted
  tollgate chain status                 each chain's scanned height, the node's tip, any halt; lag, last
                                        scan, last error code and the payout backlog
  tollgate reconcile [--chain N] [--json]
                                        ledger vs chain per wallet and asset; exit 2 on a difference
  tollgate chain resume NAME --from H   rescan NAME from height H (the way out of a halt)
  tollgate batch enable --chain NAME    store the treasury's one-time transactions for batch payouts (the batch
                                        contract's deployment, one token approval each); the signer sends them
  tollgate psbt sign --psbt BASE64 (--xprv TPRV | --mnemonic-env VAR --path "m/48'/1'/0'/2'")
                                        an owner of a Bitcoin multisig cold wallet signs a proposal's PSBT
                                        offline: every input its key is for; prints the signed PSBT (base64)
  tollgate multisig sign --digest 0x… (--key HEX | --mnemonic-env VAR --path "m/44'/60'/0'/0/0")
                                        an owner of a Safe cold wallet signs a proposal's digest (its toSign)
                                        offline; prints the 65-byte signature for addSignature
  tollgate seed new                     print a new 24-word BIP39 mnemonic
  tollgate xpub show                    print the account xpubs of the configured chains (needs the seed)
${kytUsage}
`

function fail(message: string): never {
  console.error(message)
  process.exit(1)
}

function loadEnv(overrides: Record<string, string | undefined> = {}): Env {
  try {
    return parseEnv({ ...process.env, ...overrides })
  } catch (err) {
    if (err instanceof EnvError) fail(err.message)
    throw err
  }
}

async function withDb<T>(env: Env, fn: (h: Awaited<ReturnType<typeof openDb>>) => Promise<T>): Promise<T> {
  const handle = await openDb({ url: env.DATABASE_URL, dataDir: env.TOLLGATE_DATA_DIR, maxConnections: 2 })
  try {
    await migrate(handle)
    return await fn(handle)
  } finally {
    await handle.close()
  }
}

function onShutdown(stop: () => Promise<void>) {
  let stopping = false
  const handler = async () => {
    if (stopping) return
    stopping = true
    await stop()
    process.exit(0)
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

async function serve() {
  const env = loadEnv()
  const log = createLogger(env.LOG_LEVEL).child({ role: 'api' })
  const ctx = await createContext(env, log, { role: 'api' })
  await Promise.all([...ctx.chains.values()].map((c) => topUpAddressPool(ctx, c)))
  const server = startServer(ctx)
  log.info({ url: server.url.href, chains: [...ctx.chains.keys()] }, 'api listening')
  onShutdown(async () => {
    await server.stop()
    await ctx.close()
  })
}

async function worker(args: string[]) {
  const { values } = parseArgs({ args, options: { role: { type: 'string', default: 'all' } } })
  const role = values.role
  if (role !== 'all' && role !== 'chain' && role !== 'signer')
    fail(
      'worker --role must be all (default), chain (no keys: scanning, expiry, webhooks) or signer (payouts only)',
    )
  const env = loadEnv()
  const log = createLogger(env.LOG_LEVEL).child({ role: role === 'all' ? 'worker' : `worker:${role}` })
  const ctx = await createContext(env, log, {
    role: role === 'chain' ? 'worker-chain' : role === 'signer' ? 'signer' : 'worker',
  })
  const stop = await startWorkers(ctx, { chainJobs: role !== 'signer', payouts: role !== 'chain' })
  if (role === 'all' && !ctx.signer)
    log.warn('no seed: payouts are not sent by this worker (run `worker --role signer`)')
  log.info({ chains: [...ctx.chains.keys()], role, signs: ctx.signer !== undefined }, 'workers started')
  onShutdown(async () => {
    // the workers' stop waits for the scanners to hand their chain leases back: a standby takes over at once
    await stop()
    await ctx.close()
  })
}

/** The dev seed lives in a file so deposit addresses survive restarts; it is for the devnet only. */
function devSeedFile(): string {
  const file = '.tollgate/dev-seed.txt'
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, `${newMnemonic()}\n`, { mode: 0o600 })
  }
  return file
}

async function redisReachable(url: string): Promise<boolean> {
  const redis = new Redis({
    ...redisOptions(url),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1500,
  })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.ping()
    return true
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}

async function dev() {
  const seedConfigured = process.env.TOLLGATE_SEED || process.env.TOLLGATE_SEED_FILE
  const env = loadEnv({
    TOLLGATE_ENV: process.env.TOLLGATE_ENV ?? 'development',
    TOLLGATE_SEED_FILE: seedConfigured ? process.env.TOLLGATE_SEED_FILE : devSeedFile(),
  })
  const log = createLogger(env.LOG_LEVEL).child({ role: 'dev' })
  if (!(await redisReachable(env.REDIS_URL)))
    fail(
      `Redis is not reachable at ${env.REDIS_URL.replace(/\/\/[^@]*@/, '//***@')}.\n` +
        'Start one (e.g. `redis-server --daemonize yes` or `docker compose up -d redis`) or set REDIS_URL.',
    )
  const devnetUrl = process.env.DEVNET_RPC_URL ?? 'http://127.0.0.1:8545'
  let anvil: Awaited<ReturnType<typeof startAnvil>> | undefined
  if (!(await rpcAnswers(devnetUrl))) {
    anvil = await startAnvil({ port: Number(new URL(devnetUrl).port || 8545), blockTime: 1 })
    log.info({ url: anvil.url }, 'anvil devnet started')
  }
  if (await deployDevToken(devnetUrl)) log.info({ address: devTokenAddress }, 'devnet USDT deployed')
  const ctx = await createContext(env, log, { role: 'all', migrate: true })
  await Promise.all([...ctx.chains.values()].map((c) => topUpAddressPool(ctx, c)))
  // the sandbox's gas tank pays token sweeps' fees from the first payment on
  const devChain = ctx.chains.get('devnet')
  if (devChain && ctx.signer && (await fundDevWallet(devnetUrl, roleWallet(ctx, devChain, 'gas').address)))
    log.info('devnet gas tank funded with 10 ETH')
  const { merchant, apiKey } = await createMerchant(ctx, { name: 'Demo merchant' })
  const server = startServer(ctx)
  const stopWorkers = await startWorkers(ctx)
  const base = server.url.href.replace(/\/$/, '')
  // a payment to look at in a browser right away (pay it from any anvil account, or with `bun run demo`)
  const [firstChain] = ctx.chains.values()
  const sample = firstChain
    ? await createPayment(ctx, merchant.id, {
        chain: firstChain.name,
        asset: firstChain.driver.nativeAsset.symbol,
        amount: '0.01',
      }).catch(() => undefined)
    : undefined
  const checkout = sample && checkoutLink({ ...env, PUBLIC_URL: env.PUBLIC_URL ?? base }, sample.payment)
  // what `bun run demo` needs to act as a client of this sandbox
  writeFileSync(
    devSandboxFile,
    `${JSON.stringify({ graphqlUrl: `${base}/graphql`, apiKey: apiKey.key, rpcUrl: devnetUrl }, null, 2)}\n`,
    { mode: 0o600 },
  )
  console.log(`
Tollgate is running (development).
  GraphQL + GraphiQL  ${base}/graphql
  Health              ${base}/readyz
  Database            ${env.DATABASE_URL ? 'Postgres (DATABASE_URL)' : `embedded PGlite in ${env.TOLLGATE_DATA_DIR}`}
  Devnet RPC          ${devnetUrl}

  Demo merchant       ${merchant.id}
  API key (shown once) ${apiKey.key}
${checkout ? `  Checkout page       ${checkout}\n` : ''}
See a payment complete (in another terminal):  bun run demo

Or try it yourself:
  curl -s ${base}/graphql -H 'content-type: application/json' -H 'authorization: Bearer ${apiKey.key}' \\
    -d '{"query":"mutation { createPayment(input: {chain: \\"devnet\\", asset: \\"ETH\\", amount: \\"0.05\\"}) { ... on CreatePaymentPayload { payment { id address paymentUri status } } ... on UserError { code message } } }"}'
`)
  onShutdown(async () => {
    await stopWorkers()
    server.stop()
    await ctx.close()
    await anvil?.stop()
  })
}

/**
 * The end of validity `apikey create` was given: `--expires-in` (`3600s`, `90m`, `12h`, `30d`) from now, or
 * `--expires-at` (an ISO-8601 instant); undefined without either. createApiKey judges the instant itself.
 */
function keyExpiry(values: { 'expires-in'?: string; 'expires-at'?: string }): Date | undefined {
  const { 'expires-in': expiresIn, 'expires-at': expiresAt } = values
  if (expiresIn !== undefined && expiresAt !== undefined)
    fail('apikey create: give --expires-in or --expires-at, not both')
  if (expiresIn !== undefined) {
    const m = /^(\d{1,6})([smhd])$/.exec(expiresIn)
    if (!m) fail('apikey create: --expires-in takes a whole number with s, m, h or d (e.g. 90d)')
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']
    return new Date(Date.now() + Number(m[1]) * unit)
  }
  if (expiresAt !== undefined) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.exec(expiresAt)
    const at = m ? new Date(expiresAt) : undefined
    // Date rolls 2031-02-30 over into March; a day the calendar does not have is refused instead
    const day = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined
    if (!m || !at || !day || Number.isNaN(at.getTime()) || day.getUTCDate() !== Number(m[3]))
      fail('apikey create: --expires-at takes an ISO-8601 instant with its zone (e.g. 2027-01-31T12:00:00Z)')
    return at
  }
  return undefined
}

/**
 * A password piped on stdin (one trailing line break dropped), so it shows in no process list or shell history.
 * A terminal on stdin is refused: what is typed there would be echoed.
 */
async function passwordFromStdin(command: string): Promise<string> {
  if (process.stdin.isTTY)
    fail(
      `${command}: pipe the password on stdin, e.g.\n  read -rs P && printf '%s' "$P" | tollgate ${command} …`,
    )
  const password = (await Bun.stdin.text()).replace(/\r?\n$/, '')
  if (password === '') fail(`${command}: no password on stdin`)
  return password
}

/** `tollgate console user create|grant|reset-password`: the console's people, the first admin among them. */
async function consoleCommand(sub: string | undefined, rest: string[]) {
  const [action, ...args] = rest
  if (sub !== 'user' || (action !== 'create' && action !== 'grant' && action !== 'reset-password'))
    fail(usage)
  const command = `console user ${action}`
  const options = {
    email: { type: 'string' },
    name: { type: 'string' },
    merchant: { type: 'string' },
    role: { type: 'string' },
  } as const
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options }>>['values']
  try {
    values = parseArgs({ args, options }).values
  } catch (err) {
    // an unknown option (a --password among them) or one without its value: said in one line
    fail(`${command}: ${(err as Error).message.split('\n')[0]}\n\n${usage}`)
  }
  const required =
    action === 'create'
      ? ['email', 'name', 'merchant', 'role']
      : action === 'grant'
        ? ['email', 'merchant', 'role']
        : ['email']
  for (const option of required)
    if (values[option as keyof typeof values] === undefined) fail(`${command}: --${option} is required`)
  if (action === 'grant' && values.name !== undefined) fail(`${command}: --name is for console user create`)
  if (action === 'reset-password' && (values.name ?? values.merchant ?? values.role) !== undefined)
    fail(`${command}: takes --email only`)
  const env = loadEnv()
  if (action === 'reset-password') {
    const password = await passwordFromStdin(command)
    const reset = await withDb(env, (h) =>
      resetConsolePassword(h, { email: values.email, password, actor: { cli: true } }),
    )
    console.log(`${values.email} (${reset.userId}): password replaced, sessions ended`)
    return
  }
  if (action === 'create') {
    const password = await passwordFromStdin(command)
    const created = await withDb(env, (h) =>
      createConsoleUser(h, {
        email: values.email,
        displayName: values.name,
        password,
        membership: { merchantId: values.merchant, role: values.role },
        actor: { cli: true },
      }),
    )
    console.log(created.id)
    return
  }
  const grant = await withDb(env, (h) =>
    grantConsoleRole(h, {
      email: values.email,
      merchantId: values.merchant,
      role: values.role,
      actor: { cli: true },
    }),
  )
  console.log(
    grant.granted
      ? `${values.email} (${grant.userId}) is ${values.role} of ${values.merchant}`
      : `${values.email} (${grant.userId}) was ${values.role} of ${values.merchant} already`,
  )
}

async function main(argv: string[]) {
  const [command, sub, ...rest] = argv
  switch (command) {
    case 'serve':
      return serve()
    case 'worker':
      return worker([sub, ...rest].filter((a): a is string => a !== undefined))
    case 'dev':
      return dev()
    case 'migrate': {
      const env = loadEnv()
      await withDb(env, async (h) => console.log(`migrations applied (${h.kind})`))
      return
    }
    case 'merchant': {
      if (sub !== 'create') fail(usage)
      const { values } = parseArgs({
        args: rest,
        options: { name: { type: 'string' }, json: { type: 'boolean' } },
      })
      if (!values.name) fail('merchant create: --name is required')
      const env = loadEnv()
      const { merchant, apiKey } = await withDb(env, (h) =>
        createMerchant(h, { name: values.name as string }),
      )
      if (values.json)
        console.log(JSON.stringify({ merchantId: merchant.id, name: merchant.name, apiKey: apiKey.key }))
      else console.log(`merchant ${merchant.id} (${merchant.name})\nAPI key (shown once): ${apiKey.key}`)
      return
    }
    case 'apikey': {
      const env = loadEnv()
      if (sub === 'create') {
        const options = {
          merchant: { type: 'string' },
          name: { type: 'string' },
          scopes: { type: 'string' },
          'expires-in': { type: 'string' },
          'expires-at': { type: 'string' },
          json: { type: 'boolean' },
        } as const
        let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options }>>['values']
        try {
          values = parseArgs({ args: rest, options }).values
        } catch (err) {
          // an unknown option or one without its value: the operator's input, said in one line
          fail(`apikey create: ${(err as Error).message.split('\n')[0]}\n\n${usage}`)
        }
        if (!values.merchant) fail('apikey create: --merchant is required')
        const expiresAt = keyExpiry(values)
        const key = await withDb(env, (h) =>
          createApiKey(h, {
            merchantId: values.merchant as string,
            name: values.name,
            scopes: values.scopes?.split(',').map((s) => s.trim()),
            expiresAt,
            actor: { cli: true },
          }),
        )
        const expires = key.expiresAt?.toISOString() ?? null
        if (values.json)
          console.log(JSON.stringify({ id: key.id, apiKey: key.key, scopes: key.scopes, expiresAt: expires }))
        else
          console.log(
            `API key ${key.id} [${key.scopes.join(', ')}]${expires ? ` expires ${expires}` : ''} (shown once): ${key.key}`,
          )
        return
      }
      if (sub === 'revoke') {
        const [id] = rest
        if (!id) fail('apikey revoke: give the key id (key_…) or its prefix')
        // the NOTIFY reaches every running API process: the key's open subscriptions end there
        const revoked = await withDb(env, (h) => revokeApiKey(h, { keyId: id, actor: { cli: true } }))
        console.log(`revoked ${revoked.id}`)
        return
      }
      fail(usage)
      break
    }
    case 'reconcile': {
      const { values } = parseArgs({
        args: [sub, ...rest].filter((a): a is string => a !== undefined),
        options: { chain: { type: 'string' }, json: { type: 'boolean', default: false } },
      })
      const env = loadEnv()
      const ctx = await createContext(env, createLogger('warn'), { role: 'worker' })
      try {
        const chains = [...ctx.chains.values()].filter(
          (c) => c.driver.payouts && (!values.chain || c.name === values.chain),
        )
        if (values.chain && chains.length === 0)
          fail(`reconcile: no chain "${values.chain}" that can report balances`)
        let problems = 0
        for (const chain of chains) {
          const report = await reconcileChain(ctx, chain)
          problems += report.discrepancies.length
          if (values.json) {
            console.log(JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)))
            continue
          }
          console.log(`${chain.name}${report.settled ? '' : '  (transactions in flight: figures may move)'}`)
          for (const l of report.lines) {
            const asset = chain.driver.assets.find((a) => a.id === l.asset)
            const fmt = (v: bigint) => formatAmount(v, asset?.decimals ?? 0)
            const mark = report.discrepancies.includes(l) ? '  <-- DIFFERS' : ''
            console.log(
              `  ${(asset?.symbol ?? l.asset).padEnd(8)} ${l.role.padEnd(9)} ledger ${fmt(l.ledger)}  chain ${fmt(l.onChain)}${mark}`,
            )
          }
          for (const f of report.funding)
            console.log(`  booked operator funding: ${f.role} ${f.asset} ${f.amount}`)
        }
        process.exitCode = problems > 0 ? 2 : 0
      } finally {
        await ctx.close()
      }
      return
    }
    case 'chain': {
      const env = loadEnv()
      const chains = await loadChains(
        await loadPluginsConfig(env.TOLLGATE_PLUGINS_CONFIG),
        createLogger('warn'),
      )
      try {
        if (sub === 'status') {
          const statuses = await withDb(env, (h) => readChainStatus({ db: h.db, chains }))
          const ago = (at: Date) => `${Math.max(0, Math.round((Date.now() - at.getTime()) / 1000))}s ago`
          for (const s of statuses) {
            const c = chains.get(s.chain)
            // the node as this command reaches it now; the lines below are what the scanner and signer recorded
            const tip = await c?.driver.getTip().then(
              (t) => t.height.toString(),
              (err: Error) => `unreachable (${err.message.split('\n')[0]})`,
            )
            const state = s.halted
              ? `HALTED: ${s.haltedReason}`
              : s.degraded.length > 0
                ? `DEGRADED (${s.degraded.join(', ')})`
                : 'ok'
            console.log(`${s.chain}  scanned ${s.scannedHeight ?? 'not started'}  tip ${tip}  ${state}`)
            console.log(`  scan: ${describeScan(s)}`)
            if (s.lastErrorCode && s.lastErrorAt)
              console.log(
                `  last scan error: ${s.lastErrorCode} (${s.lastErrorKind}) in ${s.lastErrorStage}, ${ago(s.lastErrorAt)}`,
              )
            console.log(`  payouts: ${describePayouts(s.payouts)}`)
          }
          return
        }
        if (sub === 'resume') {
          const { values, positionals } = parseArgs({
            args: rest,
            options: { from: { type: 'string' } },
            allowPositionals: true,
          })
          const chain = chains.get(positionals[0] ?? '')
          if (!chain) fail(`chain resume: name one of: ${[...chains.keys()].join(', ')}`)
          if (!values.from || !/^[0-9]+$/.test(values.from)) fail('chain resume: --from HEIGHT is required')
          const changes = await withDb(env, (h) => resumeChain(h, chain, BigInt(values.from as string)))
          console.log(
            `${chain.name}: resumes from ${values.from}; ${changes.payments.length} payment(s) and ${changes.deposits.length} deposit(s) moved back until rescanned`,
          )
          return
        }
      } finally {
        await closeChains(chains)
      }
      fail(usage)
      break
    }
    case 'batch': {
      if (sub !== 'enable') fail(usage)
      const { values } = parseArgs({ args: rest, options: { chain: { type: 'string' } } })
      const env = loadEnv()
      const ctx = await createContext(env, createLogger('warn'), { role: 'worker' })
      try {
        const chain = ctx.chains.get(values.chain ?? '')
        if (!chain?.driver.payouts?.batchSetup)
          fail(
            `batch enable: --chain names one of: ${[...ctx.chains.values()]
              .filter((c) => c.driver.payouts?.batchSetup)
              .map((c) => c.name)
              .join(', ')}`,
          )
        const stored = await storeBatchSetup(ctx, chain)
        for (const t of stored) console.log(`${t.id}  ${t.what}`)
        console.log(
          stored.length > 0
            ? `${chain.name}: ${stored.length} transaction(s) stored; the signer sends them`
            : `${chain.name}: batch payouts are set up (or their setup is still on its way)`,
        )
      } finally {
        await ctx.close()
      }
      return
    }
    case 'psbt': {
      if (sub !== 'sign') fail(usage)
      const { values } = parseArgs({
        args: rest,
        options: {
          psbt: { type: 'string' },
          xprv: { type: 'string' },
          'mnemonic-env': { type: 'string' },
          path: { type: 'string' },
        },
      })
      if (!values.psbt) fail('psbt sign: --psbt BASE64 is required')
      const mnemonic = values['mnemonic-env'] ? process.env[values['mnemonic-env']] : undefined
      if (values['mnemonic-env'] && !mnemonic) fail(`psbt sign: ${values['mnemonic-env']} is not set`)
      if (mnemonic && !values.path)
        fail("psbt sign: --mnemonic-env needs --path (the account, m/48'/1'/0'/2')")
      if (!values.xprv === !mnemonic) fail('psbt sign: give --xprv or --mnemonic-env with --path')
      let out: ReturnType<typeof signPsbt>
      try {
        out = signPsbt(
          values.psbt,
          values.xprv ? { xprv: values.xprv } : { mnemonic: mnemonic as string, path: values.path as string },
        )
      } catch (err) {
        fail(`psbt sign: ${err instanceof Error ? err.message : String(err)}`)
      }
      console.error(`signed ${out.signed} input(s)`)
      console.log(out.psbt)
      return
    }
    case 'multisig': {
      if (sub !== 'sign') fail(usage)
      let values: { digest?: string; key?: string; 'mnemonic-env'?: string; path?: string }
      try {
        values = parseArgs({
          args: rest,
          options: {
            digest: { type: 'string' },
            key: { type: 'string' },
            'mnemonic-env': { type: 'string' },
            path: { type: 'string' },
          },
        }).values
      } catch (err) {
        fail(`multisig sign: ${(err as Error).message.split('\n')[0]}`)
      }
      if (!values.digest) fail('multisig sign: --digest 0x… (the proposal’s toSign) is required')
      const mnemonic = values['mnemonic-env'] ? process.env[values['mnemonic-env']] : undefined
      if (values['mnemonic-env'] && !mnemonic) fail(`multisig sign: ${values['mnemonic-env']} is not set`)
      if (mnemonic && !values.path) fail("multisig sign: --mnemonic-env needs --path (m/44'/60'/0'/0/0)")
      if (!values.key === !mnemonic) fail('multisig sign: give --key or --mnemonic-env with --path')
      try {
        const { signature, signer } = await signSafeDigest(
          values.digest,
          values.key
            ? { privateKey: values.key }
            : { mnemonic: mnemonic as string, path: values.path as string },
        )
        console.error(`signed by ${signer}`)
        console.log(signature)
      } catch (err) {
        fail(`multisig sign: ${err instanceof Error ? err.message : String(err)}`)
      }
      return
    }
    case 'console':
      return consoleCommand(sub, rest)
    case 'kyt':
      return kytCommand(sub, rest, { loadEnv, withDb })
    case 'payment':
      return paymentCommand(sub, rest, { loadEnv, withDb })
    case 'seed': {
      if (sub !== 'new') fail(usage)
      console.log(newMnemonic())
      return
    }
    case 'xpub': {
      if (sub !== 'show') fail(usage)
      const env = loadEnv()
      if (!env.seed) fail('xpub show: set TOLLGATE_SEED or TOLLGATE_SEED_FILE')
      const signer = createSigner(env.seed)
      const chains = await loadChains(
        await loadPluginsConfig(env.TOLLGATE_PLUGINS_CONFIG),
        createLogger('warn'),
      )
      const paths = new Map<string, string[]>()
      const add = (path: string, label: string) => paths.set(path, [...(paths.get(path) ?? []), label])
      for (const c of chains.values()) {
        add(c.driver.accountPath, `${c.name} deposits`)
        for (const role of ['treasury', 'gas'] as const)
          add(roleAccountPath(c.driver.accountPath, role), `${c.name} ${role}`)
      }
      for (const [path, names] of paths) console.log(`${path}  ${signer.xpub(path)}  (${names.join(', ')})`)
      console.log(`\nTOLLGATE_XPUBS=${[...paths.keys()].map((p) => `${p}=${signer.xpub(p)}`).join(',')}`)
      return
    }
    default:
      console.log(usage)
      if (command && command !== 'help' && command !== '--help') process.exit(1)
  }
}

main(process.argv.slice(2)).catch((err) => {
  // the operator's input or configuration: the code and message say what to fix; anything else shows its stack
  const kind = errorKind(err)
  if (kind === 'user' || kind === 'permanent') fail(`${errorCode(err) ?? 'ERROR'}: ${(err as Error).message}`)
  fail(err instanceof Error ? (err.stack ?? err.message) : String(err))
})
