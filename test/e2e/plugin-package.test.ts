/**
 * The plugin platform as a stranger uses it: the SDK and the example plugin are packed with `npm pack`, a fresh
 * copy of the gateway (its files, no node_modules, no workspace) installs the SDK tarball as a registry dependency
 * and the plugin tarball with `bun add`, names the plugin's chain by package name in its plugins.config.ts, and
 * runs `serve` + `worker`; a payment on the plugin's chain completes through GraphQL. The plugin's own tests (the
 * conformance suite) then run from inside its installed package.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import postgres from 'postgres'
import { freePort } from '../helpers/chain.ts'
import { pgServerUrl } from '../helpers/db.ts'
import { type GatewayProcess, graphqlClient, repoRoot, spawnScript, waitFor } from '../helpers/processes.ts'
import { clearRedisPrefix } from '../helpers/redis.ts'

type ToyNode = {
  url: string
  pay(to: string, amount: bigint): string
  mine(n: number): void
  stop(): Promise<void>
}

const work = mkdtempSync(join(tmpdir(), 'tollgate-plugin-package-'))
const tarballs = join(work, 'tarballs')
const gateway = join(work, 'gateway')
const pluginDir = join(gateway, 'node_modules/@acme/tollgate-toychain')
const database = `tollgate_pack_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
const prefix = `pack-${crypto.randomUUID().slice(0, 8)}`
let sdkTarball = ''
let pluginTarball = ''
let sdkFiles: string[] = []
let node: ToyNode
let api: GatewayProcess & { url: string }
let worker: GatewayProcess
let env: Record<string, string>

/** Runs a command to completion; fails with its output when it exits non-zero. */
async function run(cmd: string[], cwd: string, extraEnv: Record<string, string> = {}): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd, env: { ...process.env, ...extraEnv }, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  if (code !== 0) throw new Error(`${cmd.join(' ')} (in ${cwd}) exited ${code}:\n${out}\n${err}`)
  return out
}

/** `npm pack` of a package directory into `tarballs`; returns the tarball's path and the files it holds. */
async function pack(dir: string): Promise<{ path: string; files: string[] }> {
  const out = await run(['npm', 'pack', '--json', '--pack-destination', tarballs], join(repoRoot, dir))
  // npm prints lifecycle script output (prepack) before the JSON
  const [report] = JSON.parse(out.slice(out.indexOf('[\n'))) as Array<{
    filename: string
    files: { path: string }[]
  }>
  return { path: join(tarballs, report!.filename), files: report!.files.map((f) => f.path) }
}

/** The gateway's own files as a checkout has them: tracked and new, not ignored; without the SDK and examples. */
async function copyGateway() {
  const listed = await run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], repoRoot)
  for (const file of listed.split('\0')) {
    if (!file || file.startsWith('packages/') || file.startsWith('examples/')) continue
    const from = join(repoRoot, file)
    if (!existsSync(from)) continue
    mkdirSync(dirname(join(gateway, file)), { recursive: true })
    copyFileSync(from, join(gateway, file))
  }
  // as a gateway installed from a registry: the SDK is a dependency like any other, no workspace. The lockfile
  // pins the workspace package, so the copy resolves afresh (from the install cache: --prefer-offline)
  const manifest = await Bun.file(join(gateway, 'package.json')).json()
  delete manifest.workspaces
  manifest.dependencies['@tollgate/sdk'] = sdkTarball
  writeFileSync(join(gateway, 'package.json'), JSON.stringify(manifest, null, 2))
  rmSync(join(gateway, 'bun.lock'))
}

async function spawnGateway(args: string[], ready: (p: GatewayProcess) => Promise<boolean> | boolean) {
  const proc = spawnScript(join(gateway, 'src/cli.ts'), args, env, gateway)
  await waitFor(
    `${args.join(' ')} ready`,
    () => {
      if (proc.proc.exitCode !== null) throw new Error(`${args.join(' ')} exited: ${proc.output()}`)
      return ready(proc)
    },
    20_000,
  )
  return proc
}

beforeAll(async () => {
  mkdirSync(tarballs)
  const sdk = await pack('packages/sdk')
  sdkTarball = sdk.path
  sdkFiles = sdk.files
  pluginTarball = (await pack('examples/toy-chain-plugin')).path
  await copyGateway()
  await run(['bun', 'install', '--production', '--prefer-offline'], gateway)
  await run(['bun', 'add', '--production', '--prefer-offline', pluginTarball], gateway)

  const stand = await import(join(pluginDir, 'src/stand-in.ts'))
  node = stand.startToyNode() as ToyNode
  writeFileSync(
    join(gateway, 'plugins.config.ts'),
    `import { chain, defineConfig } from '@tollgate/sdk'

export default defineConfig({
  chains: {
    toy: chain(
      '@acme/tollgate-toychain',
      { rpcUrl: process.env.TOY_RPC_URL, confirmations: 2 },
      { scanIntervalMs: 200, startHeight: 0 },
    ),
  },
})
`,
  )

  const admin = postgres(`${pgServerUrl}/postgres`, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database "${database}"`)
  await admin.end()
  env = {
    DATABASE_URL: `${pgServerUrl}/${database}`,
    REDIS_PREFIX: prefix,
    TOLLGATE_SEED: 'test test test test test test test test test test test junk',
    TOLLGATE_PLUGINS_CONFIG: join(gateway, 'plugins.config.ts'),
    TOY_RPC_URL: node.url,
    ADDRESS_POOL_SIZE: '3',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
  }
  await spawnScript(join(gateway, 'src/cli.ts'), ['migrate'], env, gateway).proc.exited
  // a port nothing listens on (a random one once hit a service of the machine)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  env.PORT = String(port)
  const [served, started] = await Promise.all([
    spawnGateway(['serve'], () =>
      fetch(`${url}/healthz`)
        .then((r) => r.ok)
        .catch(() => false),
    ),
    spawnGateway(['worker'], (p) => p.output().includes('workers started')),
  ])
  api = { ...served, url }
  worker = started
}, 120_000)

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()])
  await node?.stop()
  const admin = postgres(`${pgServerUrl}/postgres`, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists "${database}" with (force)`)
  await admin.end()
  await clearRedisPrefix('redis://127.0.0.1:6379', prefix)
  rmSync(work, { recursive: true, force: true })
})

describe('the SDK and a plugin from tarballs, in a fresh copy of the gateway', () => {
  test('behavior: the SDK tarball holds the sources for Bun and built JS with declarations for everything else', () => {
    for (const file of [
      'src/index.ts',
      'src/conformance.ts',
      'src/testing.ts',
      'dist/index.js',
      'dist/index.d.ts',
    ])
      expect(sdkFiles).toContain(file)
    expect(sdkFiles.filter((f) => f.endsWith('.test.ts'))).toEqual([])
    // installed as a package of its own, not a link into a workspace
    expect(lstatSync(join(gateway, 'node_modules/@tollgate/sdk')).isSymbolicLink()).toBe(false)
    expect(lstatSync(pluginDir).isSymbolicLink()).toBe(false)
    expect(existsSync(join(gateway, 'node_modules/@tollgate/sdk/dist/index.d.ts'))).toBe(true)
  })

  test('behavior: the gateway boots the plugin named by package, and a payment on its chain completes through GraphQL', async () => {
    const created = spawnScript(
      join(gateway, 'src/cli.ts'),
      ['merchant', 'create', '--name', 'Toy shop', '--json'],
      env,
      gateway,
    )
    await created.proc.exited
    const apiKey = JSON.parse(created.output().trim().split('\n').at(-1) as string).apiKey
    const gql = graphqlClient(api.url, apiKey)

    const chains = await gql('{ chains { name chainId assets { symbol } } }')
    expect(chains.data.chains).toEqual([{ name: 'toy', chainId: 'toy:devnet', assets: [{ symbol: 'TOY' }] }])
    const res = await gql(
      `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
        ... on CreatePaymentPayload { payment { id address paymentUri status } } ... on UserError { code message } } }`,
      { input: { chain: 'toy', asset: 'TOY', amount: '1.5' } },
    )
    const payment = res.data.createPayment.payment
    expect(payment.address).toMatch(/^toy1[0-9a-f]{40}$/)
    expect(payment.paymentUri).toBe(`toy:${payment.address}?amount=1.5`)
    expect(payment.status).toBe('PENDING')

    const txHash = node.pay(payment.address, 150_000_000n)
    node.mine(1)
    const done = await waitFor(
      'the toy payment to complete',
      async () => {
        const { data } = await gql(
          'query ($id: ID!) { payment(id: $id) { status amountReceived transfers { txHash } } }',
          { id: payment.id },
        )
        return data.payment.status === 'COMPLETED' && data.payment
      },
      20_000,
    )
    expect(done.amountReceived).toBe('1.5')
    expect(done.transfers).toEqual([{ txHash }])
  })

  test("behavior: the installed plugin's own tests (the SDK's conformance suite) pass from inside its package", async () => {
    const out = await Bun.spawn(['bun', 'test'], {
      cwd: pluginDir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [stdout, stderr, code] = await Promise.all([
      new Response(out.stdout).text(),
      new Response(out.stderr).text(),
      out.exited,
    ])
    const report = `${stdout}${stderr}`
    expect(report).toContain('driver conformance (plugin API 1)')
    expect(report).toMatch(/\n\s*0 fail/)
    expect(Number(/(\d+) pass/.exec(report)?.[1])).toBeGreaterThanOrEqual(25)
    expect(code).toBe(0)
  })
})
