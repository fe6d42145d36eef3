import { dirname } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { ripemd160 } from '@noble/hashes/legacy.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { script as btcScript, Transaction } from 'bitcoinjs-lib'
import { decodeBitcoinAddress } from '../../src/plugins/bitcoin/address.ts'
import { p2wpkhAddress } from '../../src/plugins/bitcoin/derive.ts'
import { bitcoinNetworks } from '../../src/plugins/bitcoin/networks.ts'
import { parseBlock } from '../../src/plugins/bitcoin/parse.ts'

const regtest = bitcoinNetworks.regtest

/** Blocks after which BIP9 segwit is active on bcoin's regtest (3 windows of 144: started, locked in, active). */
export const segwitActivationHeight = 432

/** bcoin reports coinbase outputs spendable after this many blocks. */
const coinbaseMaturity = 100

/**
 * What runs in the child `node` process: patches bcoin's regtest prefixes to Bitcoin Core's before any bcoin
 * object exists, starts an in-memory full node with its HTTP JSON-RPC on `port` and no peers, prints READY,
 * and exits when its stdin closes (the test process ended, however it ended).
 */
const childSource = `
const bcoinDir = process.env.BCOIN_DIR;
const networks = require(bcoinDir + '/lib/protocol/networks');
const r = networks.regtest;
r.keyPrefix = Object.assign({}, r.keyPrefix, {
  privkey: 0xef, xpubkey: 0x043587cf, xprivkey: 0x04358394, xpubkey58: 'tpub', xprivkey58: 'tprv', coinType: 1
});
r.addressPrefix = Object.assign({}, r.addressPrefix, { pubkeyhash: 0x6f, scripthash: 0xc4, bech32: 'bcrt' });
// no peers: nothing to dial
r.seeds = [];
const FullNode = require(bcoinDir + '/lib/node/fullnode');
const node = new FullNode({
  network: 'regtest', memory: true, workers: false, listen: false, maxOutbound: 1, indexTX: true,
  httpHost: '127.0.0.1', httpPort: Number(process.env.BCOIN_HTTP_PORT), apiKey: process.env.BCOIN_API_KEY,
  logLevel: 'error', logConsole: true
});
node.on('error', (err) => process.stderr.write('bcoin: ' + (err && err.message) + '\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
(async () => {
  await node.ensure();
  await node.open();
  // the pool must be "connected" (with no peers): its chain-reset handler throws otherwise, and that stops
  // the mempool from following an invalidateblock
  await node.connect();
  process.stdout.write('READY ' + node.network.type + ' ' + node.network.addressPrefix.bech32 + '\\n');
})().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\\n'); process.exit(1); });
`

/** A key the harness mines to and spends from: P2WPKH on regtest. */
export type RegtestKey = {
  privateKey: Uint8Array
  publicKey: Uint8Array
  address: string
  script: Uint8Array
}

/**
 * A deterministic regtest key from a label (sha256 of it as the private key).
 *
 * @example
 * regtestKey('faucet').address // 'bcrt1q…'
 */
export function regtestKey(label: string): RegtestKey {
  const privateKey = sha256(new TextEncoder().encode(`tollgate regtest key: ${label}`))
  const publicKey = secp256k1.getPublicKey(privateKey, true)
  const hash = ripemd160(sha256(publicKey))
  const script = new Uint8Array([0x00, 0x14, ...hash])
  return { privateKey, publicKey, address: p2wpkhAddress(publicKey, regtest), script }
}

export type SentTransaction = { txid: string; raw: string; vout: number }

/** A matured faucet coinbase output, for `signSpend`. */
export type FaucetCoin = { txid: string; vout: number; value: bigint }

/** BIP125: an input with an nSequence below 0xfffffffe signals that its transaction may be replaced. */
const replaceableSequence = 0xfffffffd

export type Bcoin = {
  /** RPC URL with the API key as Basic-auth password, for the driver. */
  url: string
  /** The same URL without credentials. */
  bareUrl: string
  apiKey: string
  /** The key blocks are mined to by default; its matured coinbases pay `send`. */
  faucet: RegtestKey
  /** Milliseconds the start took: process up, and (unless disabled) mining to segwit activation. */
  timings: { startMs: number; segwitMs: number }
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>
  height(): Promise<number>
  /** `generatetoaddress n address` (default: the faucet); returns the block hashes. */
  mine(n: number, address?: string): Promise<string[]>
  /** Builds and signs (without broadcasting) a P2WPKH spend of one matured faucet coinbase. */
  sign(outputs: ReadonlyArray<{ address: string; amount: bigint }>): Promise<SentTransaction>
  /** `sendrawtransaction`, then waits until the mempool holds it (bcoin does not report a rejection). */
  broadcast(raw: string): Promise<string>
  /** `sign` + `broadcast` of one output; `vout` is that output's index. */
  send(address: string, amount: bigint): Promise<SentTransaction>
  /** `invalidateblock` of the block at `tip - depth + 1` (bcoin rewinds to its parent and empties the mempool). */
  invalidate(depth: number): Promise<{ invalidated: string[] }>
  /** A matured faucet coinbase that neither `sign` nor an earlier `takeCoin` used: `signSpend` may spend it often. */
  takeCoin(): Promise<FaucetCoin>
  /**
   * Signs (without broadcasting) a P2WPKH spend of `coin` paying `outputs`, change to the faucet, `fee` sats
   * (default 10 000); `rbf` signals BIP125 replaceability on its input. Two spends of one coin conflict: a fee
   * bump paying the same outputs, or a double spend paying others.
   */
  signSpend(
    coin: FaucetCoin,
    outputs: ReadonlyArray<{ address: string; amount: bigint }>,
    options?: { fee?: bigint; rbf?: boolean },
  ): SentTransaction
  /**
   * Empties the mempool, the one way bcoin 1.0.2's RPC offers: `invalidateblock` of the tip (bcoin rewinds by
   * resetting its chain state, which clears the mempool), then a new block at that height, empty but for its
   * coinbase. The old tip's transactions leave the chain too: call it when the tip holds nothing a test needs
   * (mine a block first while the mempool is empty). bcoin has no BIP125 replacement (it refuses a conflicting
   * transaction), so clearing the mempool and broadcasting the conflict leaves what a replacing node shows.
   */
  clearMempool(): Promise<{ invalidated: string; replacement: string }>
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = server.port as number
  await server.stop(true)
  return port
}

/** Reads the child's stdout until READY (or the process dies / `timeoutMs` passes). */
async function waitReady(proc: Bun.Subprocess<'pipe', 'pipe', 'pipe'>, timeoutMs: number): Promise<string> {
  const reader = proc.stdout.getReader()
  const decoder = new TextDecoder()
  let seen = ''
  const timer = setTimeout(() => proc.kill(), timeoutMs)
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) break
      seen += decoder.decode(value)
      const line = seen.split('\n').find((l) => l.startsWith('READY'))
      if (line) return line
    }
  } finally {
    clearTimeout(timer)
    reader.releaseLock()
  }
  const stderr = await new Response(proc.stderr).text()
  throw new Error(`bcoin did not start: ${stderr || seen || `exit ${await proc.exited}`}`)
}

/**
 * Starts a bcoin 1.0.2 regtest full node in a child `node` process (in memory, JS crypto backend, RPC on a
 * free port, a random API key) with Bitcoin Core's regtest prefixes (`bcrt`, 0x6f, 0xc4, tpub/tprv, WIF 0xef),
 * then mines to segwit activation (432 blocks, to the faucet) unless `segwit: false`.
 *
 * @example
 * const node = await startBcoin()
 * afterAll(() => node.stop())
 * const { txid } = await node.send(address, 150_000n)
 */
export async function startBcoin(options: { segwit?: boolean; timeoutMs?: number } = {}): Promise<Bcoin> {
  const started = performance.now()
  const bcoinDir = dirname(require.resolve('bcoin/package.json'))
  const apiKey = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex')
  let port = 0
  let proc: Bun.Subprocess<'pipe', 'pipe', 'pipe'> | undefined
  for (let attempt = 0; attempt < 3 && !proc; attempt++) {
    port = await freePort()
    const child = Bun.spawn(['node', '-e', childSource], {
      env: {
        ...process.env,
        NODE_BACKEND: 'js',
        BCOIN_DIR: bcoinDir,
        BCOIN_HTTP_PORT: String(port),
        BCOIN_API_KEY: apiKey,
      },
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
    })
    try {
      await waitReady(child, options.timeoutMs ?? 20_000)
      proc = child
    } catch (err) {
      child.kill()
      // a port taken between the probe and the bind: try another one
      if (attempt === 2 || !/EADDRINUSE/.test(String(err))) throw err
    }
  }
  const child = proc as Bun.Subprocess<'pipe', 'pipe', 'pipe'>
  const bareUrl = `http://127.0.0.1:${port}/`
  const url = `http://x:${apiKey}@127.0.0.1:${port}/`
  const authorization = `Basic ${Buffer.from(`x:${apiKey}`).toString('base64')}`

  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(bareUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ method, params, id: 1 }),
    })
    const body = (await res.json()) as { result: T; error: { message: string; code: number } | null }
    if (body.error) throw new Error(`bcoin ${method}: ${body.error.message} (code ${body.error.code})`)
    return body.result
  }

  const faucet = regtestKey('faucet')
  /** Next height whose coinbase `sign` may spend; each coinbase is spent once. */
  let nextCoinbase = 1
  const timings = { startMs: 0, segwitMs: 0 }

  const node: Bcoin = {
    url,
    bareUrl,
    apiKey,
    faucet,
    timings,
    rpc,
    height: () => rpc<number>('getblockcount'),
    mine: (n, address = faucet.address) => rpc<string[]>('generatetoaddress', [n, address]),
    async sign(outputs) {
      const tip = await node.height()
      // a matured coinbase paying the faucet, not spent by an earlier `sign`
      let coin: { txid: string; value: bigint } | undefined
      while (!coin) {
        const height = nextCoinbase++
        if (tip + 1 - height < coinbaseMaturity)
          throw new Error(`no matured faucet coinbase left (tip ${tip}); mine more blocks`)
        const hash = await rpc<string>('getblockhash', [height])
        const block = parseBlock(await rpc<string>('getblock', [hash, false]), regtest)
        const coinbase = block.txs[0]!
        const out = coinbase.outputs[0]!
        if (out.script === Buffer.from(faucet.script).toString('hex'))
          coin = { txid: coinbase.txid, value: out.value }
      }
      const fee = 10_000n
      const total = outputs.reduce((s, o) => s + o.amount, 0n)
      if (total + fee > coin.value)
        throw new Error(`one coinbase holds ${coin.value} sats, asked ${total + fee}`)
      const tx = new Transaction()
      tx.version = 2
      tx.addInput(Buffer.from(coin.txid, 'hex').reverse(), 0)
      for (const o of outputs) {
        const decoded = decodeBitcoinAddress(o.address, regtest)
        if (!decoded.ok) throw new Error(`not a regtest address: ${o.address} (${decoded.reason})`)
        tx.addOutput(decoded.value.script, o.amount)
      }
      const change = coin.value - total - fee
      if (change > 0n) tx.addOutput(faucet.script, change)
      const hash160 = faucet.script.subarray(2)
      const scriptCode = new Uint8Array([0x76, 0xa9, 0x14, ...hash160, 0x88, 0xac])
      const digest = tx.hashForWitnessV0(0, scriptCode, coin.value, Transaction.SIGHASH_ALL)
      const signature = secp256k1.sign(digest, faucet.privateKey, { prehash: false, lowS: true })
      tx.setWitness(0, [btcScript.signature.encode(signature, Transaction.SIGHASH_ALL), faucet.publicKey])
      return { txid: tx.getId(), raw: tx.toHex(), vout: 0 }
    },
    async broadcast(raw) {
      const txid = await rpc<string>('sendrawtransaction', [raw])
      for (let i = 0; i < 50; i++) {
        if ((await rpc<string[]>('getrawmempool')).includes(txid)) return txid
        await Bun.sleep(20)
      }
      throw new Error(`bcoin did not accept ${txid} into its mempool (see its stderr)`)
    },
    async send(address, amount) {
      const signed = await node.sign([{ address, amount }])
      await node.broadcast(signed.raw)
      return signed
    },
    async invalidate(depth) {
      const tip = await node.height()
      const invalidated: string[] = []
      for (let h = tip - depth + 1; h <= tip; h++) invalidated.push(await rpc<string>('getblockhash', [h]))
      await rpc('invalidateblock', [invalidated[0]])
      return { invalidated }
    },
    async takeCoin() {
      const tip = await node.height()
      while (true) {
        const height = nextCoinbase++
        if (tip + 1 - height < coinbaseMaturity)
          throw new Error(`no matured faucet coinbase left (tip ${tip}); mine more blocks`)
        const hash = await rpc<string>('getblockhash', [height])
        const block = parseBlock(await rpc<string>('getblock', [hash, false]), regtest)
        const out = block.txs[0]!.outputs[0]!
        if (out.script === Buffer.from(faucet.script).toString('hex'))
          return { txid: block.txs[0]!.txid, vout: 0, value: out.value }
      }
    },
    signSpend(coin, outputs, options = {}) {
      const fee = options.fee ?? 10_000n
      const total = outputs.reduce((s, o) => s + o.amount, 0n)
      if (total + fee > coin.value) throw new Error(`the coin holds ${coin.value} sats, asked ${total + fee}`)
      const tx = new Transaction()
      tx.version = 2
      tx.addInput(
        Buffer.from(coin.txid, 'hex').reverse(),
        coin.vout,
        options.rbf ? replaceableSequence : undefined,
      )
      for (const o of outputs) {
        const decoded = decodeBitcoinAddress(o.address, regtest)
        if (!decoded.ok) throw new Error(`not a regtest address: ${o.address} (${decoded.reason})`)
        tx.addOutput(decoded.value.script, o.amount)
      }
      const change = coin.value - total - fee
      if (change > 0n) tx.addOutput(faucet.script, change)
      const scriptCode = new Uint8Array([0x76, 0xa9, 0x14, ...faucet.script.subarray(2), 0x88, 0xac])
      const digest = tx.hashForWitnessV0(0, scriptCode, coin.value, Transaction.SIGHASH_ALL)
      const signature = secp256k1.sign(digest, faucet.privateKey, { prehash: false, lowS: true })
      tx.setWitness(0, [btcScript.signature.encode(signature, Transaction.SIGHASH_ALL), faucet.publicKey])
      return { txid: tx.getId(), raw: tx.toHex(), vout: 0 }
    },
    async clearMempool() {
      const invalidated = await rpc<string>('getbestblockhash')
      await rpc('invalidateblock', [invalidated])
      const left = await rpc<string[]>('getrawmempool')
      if (left.length > 0) throw new Error(`invalidateblock left ${left.length} transactions in the mempool`)
      const [replacement] = await node.mine(1)
      return { invalidated, replacement: replacement! }
    },
    async stop() {
      child.stdin.end()
      child.kill()
      await child.exited
    },
  }
  timings.startMs = performance.now() - started
  if (options.segwit !== false) {
    const t = performance.now()
    try {
      await node.mine(segwitActivationHeight)
    } catch (err) {
      await node.stop()
      throw err
    }
    timings.segwitMs = performance.now() - t
  }
  return node
}

/**
 * A config with one Bitcoin regtest chain on `node`, scanned from its current height (the blocks to segwit
 * activation hold nothing for the gateway), 2 confirmations.
 *
 * @example
 * const app = await createTestApp({ config: await regtestConfig(node), env: { TOLLGATE_SEED: gatewayMnemonic } })
 */
export async function regtestConfig(node: Bcoin) {
  const { chain, defineConfig } = await import('@tollgate/sdk')
  return defineConfig({
    chains: {
      regtest: chain(
        () => import('../../src/plugins/bitcoin/index.ts'),
        { network: 'regtest', rpcUrls: [node.url], confirmations: 2, finalityDepth: 6, timeoutMs: 5000 },
        { startHeight: await node.height(), scanIntervalMs: 500 },
      ),
    },
  })
}
