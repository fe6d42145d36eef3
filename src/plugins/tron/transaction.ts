import { sha256 } from '@noble/hashes/sha2.js'
import { DriverError } from '@tollgate/sdk'
import type { TronClient } from './http.ts'
import { int64Of } from './numbers.ts'
import { encodeRawData, type TronRawFields, varintLength } from './proto.ts'
import type { TronBlock } from './scan.ts'

/** The block a transaction refers to (TAPOS) and from whose time its expiration counts. */
export type TronRefBlock = { number: bigint; id: string; timestamp: number }

/** A built, unsigned transaction: its raw bytes and id. */
export type TronRawTransaction = { rawHex: string; txID: string; expiration: number }

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const unhex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ''), 'hex'))

/** The head block as a TAPOS reference (`/wallet/getnowblock`). */
export async function fetchRefBlock(client: TronClient, signal?: AbortSignal): Promise<TronRefBlock> {
  const block = await client.call<TronBlock>('/wallet/getnowblock', {}, signal)
  const raw = block.block_header?.raw_data
  if (!block.blockID || !raw)
    throw new DriverError('BLOCK_NOT_FOUND', 'getnowblock gave no block', { retryable: true })
  return {
    number: int64Of(raw.number, 'block number'),
    id: block.blockID,
    timestamp: Number(int64Of(raw.timestamp, 'block timestamp')),
  }
}

/**
 * `Transaction.raw` of one contract, built offline: TAPOS from `ref` as java-tron's `TransactionCapsule.setReference`
 * does it (`ref_block_bytes` = bytes 6..8 of the 8-byte big-endian block number, `ref_block_hash` = bytes 8..16
 * of the block id), `expiration` = the block's time + `expirationMs`, and the txID = sha256 of the raw bytes.
 * Deterministic: the same arguments give the same bytes.
 *
 * @example
 * const tx = buildRawTransaction({ ref, expirationMs: 60_000, timestamp: Date.now(), feeLimit: 0n,
 *   contract: { type: 'TransferContract', value } })
 */
export function buildRawTransaction(a: {
  ref: TronRefBlock
  expirationMs: number
  timestamp: number
  feeLimit: bigint
  contract: TronRawFields['contract']
}): TronRawTransaction {
  const number = a.ref.number.toString(16).padStart(16, '0')
  const expiration = a.ref.timestamp + a.expirationMs
  const raw = encodeRawData({
    refBlockBytes: unhex(number.slice(12, 16)),
    refBlockHash: unhex(a.ref.id.slice(16, 32)),
    expiration: BigInt(expiration),
    timestamp: BigInt(a.timestamp),
    feeLimit: a.feeLimit,
    contract: a.contract,
  })
  return { rawHex: hex(raw), txID: hex(sha256(raw)), expiration }
}

/** java-tron's `MAX_RESULT_SIZE_IN_TX`: bytes charged per contract on top of the transaction's size. */
const MAX_RESULT_SIZE_IN_TX = 64

/**
 * The bandwidth (bytes) java-tron charges for a transaction: the serialized `Transaction` without `ret` —
 * field 1 (`raw_data`) and one field 2 per 65-byte signature — plus 64 (`MAX_RESULT_SIZE_IN_TX`), as
 * `BandwidthProcessor.consume` counts it. A mainnet USDT transfer with one signature comes to 345.
 *
 * @example
 * transactionBandwidth(rawHex.length / 2) // 345n for a 210-byte raw_data
 */
export function transactionBandwidth(rawLength: number, signatures = 1): bigint {
  const raw = 1 + varintLength(rawLength) + rawLength
  const sigs = signatures * (1 + varintLength(65) + 65)
  return BigInt(raw + sigs + MAX_RESULT_SIZE_IN_TX)
}

/** A clock of strictly increasing ms: two builds in one ms still get different timestamps (and so txIDs). */
export function monotonicClock(now: () => number = Date.now): () => number {
  let last = 0
  return () => {
    last = Math.max(last + 1, now())
    return last
  }
}
