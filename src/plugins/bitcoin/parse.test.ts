import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDriverError } from '@tollgate/sdk'
import {
  type Transaction as BitcoinjsTransaction,
  Block,
  address as bitcoinjsAddress,
  crypto as bitcoinjsCrypto,
  networks as bitcoinjsNetworks,
  Transaction,
} from 'bitcoinjs-lib'
import { scriptType } from './address.ts'
import { type BitcoinNetwork, bitcoinNetworks } from './networks.ts'
import {
  type ParsedBlock,
  type ParsedTransaction,
  parseBlock,
  parseTransaction,
  scanParseOptions,
} from './parse.ts'
import { findSpends } from './spends.ts'

const dir = join(import.meta.dir, '../../../test/fixtures/chain-data/bitcoin')
const mainnet = bitcoinNetworks.mainnet
const testnet = bitcoinNetworks.testnet

/** A `.hex` fixture by file-name prefix, with the hash its name ends with. */
function fixture(sub: 'blocks' | 'txs', prefix: string): { hex: string; id: string } {
  const name = readdirSync(join(dir, sub)).find((f) => f.startsWith(prefix) && f.endsWith('.hex'))
  if (!name) expect.unreachable(`no fixture ${sub}/${prefix}*`)
  return { hex: readFileSync(join(dir, sub, name), 'utf8').trim(), id: name.slice(-68, -4) }
}

/** Exact satoshis of a JSON number as written (`50.635175`, `1e-08`, `2.55e-05`): digits and exponent, no floats. */
function decimalToSats(text: string): bigint {
  const m = /^(\d+)(?:\.(\d+))?(?:e([-+]?\d+))?$/i.exec(text)
  if (!m) expect.unreachable(`not a decimal: ${text}`)
  const digits = BigInt(`${m[1]}${m[2] ?? ''}`)
  const shift = 8 - (m[2]?.length ?? 0) + Number(m[3] ?? 0)
  if (shift >= 0) return digits * 10n ** BigInt(shift)
  const base = 10n ** BigInt(-shift)
  if (digits % base !== 0n) expect.unreachable(`${text} has more than 8 decimals`)
  return digits / base
}

type VerboseTx = {
  txid: string
  hash: string
  hex: string
  vin: Array<{ txid?: string; vout?: number; coinbase?: string }>
  vout: Array<{ value: string; n: number; scriptPubKey: { hex: string; type: string; addresses?: string[] } }>
}
type VerboseBlock = {
  hash: string
  version: number
  previousblockhash: string
  merkleroot: string
  time: number
  bits: string
  nonce: number
  nTx: number
  tx: VerboseTx[]
}

/** Block 200000 as Bitcoin Core's `getblock 2` wrote it, with every `value` kept as its exact source text. */
function block200000(): VerboseBlock {
  const text = readFileSync(join(dir, 'rpc_json/btc_mainnet_200000_getblock_verbosity2.result.json'), 'utf8')
  return JSON.parse(text.replace(/"value": ([-+.\deE]+)/g, '"value": "$1"'))
}

const le32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b.toString('hex')
}
const rev = (h: string) => Buffer.from(h, 'hex').reverse().toString('hex')
const varint = (n: number) =>
  n < 0xfd ? n.toString(16).padStart(2, '0') : `fd${Buffer.from([n & 0xff, n >> 8]).toString('hex')}`

/** The raw block rebuilt from the verbose JSON: header fields, tx count, every transaction's `hex`. */
function rawFromVerbose(b: VerboseBlock): string {
  const header =
    le32(b.version) +
    rev(b.previousblockhash) +
    rev(b.merkleroot) +
    le32(b.time) +
    rev(b.bits) +
    le32(b.nonce)
  return header + varint(b.tx.length) + b.tx.map((t) => t.hex).join('')
}

/** A full parse without what `scanParseOptions` leaves out (wtxids, output addresses). */
function withoutDerived(block: ParsedBlock): ParsedBlock {
  return {
    ...block,
    txs: block.txs.map(({ wtxid: _, ...tx }) => ({
      ...tx,
      outputs: tx.outputs.map(({ address: _a, ...out }) => out),
    })),
  }
}

const networkOf = (fileName: string) => (fileName.includes('testnet') ? testnet : mainnet)

/** Every real block among the fixtures, raw: the `.hex` files, the BIP158 rows, and the blocks Core wrote whole. */
function fixtureBlocks(): Array<{ name: string; raw: string; network: BitcoinNetwork }> {
  const blocks: Array<{ name: string; raw: string; network: BitcoinNetwork }> = []
  for (const name of readdirSync(join(dir, 'blocks'))) {
    const text = readFileSync(join(dir, 'blocks', name), 'utf8')
    if (name.endsWith('.hex')) blocks.push({ name, raw: text.trim(), network: networkOf(name) })
    else if (name.endsWith('.json'))
      for (const row of JSON.parse(text) as unknown[][])
        if (typeof row[0] === 'number')
          blocks.push({ name: `${name} #${row[0]}`, raw: row[2] as string, network: networkOf(name) })
  }
  // a `.result.json` is a whole block; a PARTIAL one lists only some transactions (see fixtureTransactions)
  for (const name of readdirSync(join(dir, 'rpc_json')))
    if (name.endsWith('.result.json')) {
      const verbose = JSON.parse(readFileSync(join(dir, 'rpc_json', name), 'utf8')) as VerboseBlock
      blocks.push({ name, raw: rawFromVerbose(verbose), network: networkOf(name) })
    }
  return blocks
}

/** Every real transaction fixture that is not inside a fixture block: the `.hex` files and Core's PARTIAL lists. */
function fixtureTransactions(): Array<{ name: string; raw: string; network: BitcoinNetwork }> {
  const txs = readdirSync(join(dir, 'txs')).map((name) => ({
    name,
    raw: readFileSync(join(dir, 'txs', name), 'utf8').trim(),
    network: networkOf(name),
  }))
  for (const name of readdirSync(join(dir, 'rpc_json')))
    if (name.includes('PARTIAL')) {
      const verbose = JSON.parse(readFileSync(join(dir, 'rpc_json', name), 'utf8')) as VerboseBlock
      for (const tx of verbose.tx)
        txs.push({ name: `${name} ${tx.txid}`, raw: tx.hex, network: networkOf(name) })
    }
  return txs
}

const reversedHex = (hash: Uint8Array) => Buffer.from(hash).reverse().toString('hex')
const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/** The address bitcoinjs-lib gives an output script, if any. */
function bitcoinjsAddressOf(script: Uint8Array, network: BitcoinNetwork): string | undefined {
  const net = network === testnet ? bitcoinjsNetworks.testnet : bitcoinjsNetworks.bitcoin
  // fromOutputScript wants an elliptic-curve library for P2TR (to check the key): its bech32m encoder directly
  if (script.length === 34 && script[0] === 0x51 && script[1] === 0x20)
    return bitcoinjsAddress.toBech32(script.subarray(2), 1, net.bech32)
  try {
    return bitcoinjsAddress.fromOutputScript(script, net)
  } catch {
    return undefined
  }
}

/** A transaction as bitcoinjs-lib reads it, in parseTransaction's shape, the input bytes as hex. */
function bitcoinjsView(tx: BitcoinjsTransaction, network: BitcoinNetwork) {
  const coinbase = tx.isCoinbase()
  return {
    txid: tx.getId(),
    // getHash(true) gives zero for a coinbase (its BIP141 commitment value): hash the witness serialization
    wtxid: reversedHex(bitcoinjsCrypto.hash256(tx.toBuffer())),
    coinbase,
    prevouts: coinbase ? [] : tx.ins.map((i) => `${reversedHex(i.hash)}:${i.index}`),
    inputs: coinbase
      ? []
      : tx.ins.map((i) => ({ scriptSig: hexOf(i.script), witness: i.witness.map(hexOf) })),
    outputs: tx.outs.map((o, index) => {
      const address = bitcoinjsAddressOf(o.script, network)
      const out = { index, value: o.value, script: hexOf(o.script) }
      return address === undefined ? out : { ...out, address }
    }),
  }
}

const inputsAsHex = (tx: ParsedTransaction) => ({
  ...tx,
  inputs: tx.inputs.map((i) => ({ scriptSig: hexOf(i.scriptSig), witness: i.witness.map(hexOf) })),
})

describe('every fixture block and transaction against bitcoinjs-lib, field by field', () => {
  const blocks = fixtureBlocks()
  const txs = fixtureTransactions()

  test('default: the walk covers all 14 real blocks (2,447 transactions) and 8 loose transactions', () => {
    expect(blocks.length).toBe(14)
    expect(blocks.reduce((n, b) => n + Block.fromHex(b.raw).transactions!.length, 0)).toBe(2447)
    expect(txs.length).toBe(8)
  })

  test('behavior: header fields and every transaction agree with Block.fromHex; the scan options drop only wtxids and addresses', () => {
    for (const { name, raw, network } of blocks) {
      const reference = Block.fromHex(raw)
      const full = parseBlock(raw, network)
      expect({ ...full, txs: [] }, name).toEqual({
        hash: reference.getId(),
        prevHash: reversedHex(reference.prevHash!),
        merkleRoot: reversedHex(reference.merkleRoot!),
        time: reference.timestamp,
        version: reference.version,
        bits: reference.bits,
        nonce: reference.nonce,
        txs: [],
      })
      expect(full.txs.map(inputsAsHex), name).toEqual(
        reference.transactions!.map((tx) => bitcoinjsView(tx, network)),
      )
      expect(parseBlock(raw, network, scanParseOptions), name).toEqual(withoutDerived(full))
    }
  })

  test('behavior: parseTransaction agrees with Transaction.fromHex on every loose transaction', () => {
    for (const { name, raw, network } of txs) {
      expect(inputsAsHex(parseTransaction(raw, network)), name).toEqual(
        bitcoinjsView(Transaction.fromHex(raw), network),
      )
      const lean = parseTransaction(raw, network, scanParseOptions)
      expect(lean.wtxid, name).toBeUndefined()
      expect(
        lean.outputs.every((o) => o.address === undefined),
        name,
      ).toBe(true)
    }
  })

  test('behavior: segwit-era transactions from Core (block 696402): txid and wtxid are its txid and hash, the coinbase too', () => {
    const verbose = JSON.parse(
      readFileSync(join(dir, 'rpc_json/btc_mainnet_696402_getblock_verbosity2.PARTIAL_tx_list.json'), 'utf8'),
    ) as VerboseBlock
    expect(verbose.tx.length).toBe(3)
    for (const [i, tx] of verbose.tx.entries()) {
      const mine = parseTransaction(tx.hex, mainnet)
      expect(mine.txid).toBe(tx.txid)
      expect(mine.wtxid).toBe(tx.hash)
      expect(mine.coinbase).toBe(i === 0)
    }
    // the coinbase carries the witness reserved value, so its hash is not its txid
    expect(verbose.tx[0]!.hash).not.toBe(verbose.tx[0]!.txid)
  })
})

describe('parseBlock against Bitcoin Core (block 200000, all 388 transactions)', () => {
  const verbose = block200000()
  const parsed = parseBlock(rawFromVerbose(verbose), mainnet)

  test('default: the block rebuilt from the JSON hashes to the hash Core reports, with its 388 transactions', () => {
    expect(verbose.nTx).toBe(388)
    expect(parsed.hash).toBe(verbose.hash)
    expect(parsed.prevHash).toBe(verbose.previousblockhash)
    expect(parsed.merkleRoot).toBe(verbose.merkleroot)
    expect(parsed.time).toBe(verbose.time)
    expect(parsed.txs.length).toBe(388)
  })

  test('behavior: every txid, wtxid, prevout, output value (exact satoshis), script and address agrees', () => {
    let outputs = 0
    let withAddress = 0
    verbose.tx.forEach((tx, i) => {
      const mine = parsed.txs[i]!
      expect(mine.txid).toBe(tx.txid)
      expect(mine.wtxid).toBe(tx.hash)
      expect(mine.coinbase).toBe(i === 0)
      expect(mine.prevouts).toEqual(tx.vin.flatMap((v) => (v.coinbase ? [] : [`${v.txid}:${v.vout}`])))
      expect(mine.outputs.length).toBe(tx.vout.length)
      tx.vout.forEach((o, n) => {
        const out = mine.outputs[n]!
        expect(out.index).toBe(o.n)
        expect(out.value).toBe(decimalToSats(o.value))
        expect(out.script).toBe(o.scriptPubKey.hex)
        // Core lists the P2PKH address; a P2PK output has none (the key is not an address)
        const expected = o.scriptPubKey.type === 'pubkeyhash' ? o.scriptPubKey.addresses?.[0] : undefined
        expect(out.address).toBe(expected)
        outputs++
        if (expected) withAddress++
      })
    })
    expect(outputs).toBe(822)
    expect(withAddress).toBe(820)
  })

  test('behavior: the exact values include sub-satoshi-looking JSON like 1e-08 (one satoshi)', () => {
    const values = verbose.tx.flatMap((t) => t.vout.map((o) => o.value))
    expect(values).toContain('1e-08')
    const all = parsed.txs.flatMap((t) => t.outputs.map((o) => o.value))
    expect(all).toContain(1n)
    expect(all.reduce((s, v) => s + v, 0n)).toBe(values.reduce((s, v) => s + decimalToSats(v), 0n))
  })

  test('behavior: findSpends reports exactly the owned outpoints the block spends, with the spending input', () => {
    const tx = verbose.tx[1]!
    const owned = new Set([
      `${tx.vin[0]!.txid}:${tx.vin[0]!.vout}`,
      `${tx.vin[0]!.txid}:99`,
      `${'ab'.repeat(32)}:0`,
    ])
    expect(findSpends(parsed, owned)).toEqual([
      { outpoint: `${tx.vin[0]!.txid}:${tx.vin[0]!.vout}`, txid: tx.txid, inputIndex: 0 },
    ])
    expect(findSpends(parsed, new Set())).toEqual([])
    // every input of the block, owned: one spend per non-coinbase input
    const everything = new Set(parsed.txs.flatMap((t) => t.prevouts))
    const inputs = verbose.tx.reduce((n, t) => n + t.vin.filter((v) => !v.coinbase).length, 0)
    expect(findSpends(parsed, everything).length).toBe(inputs)
  })
})

describe('parseBlock on raw blocks', () => {
  test('default: block 542213 (4 txs) hashes to its file name; transactions with witness data have a distinct wtxid', () => {
    const { hex, id } = fixture('blocks', 'btc_mainnet_542213_')
    const block = parseBlock(hex, mainnet)
    expect(block.hash).toBe(id)
    expect(block.txs.length).toBe(4)
    // the coinbase (witness reserved value) and tx 2 (its P2SH-wrapped segwit inputs) carry witness data
    expect(block.txs.flatMap((t, i) => (t.wtxid !== t.txid ? [i] : []))).toEqual([0, 2])
    // P2SH-wrapped segwit spends: the outputs are still standard base58 or bech32 addresses
    expect(block.txs[0]!.outputs.some((o) => o.script.startsWith('6a24aa21a9ed'))).toBe(true) // witness commitment
  })

  test('behavior: block 481829 parses all 2020 transactions; the scan options leave out only wtxids and addresses', () => {
    const { hex, id } = fixture('blocks', 'btc_mainnet_481829_')
    const block = parseBlock(hex, mainnet, scanParseOptions)
    const full = parseBlock(hex, mainnet)
    expect(block.hash).toBe(id)
    expect(block.txs.length).toBe(2020)
    expect(new Set(block.txs.map((t) => t.txid)).size).toBe(2020)
    // just after activation: only the coinbase (with the witness commitment) has witness data
    expect(full.txs.flatMap((t, i) => (t.wtxid !== t.txid ? [i] : []))).toEqual([0])
    expect(block.txs[0]!.outputs.some((o) => o.script.startsWith('6a24aa21a9ed'))).toBe(true)
    expect(block.txs.every((t) => t.wtxid === undefined)).toBe(true)
    expect(block.txs.flatMap((t) => t.outputs).every((o) => o.address === undefined)).toBe(true)
    expect(block).toEqual(withoutDerived(full))
  })

  test('behavior: testnet3 block 924634 (15 txs) parses with testnet addresses', () => {
    const { hex, id } = fixture('blocks', 'btc_testnet3_924634_')
    const block = parseBlock(hex, testnet)
    expect(block.hash).toBe(id)
    expect(block.txs.length).toBe(15)
    const addresses = block.txs.flatMap((t) => t.outputs.flatMap((o) => (o.address ? [o.address] : [])))
    expect(addresses.length).toBeGreaterThan(0)
    for (const a of addresses) expect(a).toMatch(/^(tb1|[mn2])/)
  })

  test('behavior: the ten BIP158 testnet3 blocks hash to the hashes listed with them', () => {
    const rows = JSON.parse(
      readFileSync(join(dir, 'blocks/bip158_testnet3_blocks_testnet-19.json'), 'utf8'),
    ) as unknown[][]
    const blocks = rows.filter((r) => typeof r[0] === 'number') as Array<[number, string, string]>
    expect(blocks.length).toBe(10)
    for (const [height, hash, raw] of blocks) {
      const block = parseBlock(raw, testnet)
      expect(block.hash).toBe(hash)
      if (height === 0) expect(block.hash).toBe(testnet.genesisHash)
    }
  })

  test('error: a truncated block, trailing bytes, bad hex and a changed output are BAD_BLOCK_DATA (retryable)', () => {
    const { hex } = fixture('blocks', 'btc_mainnet_542213_')
    const tampered = (() => {
      const block = parseBlock(hex, mainnet)
      // change one byte of the coinbase's first output value: the merkle root no longer matches
      const value = block.txs[0]!.outputs[0]!.value
      const le = Buffer.alloc(8)
      le.writeBigUInt64LE(value)
      const at = hex.indexOf(le.toString('hex'))
      expect(at).toBeGreaterThan(160)
      le.writeBigUInt64LE(value + 1n)
      return hex.slice(0, at) + le.toString('hex') + hex.slice(at + 16)
    })()
    for (const [label, raw, message] of [
      ['truncated', hex.slice(0, hex.length - 20), /does not parse/],
      ['trailing', `${hex}00`, /trailing/],
      ['odd hex', hex.slice(0, -1), /does not parse/],
      ['header only', hex.slice(0, 160), /no transactions/],
      ['tampered', tampered, /merkle root/],
    ] as const) {
      let err: unknown
      try {
        parseBlock(raw, mainnet)
      } catch (e) {
        err = e
      }
      expect(isDriverError(err), label).toBe(true)
      expect(err).toMatchObject({ code: 'BAD_BLOCK_DATA', retryable: true })
      expect((err as Error).message).toMatch(message)
    }
  })

  test('error: a block that repeats its last transaction (same merkle root, CVE-2012-2459) is BAD_BLOCK_DATA', () => {
    // 15 transactions: the last is paired with itself, so sending it twice leaves the merkle root unchanged
    const { hex } = fixture('blocks', 'btc_testnet3_924634_')
    const real = Block.fromHex(hex)
    expect(real.transactions!.length).toBe(15)
    expect(hex.slice(160, 162)).toBe('0f')
    const repeated = `${hex.slice(0, 160)}10${hex.slice(162)}${real.transactions![14]!.toHex()}`
    const mutated = Block.fromHex(repeated)
    expect(mutated.transactions!.length).toBe(16)
    expect(mutated.getId()).toBe(real.getId())
    expect(Block.calculateMerkleRoot(mutated.transactions!)).toEqual(real.merkleRoot!)
    // bitcoinjs refuses it for the same reason
    expect(mutated.checkTxRoots()).toBe(false)
    for (const options of [{}, scanParseOptions]) {
      let err: unknown
      try {
        parseBlock(repeated, testnet, options)
      } catch (e) {
        err = e
      }
      expect(isDriverError(err)).toBe(true)
      expect(err).toMatchObject({ code: 'BAD_BLOCK_DATA', retryable: true })
      expect((err as Error).message).toMatch(/repeats transactions/)
    }
    expect(parseBlock(hex, testnet, scanParseOptions).txs.length).toBe(15)
  })

  test('error: hex of odd length is BAD_BLOCK_DATA caused by a non-retryable INVALID_HEX DriverError', () => {
    let err: unknown
    try {
      parseBlock('abc', mainnet)
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'BAD_BLOCK_DATA', retryable: true })
    const cause = (err as Error).cause
    expect(isDriverError(cause)).toBe(true)
    expect(cause).toMatchObject({
      code: 'INVALID_HEX',
      retryable: false,
      message: 'not an even-length hex string',
    })
  })
})

describe('parseTransaction', () => {
  test('default: legacy P2PKH spend: txid is the file name, outputs are base58 P2PKH addresses', () => {
    const { hex, id } = fixture('txs', 'btc_mainnet_legacy_p2pkh_')
    const tx = parseTransaction(hex, mainnet)
    expect(tx.txid).toBe(id)
    expect(tx.wtxid).toBe(id)
    expect(tx.coinbase).toBe(false)
    expect(tx.prevouts.length).toBeGreaterThan(0)
    for (const o of tx.outputs) {
      expect(scriptType(Buffer.from(o.script, 'hex'))).toBe('p2pkh')
      expect(o.address).toMatch(/^1[1-9A-HJ-NP-Za-km-z]{25,34}$/)
    }
  })

  test('behavior: P2WSH 2-of-3 spend: txid is the file name and the witness gives a different wtxid', () => {
    const { hex, id } = fixture('txs', 'btc_mainnet_p2wsh_2of3_multisig_spend_')
    const tx = parseTransaction(hex, mainnet)
    expect(tx.txid).toBe(id)
    expect(tx.wtxid).not.toBe(id)
    expect(tx.wtxid).toMatch(/^[0-9a-f]{64}$/)
    for (const o of tx.outputs) if (o.address) expect(o.address).toMatch(/^(bc1q|[13])/)
  })

  test('behavior: a P2WPKH spend creating a P2TR output decodes that output to a bc1p address', () => {
    const { hex, id } = fixture('txs', 'btc_mainnet_p2wpkh_spend_creating_p2tr_output_')
    const tx = parseTransaction(hex, mainnet)
    expect(tx.txid).toBe(id)
    const p2tr = tx.outputs.filter((o) => o.script.startsWith('5120'))
    expect(p2tr.length).toBe(1)
    expect(p2tr[0]!.address).toMatch(/^bc1p[02-9ac-hj-np-z]{58}$/)
    expect(p2tr[0]!.value).toBe(88_480n)
    // the other output is an OP_RETURN: no address, zero value
    const opReturn = tx.outputs.find((o) => o.script.startsWith('6a'))!
    expect(opReturn.address).toBeUndefined()
    expect(opReturn.value).toBe(0n)
  })

  test('behavior: taproot key-path spends: txids match, outputs are bc1p addresses', () => {
    const first = fixture('txs', 'btc_mainnet_first_taproot_keypath_spend_')
    const tx = parseTransaction(first.hex, mainnet)
    expect(tx.txid).toBe(first.id)
    expect(tx.txid).toBe('33e794d097969002ee05d336686fc03c9e15a597c1b9827669460fac98799036')
    expect(tx.wtxid).not.toBe(tx.txid)

    const two = fixture('txs', 'btc_unknownnet_taproot_keypath_spend_2xp2tr_out_')
    const spend = parseTransaction(two.hex, mainnet)
    expect(spend.txid).toBe(two.id)
    expect(spend.outputs.map((o) => o.address?.slice(0, 4))).toEqual(['bc1p', 'bc1p'])
    // the same outputs on regtest: same scripts, bcrt1p addresses
    const onRegtest = parseTransaction(two.hex, bitcoinNetworks.regtest)
    expect(onRegtest.outputs.map((o) => o.script)).toEqual(spend.outputs.map((o) => o.script))
    for (const o of onRegtest.outputs) expect(o.address).toMatch(/^bcrt1p/)
  })

  test('error: garbage is a BAD_BLOCK_DATA DriverError', () => {
    expect(() => parseTransaction('00', mainnet)).toThrow(/does not parse/)
  })

  test('error: an input count written in three bytes instead of one is not the transaction it re-encodes to', () => {
    const { hex, id } = fixture('txs', 'btc_mainnet_legacy_p2pkh_')
    expect(hex.slice(8, 10)).toBe('01')
    const padded = `${hex.slice(0, 8)}fd0100${hex.slice(10)}`
    // bitcoinjs reads it and re-encodes it as the real transaction; Bitcoin Core refuses such a length prefix
    expect(Transaction.fromHex(padded).getId()).toBe(id)
    let err: unknown
    try {
      parseTransaction(padded, mainnet)
    } catch (e) {
      err = e
    }
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'BAD_BLOCK_DATA', retryable: true })
    expect((err as Error).message).toMatch(/not canonically encoded/)
  })
})
