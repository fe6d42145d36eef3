import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { type Devnet, gatewayMnemonic, startDevnet } from './chain.ts'
import { createTestDatabase } from './db.ts'
import { recordingWebhookReceiver } from './kyt.ts'
import { sdnListFile } from './kyt-list.ts'
import { reconcileJson, repoRoot, type SplitGateway, startKeylessGateway } from './processes.ts'

/** The two chains of the scene: `home` (chain id 31337) and `side` (31338), whose EVM addresses coincide. */
export type SceneChain = 'home' | 'side'

/**
 * The plugins config of the scene, written into `dir`: two EVM devnets of one account (so a cross-mode address
 * is the same on both), 2 confirmations, sweeps on (tokens below 5 USDT stay where they are), payout passes every
 * 200 ms, and deposits screened by the sanctions provider over the real SDN ETH list.
 */
function writeSceneConfig(dir: string, urls: Record<SceneChain, string>): string {
  const path = join(dir, 'plugins.config.ts')
  const evm = JSON.stringify(join(repoRoot, 'src/plugins/evm/index.ts'))
  const sanctions = JSON.stringify(join(repoRoot, 'src/plugins/kyt-sanctions/index.ts'))
  const chain = (id: number, name: string, url: string) => `{
    load: () => import(${evm}),
    options: {
      chain: { id: ${id}, name: '${name}', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
      rpcUrls: [${JSON.stringify(url)}],
      tokens: [{ symbol: 'USDT', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }],
      confirmations: 2,
      finalityDepth: 16,
      headPollMs: 100,
      timeoutMs: 2000,
    },
    settings: {
      startHeight: 0,
      scanIntervalMs: 500,
      sweeps: { enabled: true, minAmount: { USDT: '5' } },
      payouts: { intervalMs: 200, stuckAfterBlocks: 10 },
    },
  }`
  writeFileSync(
    path,
    `export default {
  chains: {
    home: ${chain(31337, 'Home', urls.home)},
    side: ${chain(31338, 'Side', urls.side)},
  },
  kyt: {
    sanctions: {
      load: () => import(${sanctions}),
      options: { lists: [{ asset: 'ETH', file: ${JSON.stringify(sdnListFile('ETH'))} }] },
    },
  },
}
`,
  )
  return path
}

/**
 * Mines a block on `devnet` every `everyMs` while started, as a live chain does; `pause` stops it and waits for a
 * block being mined to be done, so the test alone decides what the chain looks like next.
 */
function miner(devnet: Devnet, everyMs: number) {
  let timer: ReturnType<typeof setInterval> | undefined
  let mining: Promise<unknown> = Promise.resolve()
  return {
    start() {
      if (timer) return
      timer = setInterval(() => {
        mining = devnet.mine(1).catch(() => {})
      }, everyMs)
    },
    async pause() {
      if (timer) clearInterval(timer)
      timer = undefined
      await mining
    },
  }
}

export type CustomerDepositsScene = Awaited<ReturnType<typeof startCustomerDepositsScene>>

/**
 * The production layout as real processes (an API and a chain worker holding only xpubs, a signer holding the
 * seed) over two anvil devnets (`home`, `side`) and a fresh database, with a merchant made with the CLI and a
 * webhook receiver (`hooks`); blocks mined every 300 ms on both chains (`miners`); `reconcile` runs the
 * operator's `reconcile --json` on one chain. `stop` ends all of it.
 *
 * @example
 * const scene = await startCustomerDepositsScene('Deposit shop')
 * afterAll(() => scene.stop())
 * await scene.gateway.gql('{ depositSettings { addressMode } }')
 */
export async function startCustomerDepositsScene(merchant: string) {
  const [home, side, db] = await Promise.all([
    startDevnet(),
    startDevnet({ chainId: 31338 }),
    createTestDatabase(),
  ])
  const dir = mkdtempSync(join(tmpdir(), 'customer-deposits-'))
  const hooks = recordingWebhookReceiver()
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_PREFIX: `deposits-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_PLUGINS_CONFIG: writeSceneConfig(dir, { home: home.url, side: side.url }),
    LOG_LEVEL: 'info',
    WEBHOOK_ALLOW_PRIVATE: 'true',
  }
  const sql = postgres(db.url, { max: 2, onnotice: () => {} })
  const miners = { home: miner(home, 300), side: miner(side, 300) }
  let gateway: SplitGateway | undefined
  const stop = async () => {
    await Promise.all([miners.home.pause(), miners.side.pause()])
    await gateway?.stop()
    hooks.stop()
    await sql.end()
    await Promise.all([home.stop(), side.stop()])
    await db.drop()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    gateway = await startKeylessGateway(env, merchant)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    devnets: { home, side } as Record<SceneChain, Devnet>,
    db,
    sql,
    env,
    gateway,
    hooks,
    miners,
    /** The operator's `reconcile --json --chain <chain>`: its exit code and report. */
    reconcile: (chain: SceneChain) =>
      reconcileJson({ ...env, TOLLGATE_SEED: gatewayMnemonic }, ['--chain', chain]),
    stop,
  }
}
