import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { freePort, gatewayMnemonic } from './chain.ts'

export const repoRoot = join(import.meta.dir, '../..')

export type GatewayProcess = {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  output: () => string
  /** SIGTERM and wait. */
  stop(): Promise<void>
  /** SIGKILL: no cleanup of any kind. */
  kill(): Promise<void>
}

/** Runs the real CLI (`bun src/cli.ts …`) with exactly the environment given. */
export function spawnCli(args: string[], env: Record<string, string>, cwd = repoRoot): GatewayProcess {
  return spawnScript(join(repoRoot, 'src/cli.ts'), args, env, cwd)
}

/** Runs a script of the repository with exactly the environment given, collecting its output. */
export function spawnScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  cwd = repoRoot,
): GatewayProcess {
  const proc = Bun.spawn(['bun', script, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let out = ''
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    const reader = stream.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      out += decoder.decode(value)
    }
  }
  drain(proc.stdout)
  drain(proc.stderr)
  return {
    proc,
    output: () => out,
    stop: async () => {
      proc.kill('SIGTERM')
      await proc.exited
    },
    kill: async () => {
      proc.kill('SIGKILL')
      await proc.exited
    },
  }
}

/** Waits until `check` passes, polling; throws with `what` after the timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(50)
  }
}

/**
 * A signer worker (`worker --role signer` with exactly `env`) running until `done` holds, asked every poll (mine a
 * block there if the chain needs one); stopped afterwards, whatever happened. Throws with its output when it exits
 * first, with `what` after `timeoutMs`.
 *
 * @example
 * await runSignerUntil(env, 'the withdrawal to confirm', async () => { await devnet.mine(1); return confirmed() })
 */
export async function runSignerUntil(
  env: Record<string, string>,
  what: string,
  done: () => Promise<boolean>,
  timeoutMs = 20_000,
) {
  const worker = spawnCli(['worker', '--role', 'signer'], env)
  try {
    await waitFor(
      what,
      async () => {
        if (worker.proc.exitCode !== null) throw new Error(`worker exited: ${worker.output()}`)
        return done()
      },
      timeoutMs,
    )
  } finally {
    await worker.stop()
  }
}

/** `serve` on a free port, once /healthz answers. */
export async function spawnApi(env: Record<string, string>, listenPort?: number) {
  const port = listenPort ?? (await freePort())
  const api = spawnCli(['serve'], { ...env, PORT: String(port), HOST: '127.0.0.1' })
  const url = `http://127.0.0.1:${port}`
  await waitFor(`API on ${url} (output: ${api.output().slice(-500)})`, async () => {
    if (api.proc.exitCode !== null) throw new Error(`serve exited: ${api.output()}`)
    return fetch(`${url}/healthz`)
      .then((r) => r.ok)
      .catch(() => false)
  })
  return { ...api, url, wsUrl: `ws://127.0.0.1:${port}/graphql` }
}

/** `worker`, once it says its workers started. */
export async function spawnWorker(env: Record<string, string>, args: string[] = []) {
  const worker = spawnCli(['worker', ...args], env)
  await waitFor('worker start', () => {
    if (worker.proc.exitCode !== null) throw new Error(`worker exited: ${worker.output()}`)
    return worker.output().includes('workers started')
  })
  return worker
}

/**
 * A merchant created with the CLI, as an operator would; returns its first API key.
 *
 * @example
 * const apiKey = await createMerchantWithCli(env, 'Shop')
 */
export async function createMerchantWithCli(env: Record<string, string>, name: string): Promise<string> {
  const created = spawnCli(['merchant', 'create', '--name', name, '--json'], env)
  await created.proc.exited
  return JSON.parse(created.output().trim().split('\n').at(-1) as string).apiKey
}

/**
 * POSTs GraphQL operations to a running API with an API key, as a merchant's backend would.
 *
 * @example
 * const gql = graphqlClient(api.url, apiKey)
 * const { data } = await gql('{ me { id } }')
 */
export function graphqlClient(url: string, apiKey: string) {
  return async (query: string, variables: Record<string, unknown> = {}): Promise<any> => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ query, variables }),
    })
    return res.json()
  }
}

/**
 * `reconcile --json` (and `args`) with exactly `env`: its exit code and its report (the last line it printed).
 *
 * @example
 * const { code, report } = await reconcileJson(env, ['--chain', 'devnet'])
 */
export async function reconcileJson(env: Record<string, string>, args: string[] = []) {
  const run = spawnCli(['reconcile', '--json', ...args], env)
  const code = await run.proc.exited
  const report = JSON.parse(run.output().trim().split('\n').at(-1)!)
  return { code, report }
}

export type SplitGateway = Awaited<ReturnType<typeof startSplitGateway>>

/**
 * The production layout as real processes: an API and a keyless chain worker (`keylessEnv`, e.g. with
 * TOLLGATE_XPUBS), and a signer (`signerEnv`, with the seed); plus a merchant made with the CLI and a GraphQL
 * client holding its key.
 *
 * @example
 * const gateway = await startSplitGateway(env, { merchant: 'Shop' })
 * afterAll(() => gateway.stop())
 */
export async function startSplitGateway(
  env: Record<string, string>,
  options: { merchant: string; keylessEnv?: Record<string, string>; signerEnv?: Record<string, string> },
) {
  const apiKey = await createMerchantWithCli(env, options.merchant)
  const keyless = options.keylessEnv ?? env
  const [api, chainWorker, signer] = await Promise.all([
    spawnApi(keyless),
    spawnWorker(keyless, ['--role', 'chain']),
    spawnWorker(options.signerEnv ?? env, ['--role', 'signer']),
  ])
  return {
    api,
    chainWorker,
    signer,
    apiKey,
    gql: graphqlClient(api.url, apiKey),
    stop: async () => {
      await Promise.all([api.stop(), chainWorker.stop(), signer.stop()])
    },
  }
}

/**
 * `startSplitGateway` with keys in one place, as production runs it: the API and the chain worker get only the
 * xpubs `xpub show` prints for `seed` (TOLLGATE_XPUBS), the signer alone gets `seed`.
 *
 * @example
 * const gateway = await startKeylessGateway(env, 'Shop')
 * afterAll(() => gateway.stop())
 */
export async function startKeylessGateway(
  env: Record<string, string>,
  merchant: string,
  seed = gatewayMnemonic,
) {
  const shown = spawnCli(['xpub', 'show'], { ...env, TOLLGATE_SEED: seed })
  await shown.proc.exited
  const xpubs = /TOLLGATE_XPUBS=(\S+)/.exec(shown.output())?.[1]
  if (!xpubs) throw new Error(`xpub show printed no TOLLGATE_XPUBS: ${shown.output()}`)
  return startSplitGateway(env, {
    merchant,
    keylessEnv: { ...env, TOLLGATE_XPUBS: xpubs },
    signerEnv: { ...env, TOLLGATE_SEED: seed },
  })
}
