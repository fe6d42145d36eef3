import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Subprocess } from 'bun'

/**
 * What the devnet helpers throw: anvil missing or not starting, or the devnet refusing a JSON-RPC call.
 *
 * @example
 * throw new DevnetError('ANVIL_DID_NOT_START', 'anvil did not start on port 8545: address already in use')
 */
export class DevnetError extends Error {
  readonly code: 'ANVIL_NOT_INSTALLED' | 'ANVIL_DID_NOT_START' | 'RPC_ERROR'
  constructor(code: DevnetError['code'], message: string) {
    super(message)
    this.name = 'DevnetError'
    this.code = code
  }
}

/** Path of the anvil binary shipped in the platform package of `@foundry-rs/anvil`. */
export function anvilBinary(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}/package.json`
  try {
    return join(dirname(createRequire(import.meta.url).resolve(pkg)), 'bin', 'anvil')
  } catch {
    throw new DevnetError(
      'ANVIL_NOT_INSTALLED',
      `anvil is not installed for ${process.platform}-${arch} (bun install installs ${pkg})`,
    )
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
      throw new DevnetError(
        'ANVIL_DID_NOT_START',
        `anvil did not start on port ${port}: ${stderr.trim().slice(0, 500)}`,
      )
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

/** Written by `tollgate dev` for `bun run demo`: the sandbox's GraphQL URL, its demo API key and devnet RPC. */
export const devSandboxFile = '.tollgate/dev-sandbox.json'

/** anvil's well-known development mnemonic: its accounts are prefunded on every anvil devnet. */
export const anvilMnemonic = 'test test test test test test test test test test test junk'
/** Where anvil's first account deploys its first contract; the default config lists the devnet USDT there. */
export const devTokenAddress = '0x5FbDB2315678afecb367f032d93F642f64180aa3'

/**
 * Deploys the devnet's test USDT (6 decimals) from anvil's account 0 when nothing is at `devTokenAddress` yet,
 * and gives anvil's accounts 1–3 a million each. Devnet only: it signs with anvil's public development keys.
 *
 * @example
 * await deployDevToken('http://127.0.0.1:8545')
 */
export async function deployDevToken(rpcUrl: string): Promise<boolean> {
  const { createPublicClient, createWalletClient, http, parseAbi } = await import('viem')
  const { mnemonicToAccount } = await import('viem/accounts')
  const { foundry } = await import('viem/chains')
  const token = (await import('../contracts/TestToken.json')).default
  const chain = { ...foundry, rpcUrls: { default: { http: [rpcUrl] } } }
  const client = createPublicClient({ chain, transport: http(rpcUrl) })
  if ((await client.getCode({ address: devTokenAddress })) !== undefined) return false
  const deployer = mnemonicToAccount(anvilMnemonic, { addressIndex: 0 })
  if ((await client.getTransactionCount({ address: deployer.address })) !== 0) return false
  const wallet = createWalletClient({ account: deployer, chain, transport: http(rpcUrl) })
  const hash = await wallet.deployContract({
    abi: token.abi,
    bytecode: token.bytecode as `0x${string}`,
    args: ['Tether USD (devnet)', 'USDT', 6],
  })
  await client.waitForTransactionReceipt({ hash, pollingInterval: 100 })
  const abi = parseAbi(['function mint(address to, uint256 value)'])
  for (const addressIndex of [1, 2, 3]) {
    const to = mnemonicToAccount(anvilMnemonic, { addressIndex }).address
    const minted = await wallet.writeContract({
      address: devTokenAddress,
      abi,
      functionName: 'mint',
      args: [to, 10n ** 12n],
    })
    await client.waitForTransactionReceipt({ hash: minted, pollingInterval: 100 })
  }
  return true
}

/**
 * Sandbox only: gives a gateway wallet (the gas tank) 10 devnet ETH when it has less than 1, so token sweeps work
 * from the first payment. The reconciliation books it as the operator's funding, as it would a real top-up.
 *
 * @example
 * await fundDevWallet('http://127.0.0.1:8545', gasTankAddress)
 */
export async function fundDevWallet(rpcUrl: string, address: string): Promise<boolean> {
  const call = async (method: string, params: unknown[]) => {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    })
    const body = (await res.json()) as { result?: string; error?: { message: string } }
    if (body.error) throw new DevnetError('RPC_ERROR', `${method}: ${body.error.message}`)
    return body.result
  }
  const balance = BigInt((await call('eth_getBalance', [address, 'latest'])) ?? '0x0')
  if (balance >= 10n ** 18n) return false
  await call('anvil_setBalance', [address, `0x${(10n * 10n ** 18n).toString(16)}`])
  return true
}
