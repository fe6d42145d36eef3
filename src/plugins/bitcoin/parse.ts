import { DriverError } from '@tollgate/sdk'
import { Block, Transaction } from 'bitcoinjs-lib'
import { scriptToAddress } from './address.ts'
import { merkleRoot, sha256d } from './merkle.ts'
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
  /**
   * Witness txid, absent when parsed with `wtxids: false`: the hash of the transaction serialized with its
   * witness, as Bitcoin Core's `hash` field (so `txid` without witness data, and a real hash for a coinbase too,
   * not the zero that stands for the coinbase in the BIP141 witness commitment).
   */
  wtxid?: string
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

/** What to derive beyond txids, prevouts, inputs and output values and scripts (which are always there). */
export type ParseOptions = {
  /** Encode an address for each standard output (default true). */
  addresses?: boolean
  /** Compute each transaction's wtxid (default true): one more hash over every segwit transaction. */
  wtxids?: boolean
}

/**
 * What the block scan reads and nothing more: txids, prevouts, inputs, output values and scripts. Addresses and
 * wtxids are left out (the scan keys outputs by script; senders encode addresses only for transactions that pay
 * a watched key).
 */
export const scanParseOptions = { addresses: false, wtxids: false } as const satisfies ParseOptions

/** Display (reversed) hex of a hash in internal byte order. */
function reversedHex(hash: Uint8Array): string {
  return Buffer.from(hash).reverse().toString('hex')
}

const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

/** Bitcoin Core's rule: one input, spending the null outpoint (zero txid, index 0xffffffff). */
function isCoinbase(tx: Transaction): boolean {
  const first = tx.ins[0]
  return (
    tx.ins.length === 1 &&
    first !== undefined &&
    first.index === 0xffffffff &&
    first.hash.every((b) => b === 0)
  )
}

/**
 * The txid (internal byte order) of `tx` from `serialized`, the `tx.byteLength()` bytes it was read from.
 * Hashing those bytes instead of a re-serialization is what makes parsing cheap. They equal the
 * re-serialization when the encoding is canonical; a non-minimal length prefix (which bitcoinjs reads and Core
 * refuses) makes them differ, and then they are not a whole transaction: `parseTransaction` refuses the length
 * mismatch, and in a block such a slice cannot hash to a txid the merkle root commits to.
 * A segwit serialization is version, marker and flag, the inputs and outputs, the witnesses, then locktime; its
 * txid hashes it without marker, flag and witnesses.
 */
function txidHash(tx: Transaction, serialized: Uint8Array): Uint8Array {
  if (!tx.hasWitnesses()) return sha256d(serialized)
  const body = tx.byteLength(false) - 8
  const stripped = new Uint8Array(body + 8)
  stripped.set(serialized.subarray(0, 4), 0)
  stripped.set(serialized.subarray(6, 6 + body), 4)
  stripped.set(serialized.subarray(serialized.length - 4), 4 + body)
  return sha256d(stripped)
}

function describe(
  tx: Transaction,
  serialized: Uint8Array,
  hash: Uint8Array,
  network: BitcoinNetwork,
  options: ParseOptions,
): ParsedTransaction {
  const txid = reversedHex(hash)
  const coinbase = isCoinbase(tx)
  const withAddresses = options.addresses ?? true
  const parsed: ParsedTransaction = {
    txid,
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
  if (options.wtxids ?? true) parsed.wtxid = tx.hasWitnesses() ? reversedHex(sha256d(serialized)) : txid
  return parsed
}

const badData = (message: string, cause?: unknown) =>
  new DriverError('BAD_BLOCK_DATA', message, { retryable: true, cause })

/** Bytes of hex that must be all hex (Buffer.from stops at the first non-hex pair, which the length shows). */
function bytesOf(raw: string | Uint8Array): Uint8Array {
  if (typeof raw !== 'string') return raw
  const bytes = Buffer.from(raw, 'hex')
  if (bytes.length * 2 !== raw.length)
    throw new DriverError('INVALID_HEX', 'not an even-length hex string', { retryable: false })
  return bytes
}

/**
 * Parses a raw block (what `getblock <hash> 0` returns) into its header fields and, per transaction, txid,
 * spent outpoints, inputs and outputs (satoshis as bigint, script hex), plus per `options` the wtxid and the
 * address of each standard output on `network` (both by default; the scan passes `scanParseOptions`).
 * The transactions are checked against the header's merkle root (a tree that repeats transactions is refused)
 * and nothing may follow the last one, so a truncated, garbled or padded answer is a retryable `BAD_BLOCK_DATA`
 * error, never a different block under the same hash.
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
    bytes = bytesOf(raw)
    block = Block.fromBuffer(bytes)
  } catch (err) {
    throw badData(`block does not parse: ${err instanceof Error ? err.message : String(err)}`, err)
  }
  const transactions = block.transactions ?? []
  if (transactions.length === 0) throw badData('block has no transactions (header only?)')
  if (block.byteLength() !== bytes.length)
    throw badData(`block has ${bytes.length - block.byteLength()} unexpected trailing bytes`)
  // the transactions lie back to back after the header and the count, up to the end, as Block.fromBuffer read them
  const lengths = transactions.map((tx) => tx.byteLength())
  let offset = bytes.length - lengths.reduce((n, length) => n + length, 0)
  const serialized = lengths.map((length) => {
    const end = offset + length
    const slice = bytes.subarray(offset, end)
    offset = end
    return slice
  })
  const hashes = transactions.map((tx, i) => txidHash(tx, serialized[i] as Uint8Array))
  const merkle = merkleRoot(hashes)
  if (hex(merkle.root) !== hex(block.merkleRoot as Uint8Array))
    throw badData("the transactions do not match the header's merkle root")
  if (merkle.mutated) throw badData('the block repeats transactions (a mutated merkle tree)')
  return {
    hash: reversedHex(sha256d(bytes.subarray(0, 80))),
    prevHash: reversedHex(block.prevHash as Uint8Array),
    merkleRoot: reversedHex(block.merkleRoot as Uint8Array),
    time: block.timestamp,
    version: block.version,
    bits: block.bits,
    nonce: block.nonce,
    txs: transactions.map((tx, i) =>
      describe(tx, serialized[i] as Uint8Array, hashes[i] as Uint8Array, network, options),
    ),
  }
}

/**
 * Parses one raw transaction (what `getrawtransaction <txid> false` returns); `options` as for `parseBlock`.
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
  let bytes: Uint8Array
  try {
    bytes = bytesOf(raw)
    tx = Transaction.fromBuffer(bytes)
  } catch (err) {
    throw badData(`transaction does not parse: ${err instanceof Error ? err.message : String(err)}`, err)
  }
  // a non-minimal length prefix parses but re-encodes shorter: such bytes are not the transaction they name
  if (tx.byteLength() !== bytes.length) throw badData('transaction is not canonically encoded')
  return describe(tx, bytes, txidHash(tx, bytes), network, options)
}
