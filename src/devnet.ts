import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Subprocess } from 'bun'

/** Path of the anvil binary shipped in the platform package of `@foundry-rs/anvil`. */
export function anvilBinary(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}/package.json`
  try {
    return join(dirname(createRequire(import.meta.url).resolve(pkg)), 'bin', 'anvil')
  } catch {
    throw new Error(`anvil is not installed for ${process.platform}-${arch} (bun install installs ${pkg})`)
  }
}

export type Anvil = { url: string; wsUrl: string; port: number; process: Subprocess; stop(): Promise<void> }

/**
 * Starts a local anvil devnet and waits until it answers JSON-RPC.
 *
 * @example
 * const anvil = await startAnvil({ port: 8545, blockTime: 1 })
 * await anvil.stop()
 */
export async function startAnvil(
  options: { port?: number; blockTime?: number; args?: string[] } = {},
): Promise<Anvil> {
  const port = options.port ?? 8545
  const args = [
    anvilBinary(),
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--silent',
    ...(options.args ?? []),
  ]
  if (options.blockTime) args.push('--block-time', String(options.blockTime))
  const proc = Bun.spawn(args, { stdout: 'ignore', stderr: 'pipe' })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    if (await rpcAnswers(url)) break
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill()
      const stderr = await new Response(proc.stderr).text()
      throw new Error(`anvil did not start on port ${port}: ${stderr.trim().slice(0, 500)}`)
    }
    await Bun.sleep(50)
  }
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    process: proc,
    stop: async () => {
      proc.kill()
      await proc.exited
    },
  }
}

/** True when something at `url` answers `eth_chainId`. */
export async function rpcAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(500),
    })
    return res.ok
  } catch {
    return false
  }
}
