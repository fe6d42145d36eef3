import { sha256 } from '@noble/hashes/sha2.js'
import { DriverError } from '@tollgate/sdk'
import { Block, Transaction } from 'bitcoinjs-lib'
import { scriptToAddress } from './address.ts'
import type { BitcoinNetwork } from './networks.ts'

/** One output of a transaction. */
export type ParsedOutput = {
  /** Output index (vout). */
  index: number
  /** Satoshis. */
  value: bigint
  /** scriptPubKey, lower-case hex (the driver's address key). */
  script: string
  /** The address on the parsing network for the standard types; absent otherwise or when not asked for. */
  address?: string
}

/** What one input carries: its unlocking data, from which the address it spent can often be read. */
export type ParsedInput = {
  /** The scriptSig (empty for a native segwit spend). */
  scriptSig: Uint8Array
  /** The witness stack (empty for a legacy spend). */
  witness: readonly Uint8Array[]
}

/** One transaction of a block, with what scanning needs. */
export type ParsedTransaction = {
  txid: string
  /** Witness txid; equals `txid` for a transaction without witness data. */
  wtxid: string
  coinbase: boolean
  /** Outpoints spent, as `txid:vout`, in input order; empty for a coinbase. */
  prevouts: string[]
  /** The inputs' scriptSig and witness, in the order of `prevouts` (views of the parsed bytes, not copies). */
  inputs: ParsedInput[]
  outputs: ParsedOutput[]
}

export type ParsedBlock = {
  hash: string
  prevHash: string
  merkleRoot: string
  /** Header timestamp, Unix seconds. */
  time: number
  version: number
  bits: number
  nonce: number
  txs: ParsedTransaction[]
}

export type ParseOptions = {
  /** Encode an address for each standard output (default true). Scanning works on scripts and skips this. */
  addresses?: boolean
}

/** Display (reversed) hex of a hash in internal byte order. */
function reversedHex(hash: Uint8Array): string {
  return Buffer.from(hash).reverse().toString('hex')
}

const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

const sha256d = (data: Uint8Array) => sha256(sha256(data))

const zeroHash = '0000000000000000000000000000000000000000000000000000000000000000'

function isCoinbase(tx: Transaction): boolean {
  const first = tx.ins[0]
  return (
    tx.ins.length === 1 && first !== undefined && first.index === 0xffffffff && hex(first.hash) === zeroHash
  )
}

function describe(tx: Transaction, hash: Uint8Array, network: BitcoinNetwork, options: ParseOptions) {
  const txid = reversedHex(hash)
  const coinbase = isCoinbase(tx)
  const withAddresses = options.addresses ?? true
  return {
    txid,
    wtxid: tx.hasWitnesses() ? reversedHex(tx.getHash(true)) : txid,
    coinbase,
    prevouts: coinbase ? [] : tx.ins.map((i) => `${reversedHex(i.hash)}:${i.index}`),
    inputs: coinbase ? [] : tx.ins.map((i): ParsedInput => ({ scriptSig: i.script, witness: i.witness })),
    outputs: tx.outs.map((o, index): ParsedOutput => {
      const out: ParsedOutput = { index, value: o.value, script: hex(o.script) }
      if (withAddresses) {
        const address = scriptToAddress(o.script, network)
        if (address !== undefined) out.address = address
      }
      return out
    }),
  }
}

const badData = (message: string, cause?: unknown) =>
  new DriverError('BAD_BLOCK_DATA', message, { retryable: true, cause })

/** Merkle root (internal byte order) of transaction hashes in internal byte order. */
function merkleRoot(hashes: Uint8Array[]): Uint8Array {
  let level = hashes
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i] as Uint8Array
      const right = level[i + 1] ?? left
      const pair = new Uint8Array(64)
      pair.set(left, 0)
      pair.set(right, 32)
      next.push(sha256d(pair))
    }
    level = next
  }
  return level[0] as Uint8Array
}

/**
 * Parses a raw block (what `getblock <hash> 0` returns) into its header fields and, per transaction, txid,
 * wtxid, spent outpoints and outputs (satoshis as bigint, script hex, address on `network` when standard).
 * The transactions are checked against the header's merkle root and nothing may follow the last one, so a
 * truncated or garbled answer is a retryable `BAD_BLOCK_DATA` error, never a smaller block.
 *
 * @example
 * const block = parseBlock(await rpc.call('getblock', [hash, false]), bitcoinNetworks.mainnet)
 */
export function parseBlock(
  raw: string | Uint8Array,
  network: BitcoinNetwork,
  options: ParseOptions = {},
): ParsedBlock {
  let block: Block
  let bytes: Uint8Array
  try {
    bytes = typeof raw === 'string' ? Buffer.from(raw, 'hex') : raw
    if (typeof raw === 'string' && bytes.length * 2 !== raw.length)
      throw new DriverError('INVALID_HEX', 'not an even-length hex string', { retryable: false })
    block = Block.fromBuffer(bytes)
  } catch (err) {
    throw badData(`block does not parse: ${err instanceof Error ? err.message : String(err)}`, err)
  }
  const transactions = block.transactions ?? []
  if (transactions.length === 0) throw badData('block has no transactions (header only?)')
  if (block.byteLength() !== bytes.length)
    throw badData(`block has ${bytes.length - block.byteLength()} unexpected trailing bytes`)
  const hashes = transactions.map((tx) => tx.getHash())
  const root = merkleRoot(hashes)
  if (hex(root) !== hex(block.merkleRoot as Uint8Array))
    throw badData("the transactions do not match the header's merkle root")
  return {
    hash: block.getId(),
    prevHash: reversedHex(block.prevHash as Uint8Array),
    merkleRoot: reversedHex(block.merkleRoot as Uint8Array),
    time: block.timestamp,
    version: block.version,
    bits: block.bits,
    nonce: block.nonce,
    txs: transactions.map((tx, i) => describe(tx, hashes[i] as Uint8Array, network, options)),
  }
}

/**
 * Parses one raw transaction (what `getrawtransaction <txid> false` returns).
 *
 * @example
 * parseTransaction(rawHex, bitcoinNetworks.mainnet).outputs[0].address
 */
export function parseTransaction(
  raw: string | Uint8Array,
  network: BitcoinNetwork,
  options: ParseOptions = {},
): ParsedTransaction {
  let tx: Transaction
  try {
    tx = typeof raw === 'string' ? Transaction.fromHex(raw) : Transaction.fromBuffer(raw)
  } catch (err) {
    throw badData(`transaction does not parse: ${err instanceof Error ? err.message : String(err)}`, err)
  }
  return describe(tx, tx.getHash(), network, options)
}
