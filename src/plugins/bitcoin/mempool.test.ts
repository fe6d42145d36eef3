import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import type { MempoolReader, PendingTransfer, Transfer } from '@tollgate/sdk'
import { script as btcScript, Transaction } from 'bitcoinjs-lib'
import { type Bcoin, regtestKey, startBcoin } from '../../../test/helpers/bcoin.ts'
import { bitcoinAddressKey, scriptToAddress } from './address.ts'
import { type BitcoinDriver, createBitcoinDriver } from './index.ts'
import { bitcoinNetworks } from './networks.ts'
import { bitcoinOptionsSchema } from './options.ts'
import { parseTransaction } from './parse.ts'

const regtest = bitcoinNetworks.regtest
const silent = { debug() {}, info() {}, warn() {}, error() {} }

let node: Bcoin
let driver: BitcoinDriver

function driverFor(url: string): BitcoinDriver {
  return createBitcoinDriver(
    bitcoinOptionsSchema.parse({ network: 'regtest', rpcUrls: [url], timeoutMs: 5000 }),
    { chain: 'regtest', log: silent },
  )
}

const mempoolOf = (d: BitcoinDriver) => d.mempool as MempoolReader

beforeAll(async () => {
  node = await startBcoin()
  driver = driverFor(node.url)
})
afterAll(async () => {
  await node?.stop()
})

/** A fresh deposit address and its key (scriptPubKey hex) for the watch set. */
function deposit(label: string) {
  const { address } = regtestKey(`mempool deposit ${label}`)
  return { address, key: bitcoinAddressKey(address, regtest) }
}

/** The first outpoint a signed transaction spends. */
const spentBy = (raw: string) => parseTransaction(raw, regtest).prevouts

/** What the block scan reports for `height`, as a pending transfer (no block, with the outpoints it spends). */
async function scannedAsPending(
  height: bigint,
  watch: ReadonlySet<string>,
  spends: Record<string, string[]>,
) {
  const { transfers } = await driver.scan({ from: height, to: height, watch })
  return transfers.map(
    ({ block: _block, ...t }: Transfer): PendingTransfer => ({
      ...t,
      spends: spends[t.txHash] as string[],
    }),
  )
}

/** A JSON-RPC proxy in front of the node that records each call (method and params). */
function countingProxy() {
  const calls: Array<{ method: string; params: unknown[] }> = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const body = await req.text()
      const { method, params } = JSON.parse(body) as { method: string; params?: unknown[] }
      calls.push({ method, params: params ?? [] })
      return fetch(node.bareUrl, {
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
  return { url: url.toString(), calls, stop: () => server.stop(true) }
}

/** A 1-of-1 P2WSH lock (<key> OP_CHECKSIG): a payer only its parent transaction tells. */
function p2wshOf(label: string) {
  const key = regtestKey(label)
  const witnessScript = Buffer.concat([Buffer.from([0x21]), Buffer.from(key.publicKey), Buffer.from([0xac])])
  const script = Buffer.concat([Buffer.from([0x00, 0x20]), Buffer.from(sha256(witnessScript))])
  const address = scriptToAddress(script, regtest) as string
  /** Signs a spend of the coin `txid:vout` (`value` sats) to `to`, less a 10 000 sat fee. */
  const spend = (coin: { txid: string; vout: number; value: bigint }, to: string) => {
    const tx = new Transaction()
    tx.version = 2
    tx.addInput(Buffer.from(coin.txid, 'hex').reverse(), coin.vout)
    tx.addOutput(Buffer.from(bitcoinAddressKey(to, regtest), 'hex'), coin.value - 10_000n)
    const digest = tx.hashForWitnessV0(0, witnessScript, coin.value, Transaction.SIGHASH_ALL)
    const sig = secp256k1.sign(digest, key.privateKey, { prehash: false, lowS: true })
    tx.setWitness(0, [btcScript.signature.encode(sig, Transaction.SIGHASH_ALL), witnessScript])
    return { txid: tx.getId(), raw: tx.toHex() }
  }
  return { address, spend }
}

describe('mempool pending', () => {
  test('default: a broadcast payment is reported with the transfers the block scan reports once it is mined', async () => {
    const mempool = mempoolOf(driver)
    const a = deposit('scan a')
    const b = deposit('scan b')
    const watch = new Set([a.key, b.key])
    const signed = await node.sign([
      { address: regtestKey('mempool unwatched').address, amount: 1_000n },
      { address: a.address, amount: 150_000n },
      { address: b.address, amount: 2_500n },
      { address: a.address, amount: 7n },
    ])
    await node.broadcast(signed.raw)
    const pending = await mempool.pending(watch)
    const spends = spentBy(signed.raw)
    expect(pending.map((p) => [p.txHash, p.index, p.to, p.amount, p.senders, p.spends])).toEqual([
      [signed.txid, 1, a.key, 150_000n, [node.faucet.address], spends],
      [signed.txid, 2, b.key, 2_500n, [node.faucet.address], spends],
      [signed.txid, 3, a.key, 7n, [node.faucet.address], spends],
    ])
    const asked = [{ txHash: signed.txid, spends, to: [a.key, b.key] }]
    expect(await mempool.fate(asked)).toEqual(new Map([[signed.txid, { state: 'pending' }]]))

    await node.mine(1)
    const height = BigInt(await node.height())
    expect(pending).toEqual(await scannedAsPending(height, watch, { [signed.txid]: spends }))
    expect(await mempool.pending(watch)).toEqual([])
    expect(await mempool.fate(asked)).toEqual(new Map([[signed.txid, { state: 'mined' }]]))
    // a reader that never saw it (a restarted process) finds it through the node's transaction index
    expect(await mempoolOf(driverFor(node.url)).fate(asked)).toEqual(
      new Map([[signed.txid, { state: 'mined' }]]),
    )
  })

  test('behavior: a payer only the parent tells (P2WSH) is read from its parent in the mempool, as the scan reads it', async () => {
    const payer = p2wshOf('mempool payer p2wsh')
    const to = deposit('p2wsh')
    const watch = new Set([to.key])
    // both the funding of the P2WSH coin and its spend wait in the mempool
    const funding = await node.send(payer.address, 300_000n)
    const paid = payer.spend({ txid: funding.txid, vout: funding.vout, value: 300_000n }, to.address)
    await node.broadcast(paid.raw)
    const pending = await mempoolOf(driver).pending(watch)
    expect(pending.map((p) => [p.txHash, p.amount, p.senders, p.spends])).toEqual([
      [paid.txid, 290_000n, [payer.address], [`${funding.txid}:0`]],
    ])
    await node.mine(1)
    const height = BigInt(await node.height())
    expect(pending).toEqual(await scannedAsPending(height, watch, { [paid.txid]: [`${funding.txid}:0`] }))
  })

  test('behavior: a second poll with nothing new fetches no transaction; only the new one is fetched later', async () => {
    const proxy = countingProxy()
    try {
      const mempool = mempoolOf(driverFor(proxy.url))
      const to = deposit('idle')
      const watch = new Set([to.key])
      const first = await node.send(to.address, 40_000n)
      await node.send(regtestKey('mempool idle other').address, 41_000n)
      expect((await mempool.pending(watch)).map((p) => p.txHash)).toEqual([first.txid])
      expect(proxy.calls.filter((c) => c.method === 'getrawtransaction').length).toBe(2)

      proxy.calls.length = 0
      expect((await mempool.pending(watch)).map((p) => p.txHash)).toEqual([first.txid])
      expect(proxy.calls.map((c) => c.method)).toEqual(['getrawmempool'])

      proxy.calls.length = 0
      const third = await node.send(regtestKey('mempool idle third').address, 42_000n)
      expect((await mempool.pending(watch)).map((p) => p.txHash)).toEqual([first.txid])
      expect(proxy.calls).toEqual([
        { method: 'getrawmempool', params: [] },
        { method: 'getrawtransaction', params: [third.txid, false] },
      ])
      await node.mine(1)
    } finally {
      proxy.stop()
    }
  })

  test('behavior: a transaction seen before its key was watched is found once the key is', async () => {
    const proxy = countingProxy()
    try {
      const mempool = mempoolOf(driverFor(proxy.url))
      const early = deposit('early')
      const late = deposit('late')
      const sent = await node.send(late.address, 55_000n)
      expect(await mempool.pending(new Set([early.key]))).toEqual([])

      proxy.calls.length = 0
      const pending = await mempool.pending(new Set([early.key, late.key]))
      expect(pending.map((p) => [p.txHash, p.index, p.to, p.amount, p.senders])).toEqual([
        [sent.txid, 0, late.key, 55_000n, [node.faucet.address]],
      ])
      // one read of the transaction for its value and inputs, none of the rest of the mempool
      expect(proxy.calls).toEqual([
        { method: 'getrawmempool', params: [] },
        { method: 'getrawtransaction', params: [sent.txid, false] },
      ])
      // a watch set larger than the mempool's outputs finds it the same way
      const many = new Set([late.key, ...Array.from({ length: 500 }, (_, i) => deposit(`many ${i}`).key)])
      expect((await mempool.pending(many)).map((p) => p.txHash)).toEqual([sent.txid])
      await node.mine(1)
    } finally {
      proxy.stop()
    }
  })
})

describe('mempool fate', () => {
  test('behavior: an RBF fee bump paying the same address is replaced by it, and the bump is reported pending; once it is mined, the original reads double-spent', async () => {
    const mempool = mempoolOf(driver)
    const to = deposit('bump')
    const watch = new Set([to.key])
    await node.mine(1)
    const coin = await node.takeCoin()
    const original = node.signSpend(coin, [{ address: to.address, amount: 80_000n }], { rbf: true })
    await node.broadcast(original.raw)
    const [seen] = await mempool.pending(watch)
    expect(seen).toMatchObject({ txHash: original.txid, to: to.key, amount: 80_000n })

    await node.clearMempool()
    const bump = node.signSpend(coin, [{ address: to.address, amount: 80_000n }], { rbf: true, fee: 20_000n })
    await node.broadcast(bump.raw)
    const asked = [{ txHash: original.txid, spends: seen!.spends, to: [to.key] }]
    expect(await mempool.fate(asked)).toEqual(
      new Map([[original.txid, { state: 'replaced', by: bump.txid }]]),
    )
    expect((await mempool.pending(watch)).map((p) => [p.txHash, p.index, p.amount, p.spends])).toEqual([
      [bump.txid, 0, 80_000n, seen!.spends],
    ])

    await node.mine(1)
    expect(await mempool.fate(asked)).toEqual(new Map([[original.txid, { state: 'double_spent', by: null }]]))
    expect(await mempool.fate([{ txHash: bump.txid, spends: seen!.spends, to: [to.key] }])).toEqual(
      new Map([[bump.txid, { state: 'mined' }]]),
    )
  })

  test('behavior: a replacement paying elsewhere double-spends the payment (by its txid)', async () => {
    const mempool = mempoolOf(driver)
    const to = deposit('double spent')
    await node.mine(1)
    const coin = await node.takeCoin()
    const payment = node.signSpend(coin, [{ address: to.address, amount: 60_000n }], { rbf: true })
    await node.broadcast(payment.raw)
    const [seen] = await mempool.pending(new Set([to.key]))
    expect(seen?.txHash).toBe(payment.txid)

    await node.clearMempool()
    const elsewhere = node.signSpend(
      coin,
      [{ address: regtestKey('mempool thief').address, amount: 60_000n }],
      {
        rbf: true,
        fee: 20_000n,
      },
    )
    await node.broadcast(elsewhere.raw)
    const fates = await mempool.fate([{ txHash: payment.txid, spends: seen!.spends, to: [to.key] }])
    expect(fates).toEqual(new Map([[payment.txid, { state: 'double_spent', by: elsewhere.txid }]]))
    expect(await mempool.pending(new Set([to.key]))).toEqual([])
    await node.mine(1)
  })

  test('behavior: a payment gone from the mempool with its input unspent is dropped', async () => {
    const mempool = mempoolOf(driver)
    const to = deposit('dropped')
    await node.mine(1)
    const sent = await node.send(to.address, 30_000n)
    const [seen] = await mempool.pending(new Set([to.key]))
    expect(seen?.txHash).toBe(sent.txid)
    await node.clearMempool()
    expect(await mempool.pending(new Set([to.key]))).toEqual([])
    const fates = await mempool.fate([{ txHash: sent.txid, spends: seen!.spends, to: [to.key] }])
    expect(fates).toEqual(new Map([[sent.txid, { state: 'dropped' }]]))
    // a reader that never saw it (a restarted process) tells the same from the node alone
    const fresh = mempoolOf(driverFor(node.url))
    expect(await fresh.fate([{ txHash: sent.txid, spends: seen!.spends, to: [to.key] }])).toEqual(fates)
  })
})
