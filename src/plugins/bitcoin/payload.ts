import { DriverError } from '@tollgate/sdk'
import { Transaction } from 'bitcoinjs-lib'

/** nSequence that signals BIP125 replaceability (and leaves relative locktimes off). */
export const rbfSequence = 0xfffffffd

/** One coin the transaction spends: a P2WPKH output of the gateway, with the path of its key. */
export type PayloadInput = { txid: string; vout: number; amount: string; script: string; path: string }

/** One output: its address as given, the scriptPubKey (hex) it pays and the satoshis. */
export type PayloadOutput = { address: string; script: string; amount: string }

/**
 * What the Bitcoin driver stores before signing: everything `sign` needs (each input's path, value and script),
 * and the fee terms a replacement must outbid. JSON-safe: satoshis and rates are decimal strings.
 */
export type BitcoinPayload = {
  kind: 'bitcoin/p2wpkh-spend'
  version: 2
  locktime: 0
  sequence: number
  inputs: PayloadInput[]
  /** The requested outputs in request order, then the change output if there is one. */
  outputs: PayloadOutput[]
  /** The change output (its index in `outputs`, the address's key path) or null. */
  change: { vout: number; address: string; path: string; amount: string } | null
  /** True for a sweep: every input goes to `outputs[0]` less the fee. */
  sweep: boolean
  /** Satoshis: inputs − outputs. */
  fee: string
  /** Weight and virtual size as budgeted (72-byte signatures); the signed transaction is at most this. */
  weight: number
  vsize: number
  /** The rate asked for, sat/kvB (the fee may be a little higher: rounding, a dropped dust change). */
  feeRate: string
}

const bad = (message: string) =>
  new DriverError('BAD_PAYLOAD', `not a Bitcoin payout payload: ${message}`, { retryable: false })

const isHex = (s: unknown, bytes?: number): s is string =>
  typeof s === 'string' && /^(?:[0-9a-f]{2})*$/.test(s) && (bytes === undefined || s.length === bytes * 2)
const isSats = (s: unknown): s is string => typeof s === 'string' && /^(0|[1-9]\d{0,15})$/.test(s)

/**
 * Checks that a stored payload (plain JSON from the database) is one this driver built, and returns it typed.
 * Throws `BAD_PAYLOAD` (not retryable) otherwise.
 */
export function readPayload(payload: unknown): BitcoinPayload {
  const p = payload as BitcoinPayload
  if (!p || typeof p !== 'object' || p.kind !== 'bitcoin/p2wpkh-spend') throw bad('unknown kind')
  if (p.version !== 2 || p.locktime !== 0 || p.sequence !== rbfSequence) throw bad('unexpected header fields')
  if (!Array.isArray(p.inputs) || p.inputs.length === 0) throw bad('no inputs')
  for (const i of p.inputs)
    if (
      !isHex(i?.txid, 32) ||
      !Number.isInteger(i.vout) ||
      i.vout < 0 ||
      !isSats(i.amount) ||
      !isHex(i.script) ||
      typeof i.path !== 'string'
    )
      throw bad('malformed input')
  if (!Array.isArray(p.outputs) || p.outputs.length === 0) throw bad('no outputs')
  for (const o of p.outputs)
    if (typeof o?.address !== 'string' || !isHex(o.script) || !isSats(o.amount)) throw bad('malformed output')
  if (p.change !== null && (!p.change || p.outputs[p.change.vout]?.amount !== p.change.amount))
    throw bad('change does not match its output')
  if (!isSats(p.fee) || !Number.isInteger(p.vsize) || !Number.isInteger(p.weight)) throw bad('malformed fee')
  const inputs = p.inputs.reduce((s, i) => s + BigInt(i.amount), 0n)
  const outputs = p.outputs.reduce((s, o) => s + BigInt(o.amount), 0n)
  if (inputs - outputs !== BigInt(p.fee))
    throw bad(`inputs − outputs = ${inputs - outputs}, fee says ${p.fee}`)
  return p
}

/**
 * The unsigned transaction a payload describes: version 2, locktime 0, every input with the RBF sequence and
 * an empty scriptSig, the outputs in payload order.
 */
export function unsignedTransaction(p: BitcoinPayload): Transaction {
  const tx = new Transaction()
  tx.version = p.version
  tx.locktime = p.locktime
  for (const i of p.inputs) tx.addInput(Buffer.from(i.txid, 'hex').reverse(), i.vout, p.sequence)
  for (const o of p.outputs) tx.addOutput(Buffer.from(o.script, 'hex'), BigInt(o.amount))
  return tx
}
