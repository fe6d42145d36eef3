import type { AssetInfo, ChainDriver } from '@tollgate/sdk'
import postgres from 'postgres'
import { createSigner, newMnemonic } from '../../src/core/payouts/signer.ts'
import { roleAccountPath } from '../../src/core/payouts/wallet-roles.ts'
import tronPlugin from '../../src/plugins/tron/index.ts'
import { startTronNode, type TronNode, USDT_MAINNET } from '../tron-node/server.ts'
import { type Bcoin, startBcoin } from './bcoin.ts'
import { gatewayMnemonic } from './chain.ts'
import { createTestDatabase } from './db.ts'
import { type SplitGateway, startSplitGateway, waitFor } from './processes.ts'

type TestDatabase = Awaited<ReturnType<typeof createTestDatabase>>

/**
 * Real gateway processes (API, chain worker, signer: `startSplitGateway`) on a fresh database and a bcoin regtest
 * node past segwit activation, with test/fixtures/bitcoin.plugins.config.ts (chain `regtest`, 2 confirmations,
 * payouts batched over a 2 s window), scanning from the node's current height; plus `sql` on its database and a
 * miner (`startMining`: a block every `everyMs`, until `stopMining`). `stop` ends all of it.
 *
 * @example
 * const btc = await startBitcoinGateway('Bitcoin shop')
 * afterAll(() => btc.stop())
 * await btc.gateway.gql('{ balances { available } }')
 */
export async function startBitcoinGateway(merchant: string) {
  const [node, db] = await Promise.all([startBcoin(), createTestDatabase()])
  const started = await startGatewayOn(node, db, merchant, () => node.mine(1).catch(() => {}), {
    REDIS_PREFIX: `btc-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/bitcoin.plugins.config.ts',
    TEST_BTC_RPC_URL: node.url,
    TEST_BTC_START: String(await node.height()),
  })
  /** Waits until the gateway's deposits were consolidated into the treasury, in one confirmed sweep transaction. */
  const waitConsolidated = (what: string, timeoutMs: number) =>
    waitFor(
      what,
      async () => {
        const rows = await started.sql`select status from outbound_txs where purpose = 'sweep'`
        return rows.length === 1 && rows[0]!.status === 'confirmed'
      },
      timeoutMs,
    )
  return { ...started, waitConsolidated }
}

/**
 * Real gateway processes on a fresh database and the Tron stand-in node, with test/fixtures/tron.plugins.config.ts
 * (chains `tron`, sweeps funded by burning TRX, and `tron-delegate`, on account 10); plus a Tron driver of the
 * tests' own (`driver`), a payer outside the gateway that `pay` sends from (fund it with `node.fund` /
 * `node.mint`), `wallet` for the gateway's treasury and gas-tank addresses, and `sql` on its database. Blocks are
 * the test's to mine (`startMining`: a block every `everyMs`, until `stopMining`).
 *
 * @example
 * const tron = await startTronGateway('Tron shop')
 * tron.node.fund(tron.payer, 100_000_000n)
 * await tron.pay(payment.address, tron.driver.nativeAsset, 5_000_000n)
 */
export async function startTronGateway(merchant: string) {
  const [node, db] = await Promise.all([startTronNode(), createTestDatabase()])
  const start = String(node.head() + 1)
  const parsed = (await tronPlugin.options['~standard'].validate({
    fullHosts: [node.url],
    tokens: [{ symbol: 'USDT', address: USDT_MAINNET, decimals: 6 }],
  })) as { value: unknown }
  const driver: ChainDriver = await tronPlugin.create(parsed.value as never, {
    chain: 'payer',
    log: { debug() {}, info() {}, warn() {}, error() {} },
  })
  const started = await startGatewayOn(node, db, merchant, () => node.mine(1), {
    REDIS_PREFIX: `tron-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/tron.plugins.config.ts',
    TEST_TRON_URL: node.url,
    TEST_TRON_START: start,
  })
  const payerSigner = createSigner(newMnemonic())
  const payerPath = "m/44'/195'/0'/0/0"
  const payer = driver.deriveAddress({ xpub: payerSigner.xpub("m/44'/195'/0'"), index: 0 }).address
  /** Sends from the payer with the driver's own offline-built, signed transaction; returns its hash. */
  const pay = async (to: string, asset: AssetInfo, amount: bigint) => {
    const payouts = driver.payouts!
    const tx = await payouts.build({
      from: { address: payer, path: payerPath },
      asset,
      outputs: [{ to, amount }],
    })
    const signed = await payouts.sign(tx, { path: payerPath }, payerSigner)
    await payouts.broadcast(signed)
    return signed.hash
  }
  /** A gateway wallet's address: `account` 0 is chain `tron`, 10 is `tron-delegate`. */
  const wallet = (role: 'treasury' | 'gas', account: number) => {
    const accountPath = roleAccountPath(`m/44'/195'/${account}'`, role)
    return driver.deriveAddress({ xpub: createSigner(gatewayMnemonic).xpub(accountPath), index: 0 }).address
  }
  /** A fresh address outside the gateway (never seen by the node), e.g. a buyer's. */
  const outsider = () =>
    driver.deriveAddress({ xpub: createSigner(newMnemonic()).xpub("m/44'/195'/0'"), index: 0 }).address
  return { ...started, driver, payer, pay, wallet, outsider }
}

/**
 * `startSplitGateway` on `node` and `db` with `chainEnv` (REDIS_PREFIX, the plugins config, the node), `sql` on the
 * database and a miner calling `mineOne`; `stop` ends all of it, the node and the database too.
 */
async function startGatewayOn<Node extends Bcoin | TronNode>(
  node: Node,
  db: TestDatabase,
  merchant: string,
  mineOne: () => unknown,
  chainEnv: Record<string, string>,
) {
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    TOLLGATE_SEED: gatewayMnemonic,
    ...chainEnv,
    LOG_LEVEL: 'info',
  }
  const gateway = await startSplitGateway(env, { merchant }).catch(async (err) => {
    await Promise.all([node.stop(), db.drop()])
    throw err
  })
  const sql = postgres(db.url, { max: 1 })
  const mining = miner(mineOne)
  return {
    node,
    db,
    sql,
    env,
    gateway,
    ...mining,
    stop: () => stopAll(mining, sql, gateway, node, db),
  }
}

/** Mines with `mineOne` every `everyMs` from `startMining` until `stopMining` (or the gateway's `stop`). */
function miner(mineOne: () => unknown) {
  let timer: ReturnType<typeof setInterval> | undefined
  const stopMining = () => {
    if (timer) clearInterval(timer)
    timer = undefined
  }
  const startMining = (everyMs: number) => {
    stopMining()
    timer = setInterval(mineOne, everyMs)
  }
  return { startMining, stopMining }
}

async function stopAll(
  mining: ReturnType<typeof miner>,
  sql: postgres.Sql,
  gateway: SplitGateway,
  node: Bcoin | TronNode,
  db: TestDatabase,
) {
  mining.stopMining()
  await sql.end()
  await gateway.stop()
  await node.stop()
  await db.drop()
}
