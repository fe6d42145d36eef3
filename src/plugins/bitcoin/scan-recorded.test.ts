/**
 * Senders against real blocks and transactions (test/fixtures/chain-data/bitcoin, see SOURCES.md), replayed by a
 * JSON-RPC server that answers like Bitcoin Core: `getblockhash`, `getblock <hash> false`, and
 * `getrawtransaction <txid> false` for the recorded transactions (else Core's -5 "No such mempool or blockchain
 * transaction", what a node without the transaction answers). Every expected sender is read from the recordings
 * themselves: the outputs the inputs spent, where the recordings hold them.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ripemd160 } from '@noble/hashes/legacy.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { isDriverError } from '@tollgate/sdk'
import { script as btcScript } from 'bitcoinjs-lib'
import { scriptToAddress } from './address.ts'
import { createBitcoinDriver } from './index.ts'
import { type BitcoinNetwork, bitcoinNetworks } from './networks.ts'
import { bitcoinOptionsSchema } from './options.ts'
import { type ParsedTransaction, parseBlock, parseTransaction } from './parse.ts'
import { createBitcoinRpc } from './rpc.ts'
import { inputAddress, resolveSenders, sendersInBlock } from './senders.ts'

const dir = join(import.meta.dir, '../../../test/fixtures/chain-data/bitcoin')
const { mainnet, testnet } = bitcoinNetworks
const silent = { debug() {}, info() {}, warn() {}, error() {} }

/** A `.hex` fixture by file-name prefix. */
function fixture(sub: 'blocks' | 'txs', prefix: string): string {
  const name = readdirSync(join(dir, sub)).find((f) => f.startsWith(prefix) && f.endsWith('.hex'))
  if (!name) expect.unreachable(`no fixture ${sub}/${prefix}*`)
  return readFileSync(join(dir, sub, name), 'utf8').trim()
}

/** BIP158's testnet-19 vectors: [height, hash, raw block, the scripts of the outputs its inputs spend, …]. */
const bip158 = (
  JSON.parse(readFileSync(join(dir, 'blocks/bip158_testnet3_blocks_testnet-19.json'), 'utf8')) as unknown[][]
)
  .slice(1)
  .map((r) => ({
    height: r[0] as number,
    hash: r[1] as string,
    hex: r[2] as string,
    spent: r[3] as string[],
  }))

type Replay = { url: string; calls: Array<{ method: string; params: unknown[] }>; stop(): void }
const replays: Replay[] = []
afterAll(() => {
  for (const r of replays) r.stop()
})

/** A Core-like JSON-RPC node over recorded raw blocks (by height) and raw transactions. */
function replay(blocks: Array<{ height: number; hex: string }>, txs: string[], network: BitcoinNetwork) {
  const hashes = new Map(blocks.map((b) => [b.height, parseBlock(b.hex, network).hash]))
  const raw = new Map(blocks.map((b) => [hashes.get(b.height) as string, b.hex]))
  const rawTxs = new Map(txs.map((hex) => [parseTransaction(hex, network).txid, hex]))
  const calls: Replay['calls'] = []
  const answer = (result: unknown) => Response.json({ result, error: null, id: 'tollgate' })
  // Core answers errors with HTTP 500 and the JSON-RPC error in the body
  const fail = (code: number, message: string) =>
    Response.json({ result: null, error: { code, message }, id: 'tollgate' }, { status: 500 })
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const { method, params } = (await req.json()) as { method: string; params: any[] }
      calls.push({ method, params })
      switch (method) {
        case 'getblockhash':
          return hashes.has(params[0]) ? answer(hashes.get(params[0])) : fail(-8, 'Block height out of range')
        case 'getblock':
          return raw.has(params[0]) ? answer(raw.get(params[0])) : fail(-5, 'Block not found')
        case 'getrawtransaction':
          return rawTxs.has(params[0])
            ? answer(rawTxs.get(params[0]))
            : fail(
                -5,
                'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.',
              )
        default:
          return fail(-32601, 'Method not found')
      }
    },
  })
  const r: Replay = { url: `http://127.0.0.1:${server.port}/`, calls, stop: () => server.stop(true) }
  replays.push(r)
  return r
}

const driverOn = (network: 'mainnet' | 'testnet', url: string) =>
  createBitcoinDriver(bitcoinOptionsSchema.parse({ network, rpcUrls: [url], timeoutMs: 5000 }), {
    chain: network,
    log: silent,
  })

/** The address of a scriptPubKey that has one. */
const addressOf = (script: Uint8Array, network: BitcoinNetwork) =>
  scriptToAddress(script, network) ?? expect.unreachable('a script without an address')

/** The address of the output an outpoint (`txid:vout`) names, among `txs`. */
const spentAddress = (txs: Map<string, ParsedTransaction>, outpoint: string, network: BitcoinNetwork) => {
  const [txid, vout] = outpoint.split(':') as [string, string]
  const out = txs.get(txid)?.outputs[Number(vout)]
  if (!out) expect.unreachable(`${outpoint} is not in the recordings`)
  return (
    scriptToAddress(Buffer.from(out.script, 'hex'), network) ??
    expect.unreachable(`${outpoint} has no address`)
  )
}

const block481829 = fixture('blocks', 'btc_mainnet_481829_')
const block542213 = fixture('blocks', 'btc_mainnet_542213_')

describe('senders of real mainnet blocks', () => {
  test('default: block 481829: transactions paid from outputs of the same block list those outputs’ addresses, in input order, once', async () => {
    const node = replay([{ height: 481829, hex: block481829 }], [], mainnet)
    const block = parseBlock(block481829, mainnet)
    const byTxid = new Map(block.txs.map((t) => [t.txid, t]))
    // the 121 transactions whose every input spends an output of this block: their senders are in the block
    const payers = block.txs.filter(
      (t) => !t.coinbase && t.prevouts.every((p) => byTxid.has(p.split(':')[0] as string)),
    )
    expect(payers.length).toBe(121)
    const watch = new Set(payers.flatMap((t) => t.outputs.filter((o) => o.value > 0n).map((o) => o.script)))
    const result = await driverOn('mainnet', node.url).scan({ from: 481829n, to: 481829n, watch })
    const want = new Map(
      payers.map((t) => [t.txid, [...new Set(t.prevouts.map((p) => spentAddress(byTxid, p, mainnet)))]]),
    )
    const paid = new Set(result.transfers.map((t) => t.txHash))
    for (const t of result.transfers)
      if (want.has(t.txHash)) expect(t.senders, t.txHash).toEqual(want.get(t.txHash)!)
    expect(payers.every((t) => paid.has(t.txid))).toBe(true)
    // two inputs of two addresses: 65b7…5239 spends 1KhR… (8900…6dbc:0) and 1xoS… (c7a1…99a3:1)
    const two = result.transfers.find(
      (t) => t.txHash === '65b72f19a57ee53be90afbc84f6be7ffe8156ea65ca3bc01a8c364806fd15239',
    )
    expect(two?.senders).toEqual([
      spentAddress(byTxid, '89003d88b8009dcc4b949222cce85f520b8b3d2e1a45301f3830d369e6036dbc:0', mainnet),
      spentAddress(byTxid, 'c7a1aa9b7a41d75136b0818df5733ec160499b95dacfe5175ef39ff992bd99a3:1', mainnet),
    ])
    expect(new Set(two?.senders).size).toBe(2)
    // three spend P2SH multisig outputs (the scriptSig does not tell): read from the block, not the node
    const multisig = result.transfers.find(
      (t) => t.txHash === 'add3f5f94e7be407b6a9dd0f5a241170ed0d48500379386e5db0499c17bc3cd7',
    )
    expect(multisig?.senders).toEqual(['39ZtHA2H1Mcz5LhxhEfSp7pRvvFgv6grq4'])
    expect(node.calls.map((c) => c.method)).toEqual(['getblockhash', 'getblock'])
  })

  test('behavior: block 542213: the P2SH-P2WPKH payer is the P2SH address of its redeem script, which holds hash160 of the witness key', async () => {
    const node = replay([{ height: 542213, hex: block542213 }], [], mainnet)
    const block = parseBlock(block542213, mainnet)
    const tx = block.txs.find(
      (t) => t.txid === '6c6e3849acf1b570db352dc08f7776e99c344a56fbb2f019e1865d1b6e044889',
    )!
    const input = tx.inputs[0]!
    // the recorded bytes: scriptSig = one push of 0014‖hash160(witness key), witness = [signature, key]
    const hash = ripemd160(sha256(input.witness[1]!))
    const redeem = Buffer.concat([Buffer.from([0x00, 0x14]), hash])
    expect(Buffer.from(input.scriptSig).toString('hex')).toBe(`16${redeem.toString('hex')}`)
    const p2sh = scriptToAddress(
      Buffer.concat([Buffer.from([0xa9, 0x14]), ripemd160(sha256(redeem)), Buffer.from([0x87])]),
      mainnet,
    )
    expect(p2sh).toBe('3KbN5gzgh7abayT7DJVwgTt5jvZjwEQD41')

    const watch = new Set(block.txs.flatMap((t) => t.outputs.map((o) => o.script)))
    const result = await driverOn('mainnet', node.url).scan({ from: 542213n, to: 542213n, watch })
    const senders = new Map(result.transfers.map((t) => [t.txHash, t.senders]))
    expect(senders.get(tx.txid)).toEqual([p2sh as string])
    // the coinbase spends nothing
    expect(senders.get(block.txs[0]!.txid)).toEqual([])
    expect(node.calls.some((c) => c.method === 'getrawtransaction')).toBe(false)
  })

  test('behavior: a P2TR key-path payer (no key in the witness) is read from its parent: one getrawtransaction, the parent’s output address', async () => {
    const parentHex = fixture('txs', 'btc_mainnet_p2wpkh_spend_creating_p2tr_output_')
    const childHex = fixture('txs', 'btc_mainnet_first_taproot_keypath_spend_')
    const parent = parseTransaction(parentHex, mainnet)
    const child = parseTransaction(childHex, mainnet)
    // the first taproot spend 33e7…9036 spends 5849…f1d1:1, a P2TR output the recording of 5849…f1d1 holds
    expect(child.prevouts).toEqual([`${parent.txid}:1`])
    expect(parent.outputs[1]?.address).toBe('bc1pxwww0ct9ue7e8tdnlmug5m2tamfn7q06sahstg39ys4c9f3340qqxrdu9k')
    expect(inputAddress(child.inputs[0]!, mainnet)).toBeUndefined()
    const slots = sendersInBlock(child, mainnet, () => undefined)
    expect(slots).toEqual([{ txid: parent.txid, vout: 1 }])

    const node = replay([], [parentHex], mainnet)
    const rpc = createBitcoinRpc({ urls: [node.url], timeoutMs: 5000 })
    // two payers spending the same parent: it is read once
    const senders = await resolveSenders(
      new Map([
        [child.txid, slots],
        ['00'.repeat(32), slots],
      ]),
      mainnet,
      rpc,
      { concurrency: 4 },
    )
    expect(senders.get(child.txid)).toEqual([
      'bc1pxwww0ct9ue7e8tdnlmug5m2tamfn7q06sahstg39ys4c9f3340qqxrdu9k',
    ])
    expect(node.calls).toEqual([{ method: 'getrawtransaction', params: [parent.txid, false] }])
    // and the parent's own P2WPKH input tells its address from the witness key, without a call
    expect(sendersInBlock(parent, mainnet, () => undefined)).toEqual([
      addressOf(
        Buffer.concat([Buffer.from([0x00, 0x14]), ripemd160(sha256(parent.inputs[0]!.witness[1]!))]),
        mainnet,
      ),
    ])
  })

  test('behavior: recorded legacy P2PKH and P2WSH multisig spends: the scriptSig key tells one, the other needs its parent', () => {
    const legacy = parseTransaction(fixture('txs', 'btc_mainnet_legacy_p2pkh_'), mainnet)
    const input = legacy.inputs[0]!
    const key = btcScript.decompile(input.scriptSig)?.[1] as Uint8Array
    expect(sendersInBlock(legacy, mainnet, () => undefined)).toEqual([
      addressOf(
        Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), ripemd160(sha256(key)), Buffer.from([0x88, 0xac])]),
        mainnet,
      ),
    ])
    const multisig = parseTransaction(fixture('txs', 'btc_mainnet_p2wsh_2of3_multisig_spend_'), mainnet)
    expect(sendersInBlock(multisig, mainnet, () => undefined)).toEqual([
      { txid: '8a7136ef50ecb66083c24c7daa159308d003d8186ea68875dba0e7bb8f54971f', vout: 1 },
    ])
  })

  test('error: a parent the node does not have (no transaction index) fails with a non-retryable TX_INDEX_REQUIRED; a wrong answer with a retryable BAD_TX_DATA', async () => {
    const multisig = parseTransaction(fixture('txs', 'btc_mainnet_p2wsh_2of3_multisig_spend_'), mainnet)
    const slots = new Map([[multisig.txid, sendersInBlock(multisig, mainnet, () => undefined)]])
    const empty = replay([], [], mainnet)
    const err = await resolveSenders(
      slots,
      mainnet,
      createBitcoinRpc({ urls: [empty.url], timeoutMs: 5000 }),
      {
        concurrency: 2,
      },
    ).catch((e: unknown) => e)
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'TX_INDEX_REQUIRED', retryable: false })
    expect((err as Error).message).toContain(
      '8a7136ef50ecb66083c24c7daa159308d003d8186ea68875dba0e7bb8f54971f',
    )

    // a node answering another transaction for the txid asked
    const liar = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () =>
        Response.json({ result: fixture('txs', 'btc_mainnet_legacy_p2pkh_'), error: null, id: 'x' }),
    })
    try {
      const wrong = await resolveSenders(
        slots,
        mainnet,
        createBitcoinRpc({ urls: [`http://127.0.0.1:${liar.port}/`], timeoutMs: 5000 }),
        { concurrency: 2 },
      ).catch((e: unknown) => e)
      expect(wrong).toMatchObject({ name: 'DriverError', code: 'BAD_TX_DATA', retryable: true })
    } finally {
      liar.stop(true)
    }
  })
})

describe('senders of real testnet blocks (BIP158 vectors list the scripts every input spent)', () => {
  test('default: every input that proves its address proves the address of the output it really spent', () => {
    let proved = 0
    let left = 0
    for (const row of bip158) {
      const block = parseBlock(row.hex, testnet)
      const inputs = block.txs.flatMap((t) => t.inputs)
      expect(inputs.length).toBe(row.spent.length)
      inputs.forEach((input, i) => {
        const address = inputAddress(input, testnet)
        const real = scriptToAddress(Buffer.from(row.spent[i] as string, 'hex'), testnet)
        if (address === undefined) left++
        else {
          expect(address).toBe(real as string)
          proved++
        }
      })
    }
    // 15 of 25 inputs (P2PKH, P2SH-wrapped segwit); bare multisig, empty scripts and a P2WSH need their parent
    expect([proved, left]).toEqual([15, 10])
  })

  test('behavior: block 926485 scanned: each transaction’s senders are the addresses of the scripts it spent, once, in input order', async () => {
    const row = bip158.find((r) => r.height === 926485)!
    const node = replay([row], [], testnet)
    const block = parseBlock(row.hex, testnet)
    const watch = new Set(
      block.txs.flatMap((t) => t.outputs.filter((o) => o.value > 0n).map((o) => o.script)),
    )
    const result = await driverOn('testnet', node.url).scan({ from: 926485n, to: 926485n, watch })
    let at = 0
    const want = new Map(
      block.txs.map((t) => {
        const spent = row.spent.slice(at, at + t.inputs.length)
        at += t.inputs.length
        return [t.txid, [...new Set(spent.map((s) => scriptToAddress(Buffer.from(s, 'hex'), testnet)))]]
      }),
    )
    expect(result.transfers.length).toBeGreaterThan(block.txs.length)
    for (const t of result.transfers) expect(t.senders, t.txHash).toEqual(want.get(t.txHash) as string[])
    // one address spent through several inputs (the vector's "duplicate pushdata" 913bcc…) is listed once
    const repeated = block.txs.find((t) => t.inputs.length > 2)!
    expect(result.transfers.find((t) => t.txHash === repeated.txid)?.senders).toEqual([
      addressOf(Buffer.from('76a914913bcc2be49cb534c20474c4dee1e9c4c317e7eb88ac', 'hex'), testnet) as string,
    ])
    expect(node.calls.map((c) => c.method)).toEqual(['getblockhash', 'getblock'])
  })

  test('error: block 1263442 pays from a P2WSH output the node cannot read: the scan fails with TX_INDEX_REQUIRED, never an empty list', async () => {
    const row = bip158.find((r) => r.height === 1263442)!
    const node = replay([row], [], testnet)
    const block = parseBlock(row.hex, testnet)
    const watch = new Set(
      block.txs.flatMap((t) => t.outputs.filter((o) => o.value > 0n).map((o) => o.script)),
    )
    const driver = driverOn('testnet', node.url)
    await expect(driver.scan({ from: 1263442n, to: 1263442n, watch })).rejects.toMatchObject({
      name: 'DriverError',
      code: 'TX_INDEX_REQUIRED',
      retryable: false,
    })
    const spending = block.txs.find((t) => !t.coinbase)!
    expect(node.calls.at(-1)).toEqual({
      method: 'getrawtransaction',
      params: [spending.prevouts[0]!.split(':')[0], false],
    })
    // watching only the coinbase: nothing to read, no call
    const coinbaseOnly = new Set([block.txs[0]!.outputs.find((o) => o.value > 0n)!.script])
    const result = await driver.scan({ from: 1263442n, to: 1263442n, watch: coinbaseOnly })
    expect(result.transfers.map((t) => t.senders)).toEqual([[]])
  })
})
