import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { ripemd160 } from '@noble/hashes/legacy.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { isDriverError } from '@tollgate/sdk'
import { script as btcScript, Transaction } from 'bitcoinjs-lib'
import {
  type Bcoin,
  type RegtestKey,
  regtestKey,
  segwitActivationHeight,
  startBcoin,
} from '../../../test/helpers/bcoin.ts'
import { createSigner } from '../../core/payouts/signer.ts'
import { bitcoinAddressKey, scriptToAddress } from './address.ts'
import { type BitcoinDriver, createBitcoinDriver } from './index.ts'
import { bitcoinNetworks } from './networks.ts'
import { type BitcoinOptionsInput, bitcoinOptionsSchema } from './options.ts'
import { parseBlock, parseTransaction } from './parse.ts'
import { createBitcoinRpc, estimateSmartFee } from './rpc.ts'

const regtest = bitcoinNetworks.regtest
const silent = { debug() {}, info() {}, warn() {}, error() {} }

let node: Bcoin
let driver: BitcoinDriver

function driverFor(urls: string[], overrides: Partial<BitcoinOptionsInput> = {}): BitcoinDriver {
  return createBitcoinDriver(
    bitcoinOptionsSchema.parse({ network: 'regtest', rpcUrls: urls, ...overrides }),
    {
      chain: 'regtest',
      log: silent,
    },
  )
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = server.port as number
  await server.stop(true)
  return port
}

beforeAll(async () => {
  node = await startBcoin()
  driver = driverFor([node.url], { timeoutMs: 5000 })
  console.info(
    `bcoin regtest: process up in ${node.timings.startMs.toFixed(0)} ms, ${segwitActivationHeight} blocks to segwit activation in ${node.timings.segwitMs.toFixed(0)} ms`,
  )
})
afterAll(async () => {
  await node?.stop()
})

describe('bcoin harness', () => {
  test('default: segwit is active at 432 blocks, with Core’s regtest genesis and address prefixes', async () => {
    expect(await node.height()).toBe(segwitActivationHeight)
    const info = await node.rpc<any>('getblockchaininfo')
    expect(info.chain).toBe('regtest')
    expect(info.bip9_softforks.segwit.status).toBe('active')
    expect(await node.rpc('getblockhash', [0])).toBe(regtest.genesisHash)
    // bcoin parses Core-style regtest addresses, and no longer its own `rb1…`/0x3c prefixes
    expect((await node.rpc<any>('validateaddress', [node.faucet.address])).isvalid).toBe(true)
    const p2pkh = scriptToAddress(Buffer.from(`76a914${'22'.repeat(20)}88ac`, 'hex'), regtest)!
    expect(p2pkh).toMatch(/^[mn]/)
    expect((await node.rpc<any>('validateaddress', [p2pkh])).isvalid).toBe(true)
    const bcoinOwn = await node.rpc<any>('validateaddress', ['rb1qw508d6qejxtdg4y5r3zarvary0c5xw7kmdlyxh'])
    expect(bcoinOwn.isvalid).toBe(false)
    // coinbases of the 432 blocks pay the faucet
    const coinbase = parseBlock(
      await node.rpc<string>('getblock', [await node.rpc('getblockhash', [1]), false]),
      regtest,
    )
    expect(coinbase.txs[0]!.outputs[0]!.address).toBe(node.faucet.address)
  })

  test('behavior: a fresh node without segwit mining measures the activation time (432 blocks)', async () => {
    const fresh = await startBcoin({ segwit: false })
    try {
      const status = async () => (await fresh.rpc<any>('getblockchaininfo')).bip9_softforks.segwit.status
      // bcoin reports the state of the next block: BIP9 windows of 144, started at 143, locked in at 287
      expect(await status()).toBe('defined')
      const started = performance.now()
      await fresh.mine(segwitActivationHeight - 2)
      expect(await status()).toBe('locked_in')
      await fresh.mine(1) // tip 431: block 432 is the first under segwit rules
      expect(await status()).toBe('active')
      await fresh.mine(1)
      const ms = performance.now() - started
      expect((await fresh.rpc<any>('getblockchaininfo')).bip9_softforks.segwit.status).toBe('active')
      console.info(`segwit activation: ${segwitActivationHeight} blocks mined in ${ms.toFixed(0)} ms`)
      expect(ms).toBeLessThan(20_000)
    } finally {
      await fresh.stop()
    }
  })

  test('behavior: send spends a matured coinbase with a P2WPKH witness; the tx is in the mempool, then in a block', async () => {
    const to = regtestKey('harness-send').address
    const sent = await node.send(to, 123_456n)
    expect(await node.rpc<string[]>('getrawmempool')).toContain(sent.txid)
    const raw = await node.rpc<string>('getrawtransaction', [sent.txid, false])
    const tx = parseTransaction(raw, regtest)
    expect(tx.txid).toBe(sent.txid)
    expect(tx.wtxid).not.toBe(tx.txid)
    expect(tx.outputs[0]).toMatchObject({ index: 0, value: 123_456n, address: to })
    const [hash] = await node.mine(1)
    const block = parseBlock(await node.rpc<string>('getblock', [hash, false]), regtest)
    expect(block.txs.map((t) => t.txid)).toContain(sent.txid)
    expect(await node.rpc<string[]>('getrawmempool')).not.toContain(sent.txid)
  })

  test('error: a transaction the node refuses (output changed after signing) makes broadcast throw', async () => {
    const signed = await node.sign([{ address: regtestKey('a').address, amount: 1000n }])
    // 1000 sats → 1001 sats: the witness signature no longer covers the outputs
    const tampered = signed.raw.replace(/e803000000000000/, 'e903000000000000')
    expect(tampered).not.toBe(signed.raw)
    await expect(node.broadcast(tampered)).rejects.toThrow(/did not accept/)
    expect(await node.rpc<string[]>('getrawmempool')).toEqual([])
  })

  test('behavior: invalidate rewinds the tip and drops the block’s transactions from the mempool', async () => {
    const sent = await node.send(regtestKey('invalidate').address, 5000n)
    const [mined] = await node.mine(1)
    const height = await node.height()
    const { invalidated } = await node.invalidate(1)
    expect(invalidated).toEqual([mined!])
    expect(await node.height()).toBe(height - 1)
    expect(await node.rpc<string[]>('getrawmempool')).not.toContain(sent.txid)
    const [replacement] = await node.mine(1)
    expect(replacement).not.toBe(mined)
    expect(await node.rpc('getblockhash', [height])).toBe(replacement)
  })
})

describe('JSON-RPC client against bcoin', () => {
  test('default: the shared calls answer on bcoin (getblock <hash> false is the raw block)', async () => {
    const rpc = createBitcoinRpc({ urls: [node.url], timeoutMs: 5000 })
    const count = await rpc.call<number>('getblockcount')
    const best = await rpc.call<string>('getbestblockhash')
    expect(await rpc.call<string>('getblockhash', [count])).toBe(best)
    const raw = await rpc.call<string>('getblock', [best, false])
    expect(raw).toMatch(/^[0-9a-f]+$/)
    expect(parseBlock(raw, regtest).hash).toBe(best)
    const sent = await node.send(regtestKey('rpc').address, 777n)
    expect(await rpc.call<string[]>('getrawmempool')).toContain(sent.txid)
    expect(await rpc.call<string>('getrawtransaction', [sent.txid, false])).toBe(sent.raw)
    // sendrawtransaction of a signed transaction: the txid comes back
    const other = await node.sign([{ address: regtestKey('rpc2').address, amount: 888n }])
    expect(await rpc.call<string>('sendrawtransaction', [other.raw])).toBe(other.txid)
    const fee = await estimateSmartFee(rpc, 2)
    expect(fee === undefined || typeof fee === 'bigint').toBe(true)
    await node.mine(1)
  })

  test('args: credentials from user/password options work like credentials in the URL', async () => {
    const rpc = createBitcoinRpc({
      urls: [node.bareUrl],
      user: 'any',
      password: node.apiKey,
      timeoutMs: 5000,
    })
    expect(await rpc.call<number>('getblockcount')).toBe(await node.height())
    expect(rpc.endpoints).toEqual([node.bareUrl])
  })

  test('behavior: failover: a dead first URL and a 503 one are skipped, the next node answers', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/`
    const down = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () => new Response('down', { status: 503 }),
    })
    try {
      const rpc = createBitcoinRpc({
        urls: [dead, `http://127.0.0.1:${down.port}/`, node.url],
        timeoutMs: 2000,
      })
      expect(await rpc.call<number>('getblockcount')).toBe(await node.height())
      // it stays on the node that answered
      expect(await rpc.call<string>('getbestblockhash')).toMatch(/^[0-9a-f]{64}$/)
    } finally {
      down.stop(true)
    }
  })

  test('error: every URL down is a retryable RPC_ERROR; a hanging node is a retryable RPC_TIMEOUT', async () => {
    const dead = createBitcoinRpc({ urls: [`http://127.0.0.1:${await freePort()}/`], timeoutMs: 1000 })
    await expect(dead.call('getblockcount')).rejects.toMatchObject({ code: 'RPC_ERROR', retryable: true })
    const hang = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Promise<Response>(() => {}) })
    try {
      const slow = createBitcoinRpc({ urls: [`http://127.0.0.1:${hang.port}/`], timeoutMs: 200 })
      const started = performance.now()
      await expect(slow.call('getblockcount')).rejects.toMatchObject({ code: 'RPC_TIMEOUT', retryable: true })
      expect(performance.now() - started).toBeLessThan(2000)
      // the caller's signal wins over the timeout
      const patient = createBitcoinRpc({ urls: [`http://127.0.0.1:${hang.port}/`], timeoutMs: 60_000 })
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 50)
      await expect(patient.call('getblockcount', [], controller.signal)).rejects.toMatchObject({
        code: 'ABORTED',
      })
    } finally {
      hang.stop(true)
    }
  })

  test('error: a wrong API key is RPC_AUTH, an unknown method RPC_UNSUPPORTED, a bad argument RPC_REJECTED (none retryable)', async () => {
    const wrong = createBitcoinRpc({ urls: [node.bareUrl], user: 'x', password: 'wrong', timeoutMs: 2000 })
    await expect(wrong.call('getblockcount')).rejects.toMatchObject({ code: 'RPC_AUTH', retryable: false })
    const rpc = createBitcoinRpc({ urls: [node.url], timeoutMs: 2000 })
    await expect(rpc.call('nosuchmethod')).rejects.toMatchObject({
      code: 'RPC_UNSUPPORTED',
      retryable: false,
    })
    const err = await rpc.call('getblockhash', [10_000_000]).catch((e: unknown) => e)
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'RPC_REJECTED', retryable: false })
  })
})

describe('Bitcoin driver against bcoin', () => {
  test('default: getTip and getBlockRef report hash, parent and time; blocks chain by parent hash', async () => {
    const tip = await driver.getTip()
    expect(tip.height).toBe(BigInt(await node.height()))
    expect(tip.hash).toBe(await node.rpc('getbestblockhash'))
    expect(Math.abs(tip.time - Date.now() / 1000)).toBeLessThan(7200)
    expect(await driver.getBlockRef(tip.height)).toEqual(tip)
    const parent = await driver.getBlockRef(tip.height - 1n)
    expect(tip.parentHash).toBe(parent.hash)
    const genesis = await driver.getBlockRef(0n)
    expect(genesis.hash).toBe(regtest.genesisHash)
  })

  test('error: getBlockRef past the tip is a retryable BLOCK_NOT_FOUND', async () => {
    const tip = await driver.getTip()
    await expect(driver.getBlockRef(tip.height + 100n)).rejects.toMatchObject({
      name: 'DriverError',
      code: 'BLOCK_NOT_FOUND',
      retryable: true,
    })
  })

  test('behavior: scan reports each output paying a watched deposit address (vout, txid, sats), ignores others', async () => {
    const signer = createSigner('test test test test test test test test test test test junk')
    const xpub = signer.xpub(driver.accountPath)
    const a = driver.deriveAddress({ xpub, index: 0 })
    const b = driver.deriveAddress({ xpub, index: 1 })
    expect(a.address).toMatch(/^bcrt1q/)
    const unwatched = regtestKey('unwatched').address
    const signed = await node.sign([
      { address: unwatched, amount: 1_000n },
      { address: a.address, amount: 150_000n },
      { address: b.address, amount: 2_500n },
      { address: a.address, amount: 7n },
    ])
    await node.broadcast(signed.raw)
    const [hash] = await node.mine(1)
    const height = BigInt(await node.height())
    const watch = new Set([driver.addressKey(a.address), driver.addressKey(b.address)])
    const result = await driver.scan({ from: height - 2n, to: height, watch })
    expect(result.blocks.map((r) => r.height)).toEqual([height - 2n, height - 1n, height])
    expect(result.blocks[2]!.hash).toBe(hash!)
    expect(result.blocks[2]!.parentHash).toBe(result.blocks[1]!.hash)
    const block = result.blocks[2]!
    const asset = driver.nativeAsset.id
    // the faucet's matured coinbase paid them all
    const senders = [node.faucet.address]
    expect(result.transfers).toEqual([
      {
        txHash: signed.txid,
        index: 1,
        block,
        asset,
        to: driver.addressKey(a.address),
        senders,
        amount: 150_000n,
      },
      {
        txHash: signed.txid,
        index: 2,
        block,
        asset,
        to: driver.addressKey(b.address),
        senders,
        amount: 2_500n,
      },
      { txHash: signed.txid, index: 3, block, asset, to: driver.addressKey(a.address), senders, amount: 7n },
    ])
    expect(result.spends).toBeUndefined()
  })

  test('behavior: a taproot (bech32m) output is validated, keyed and detected', async () => {
    const p2tr = scriptToAddress(Buffer.from(`5120${'5a'.repeat(32)}`, 'hex'), regtest)!
    expect(p2tr).toMatch(/^bcrt1p/)
    expect(driver.validateAddress(p2tr.toUpperCase())).toEqual({ ok: true, normalized: p2tr })
    const sent = await node.send(p2tr, 42_000n)
    await node.mine(1)
    const height = BigInt(await node.height())
    const result = await driver.scan({
      from: height,
      to: height,
      watch: new Set([bitcoinAddressKey(p2tr, regtest)]),
    })
    expect(result.transfers.map((t) => [t.txHash, t.index, t.amount, t.to])).toEqual([
      [sent.txid, 0, 42_000n, `5120${'5a'.repeat(32)}`],
    ])
  })

  test('behavior: with watchOutpoints, scan reports spends of owned outpoints with their block', async () => {
    const funding = await node.send(regtestKey('owned').address, 50_000n)
    await node.mine(1)
    // the faucet coinbase this transaction spends plays the owned outpoint; its own new output is unspent
    const fundingTx = parseTransaction(funding.raw, regtest)
    const spentCoinbase = fundingTx.prevouts[0]!
    const height = BigInt(await node.height())
    const result = await driver.scan({
      from: height,
      to: height,
      watch: new Set(),
      watchOutpoints: new Set([spentCoinbase, `${funding.txid}:0`]),
    })
    expect(result.transfers).toEqual([])
    expect(result.spends).toEqual([
      { outpoint: spentCoinbase, txid: funding.txid, inputIndex: 0, block: result.blocks[0]! },
    ])
  })

  test('behavior: after invalidateblock and a competing block, the height has a new hash and the transfer is gone', async () => {
    const key = regtestKey('reorged')
    const watch = new Set([bitcoinAddressKey(key.address, regtest)])
    const sent = await node.send(key.address, 9_999n)
    const [first] = await node.mine(1)
    const height = BigInt(await node.height())
    const before = await driver.scan({ from: height, to: height, watch })
    expect(before.transfers.map((t) => t.txHash)).toEqual([sent.txid])
    await node.invalidate(1)
    const [second] = await node.mine(1)
    expect(second).not.toBe(first)
    const after = await driver.scan({ from: height, to: height, watch })
    expect(after.blocks[0]!.hash).toBe(second!)
    expect(after.blocks[0]!.parentHash).toBe(before.blocks[0]!.parentHash)
    expect(after.transfers).toEqual([])
  })

  test('behavior: scanning the whole chain from genesis links every block and returns every ref', async () => {
    const tip = await driver.getTip()
    const started = performance.now()
    const result = await driver.scan({
      from: 0n,
      to: tip.height,
      watch: new Set([Buffer.from(node.faucet.script).toString('hex')]),
    })
    const ms = performance.now() - started
    expect(result.blocks.length).toBe(Number(tip.height) + 1)
    expect(result.blocks.at(-1)).toEqual(tip)
    // every coinbase paid the faucet except the genesis block's
    expect(result.transfers.filter((t) => t.index === 0).length).toBeGreaterThanOrEqual(
      segwitActivationHeight,
    )
    console.info(`scan of ${result.blocks.length} regtest blocks: ${ms.toFixed(0)} ms`)
  })

  test('error: a dead node fails scan and getTip with retryable DriverErrors; an aborted scan is ABORTED', async () => {
    const dead = driverFor([`http://127.0.0.1:${await freePort()}/`], { timeoutMs: 500 })
    await expect(dead.getTip()).rejects.toMatchObject({ code: 'RPC_ERROR', retryable: true })
    await expect(dead.scan({ from: 1n, to: 2n, watch: new Set() })).rejects.toMatchObject({ retryable: true })
    await expect(
      driver.scan({ from: 1n, to: 1n, watch: new Set(), signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: 'ABORTED' })
    expect(await driver.scan({ from: 5n, to: 4n, watch: new Set() })).toEqual({ transfers: [], blocks: [] })
  })

  test('behavior: watchHeads reports new heights from polling', async () => {
    const heads: bigint[] = []
    const polling = driverFor([node.url], { headPollMs: 50 })
    const stop = polling.watchHeads!((h) => heads.push(h))
    try {
      const deadline = Date.now() + 3000
      while (heads.length === 0 && Date.now() < deadline) await Bun.sleep(20)
      const start = BigInt(await node.height())
      expect(heads.at(-1)).toBe(start)
      await node.mine(2)
      while (heads.at(-1) !== start + 2n && Date.now() < deadline) await Bun.sleep(20)
      expect(heads.at(-1)).toBe(start + 2n)
    } finally {
      stop()
    }
  })
})

/** How a test key locks a coin: the output types whose spends the sender rules tell apart. */
type Lock = 'p2wpkh' | 'p2pkh' | 'p2sh-p2wpkh' | 'p2wsh'
type Coin = { txid: string; vout: number; value: bigint; key: RegtestKey; lock: Lock }

const hash160 = (b: Uint8Array) => ripemd160(sha256(b))
const bytes = (...parts: Array<Uint8Array | number[]>) => Buffer.concat(parts.map((p) => Buffer.from(p)))
/** The 1-of-1 witness script of a P2WSH coin: <key> OP_CHECKSIG. */
const witnessScript = (key: RegtestKey) => bytes([0x21], key.publicKey, [0xac])

/** The scriptPubKey that locks a coin of `key` the `lock` way. */
function lockScript(key: RegtestKey, lock: Lock): Buffer {
  const h = hash160(key.publicKey)
  if (lock === 'p2wpkh') return bytes([0x00, 0x14], h)
  if (lock === 'p2pkh') return bytes([0x76, 0xa9, 0x14], h, [0x88, 0xac])
  if (lock === 'p2sh-p2wpkh') return bytes([0xa9, 0x14], hash160(bytes([0x00, 0x14], h)), [0x87])
  return bytes([0x00, 0x20], sha256(witnessScript(key)))
}
const lockAddress = (key: RegtestKey, lock: Lock) => scriptToAddress(lockScript(key, lock), regtest) as string

/** Funds `key`'s `lock` address from the faucet (mined) and returns the coin. */
async function coinOf(key: RegtestKey, lock: Lock, value: bigint): Promise<Coin> {
  const sent = await node.send(lockAddress(key, lock), value)
  await node.mine(1)
  return { txid: sent.txid, vout: sent.vout, value, key, lock }
}

/** Spends `coins` (each signed by its key, SIGHASH_ALL) to `to`, less a 10 000 sat fee; broadcast and mined. */
async function spend(coins: Coin[], to: string): Promise<{ txid: string; height: bigint }> {
  const tx = new Transaction()
  tx.version = 2
  for (const c of coins) tx.addInput(Buffer.from(c.txid, 'hex').reverse(), c.vout)
  tx.addOutput(
    Buffer.from(bitcoinAddressKey(to, regtest), 'hex'),
    coins.reduce((s, c) => s + c.value, 0n) - 10_000n,
  )
  const signature = (digest: Uint8Array, key: RegtestKey) =>
    btcScript.signature.encode(
      secp256k1.sign(digest, key.privateKey, { prehash: false, lowS: true }),
      Transaction.SIGHASH_ALL,
    )
  coins.forEach((c, i) => {
    const p2pkhCode = lockScript(c.key, 'p2pkh')
    if (c.lock === 'p2pkh') {
      const sig = signature(tx.hashForSignature(i, p2pkhCode, Transaction.SIGHASH_ALL), c.key)
      tx.setInputScript(i, btcScript.compile([sig, c.key.publicKey]))
    } else if (c.lock === 'p2wsh') {
      const ws = witnessScript(c.key)
      const sig = signature(tx.hashForWitnessV0(i, ws, c.value, Transaction.SIGHASH_ALL), c.key)
      tx.setWitness(i, [sig, ws])
    } else {
      const sig = signature(tx.hashForWitnessV0(i, p2pkhCode, c.value, Transaction.SIGHASH_ALL), c.key)
      tx.setWitness(i, [sig, c.key.publicKey])
      if (c.lock === 'p2sh-p2wpkh')
        tx.setInputScript(i, btcScript.compile([bytes([0x00, 0x14], hash160(c.key.publicKey))]))
    }
  })
  const txid = await node.broadcast(tx.toHex())
  await node.mine(1)
  return { txid, height: BigInt(await node.height()) }
}

/** A JSON-RPC proxy in front of the node that records each method called. */
function countingProxy() {
  const methods: string[] = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const body = await req.text()
      methods.push((JSON.parse(body) as { method: string }).method)
      return fetch(node.url.replace(/\/\/[^@]+@/, '//'), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: req.headers.get('authorization') ?? '',
        },
        body,
      })
    },
  })
  const url = new URL(node.url)
  url.port = String(server.port)
  return { url: url.toString(), methods, stop: () => server.stop(true) }
}

describe('senders against bcoin', () => {
  const deposit = (label: string) => regtestKey(`senders deposit ${label}`).address
  const scanOne = async (height: bigint, to: string, d: BitcoinDriver = driver) =>
    (await d.scan({ from: height, to: height, watch: new Set([bitcoinAddressKey(to, regtest)]) })).transfers

  test('default: a payment from the P2WPKH faucet lists the faucet, as validateAddress normalizes it', async () => {
    const to = deposit('faucet')
    const sent = await node.send(to, 70_000n)
    await node.mine(1)
    const transfers = await scanOne(BigInt(await node.height()), to)
    expect(transfers.map((t) => [t.txHash, t.amount, t.senders])).toEqual([
      [sent.txid, 70_000n, [node.faucet.address]],
    ])
    expect(driver.validateAddress(node.faucet.address.toUpperCase())).toEqual({
      ok: true,
      normalized: node.faucet.address,
    })
  })

  test('behavior: P2WPKH, P2PKH and P2SH-P2WPKH payers are read from their inputs, without a call', async () => {
    const proxy = countingProxy()
    try {
      const viaProxy = driverFor([proxy.url], { timeoutMs: 5000 })
      for (const lock of ['p2wpkh', 'p2pkh', 'p2sh-p2wpkh'] as const) {
        const key = regtestKey(`senders payer ${lock}`)
        const coin = await coinOf(key, lock, 300_000n)
        const to = deposit(lock)
        const paid = await spend([coin], to)
        proxy.methods.length = 0
        const transfers = await scanOne(paid.height, to, viaProxy)
        expect(transfers.map((t) => [t.txHash, t.senders])).toEqual([[paid.txid, [lockAddress(key, lock)]]])
        expect(proxy.methods).toEqual(['getblockhash', 'getblock'])
      }
      expect(lockAddress(regtestKey('x'), 'p2pkh')).toMatch(/^[mn]/)
      expect(lockAddress(regtestKey('x'), 'p2sh-p2wpkh')).toMatch(/^2/)
    } finally {
      proxy.stop()
    }
  })

  test('behavior: a P2WSH payer is read from its parent with one getrawtransaction, only when it pays a watched address', async () => {
    const key = regtestKey('senders payer p2wsh')
    const coin = await coinOf(key, 'p2wsh', 300_000n)
    const to = deposit('p2wsh')
    const paid = await spend([coin], to)
    const proxy = countingProxy()
    try {
      const viaProxy = driverFor([proxy.url], { timeoutMs: 5000 })
      const transfers = await scanOne(paid.height, to, viaProxy)
      expect(transfers.map((t) => [t.txHash, t.senders])).toEqual([[paid.txid, [lockAddress(key, 'p2wsh')]]])
      expect(lockAddress(key, 'p2wsh')).toMatch(/^bcrt1q.{58}$/)
      expect(proxy.methods).toEqual(['getblockhash', 'getblock', 'getrawtransaction'])
      proxy.methods.length = 0
      // the same block, another address watched: the P2WSH spend pays nobody watched, nothing is read
      expect(await scanOne(paid.height, deposit('unused'), viaProxy)).toEqual([])
      expect(proxy.methods).toEqual(['getblockhash', 'getblock'])
    } finally {
      proxy.stop()
    }
  })

  test('behavior: two inputs from two addresses list both, in input order; two inputs of one address list it once', async () => {
    const a = regtestKey('senders two a')
    const b = regtestKey('senders two b')
    const coins = [await coinOf(a, 'p2wpkh', 200_000n), await coinOf(b, 'p2pkh', 250_000n)]
    const to = deposit('two')
    const paid = await spend(coins, to)
    const transfers = await scanOne(paid.height, to)
    expect(transfers.map((t) => [t.txHash, t.amount, t.senders])).toEqual([
      [paid.txid, 440_000n, [lockAddress(a, 'p2wpkh'), lockAddress(b, 'p2pkh')]],
    ])

    const same = [await coinOf(a, 'p2wpkh', 120_000n), await coinOf(a, 'p2wpkh', 130_000n)]
    const again = await spend(same, to)
    expect((await scanOne(again.height, to)).map((t) => t.senders)).toEqual([[lockAddress(a, 'p2wpkh')]])
  })

  test('behavior: a coinbase paying a watched address has no senders', async () => {
    const miner = regtestKey('senders miner').address
    await node.mine(1, miner)
    const transfers = await scanOne(BigInt(await node.height()), miner)
    expect(transfers.length).toBe(1)
    expect(transfers[0]!.senders).toEqual([])
  })
})
