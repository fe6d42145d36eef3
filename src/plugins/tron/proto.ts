/**
 * The protobuf messages of java-tron's `Tron.proto` and `*_contract.proto` the payout driver writes, encoded by
 * hand: `Transaction`, `Transaction.raw`, `Transaction.Contract` (+ `google.protobuf.Any`), `TransferContract`,
 * `TriggerSmartContract`, `DelegateResourceContract` and `UnDelegateResourceContract`. Fields go out in
 * field-number order and proto3 defaults (0, false, empty) are left out, as protobuf-java and google-protobuf
 * write them, so the bytes — and so the txID, sha256 of the raw bytes — are the ones java-tron computes.
 */

/** `Transaction.Contract.ContractType` numbers of the contracts the driver sends. */
export const TRON_CONTRACT_TYPES = {
  TransferContract: 1,
  TriggerSmartContract: 31,
  DelegateResourceContract: 57,
  UnDelegateResourceContract: 58,
} as const

export type TronContractType = keyof typeof TRON_CONTRACT_TYPES

/** `ResourceCode`: what a delegation moves. */
export const TRON_RESOURCE = { BANDWIDTH: 0, ENERGY: 1 } as const

type Field =
  | [number, 'varint', bigint | number | boolean | undefined]
  | [number, 'bytes', Uint8Array | undefined]

function varint(n: bigint, out: number[]): void {
  // int64 fields: negative values are written as their 64-bit two's complement (never the case here)
  let v = BigInt.asUintN(64, n)
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
}

function message(fields: Field[]): Uint8Array {
  const out: number[] = []
  for (const [no, kind, value] of fields) {
    if (kind === 'varint') {
      if (value === undefined || value === 0 || value === 0n || value === false) continue
      varint(BigInt(no << 3), out)
      varint(BigInt(value === true ? 1 : value), out)
    } else {
      if (!value || value.length === 0) continue
      varint(BigInt((no << 3) | 2), out)
      varint(BigInt(value.length), out)
      for (const b of value) out.push(b)
    }
  }
  return Uint8Array.from(out)
}

/** `TransferContract`: TRX (sun) from `owner` to `to` (21-byte `41…` addresses). */
export function encodeTransferContract(v: { owner: Uint8Array; to: Uint8Array; amount: bigint }): Uint8Array {
  return message([
    [1, 'bytes', v.owner],
    [2, 'bytes', v.to],
    [3, 'varint', v.amount],
  ])
}

/** `TriggerSmartContract`: a call of `contract` with ABI-encoded `data` (no TRX or TRC-10 attached). */
export function encodeTriggerSmartContract(v: {
  owner: Uint8Array
  contract: Uint8Array
  data: Uint8Array
  callValue?: bigint
}): Uint8Array {
  return message([
    [1, 'bytes', v.owner],
    [2, 'bytes', v.contract],
    [3, 'varint', v.callValue],
    [4, 'bytes', v.data],
  ])
}

/**
 * `DelegateResourceContract` / `UnDelegateResourceContract` (Stake 2.0): `balance` sun of `owner`'s frozen TRX
 * for `resource`, delegated to (or taken back from) `receiver`. Unlocked (`lock` false): it can be taken back at
 * any time.
 */
export function encodeDelegateResourceContract(v: {
  owner: Uint8Array
  resource: number
  balance: bigint
  receiver: Uint8Array
}): Uint8Array {
  return message([
    [1, 'bytes', v.owner],
    [2, 'varint', v.resource],
    [3, 'varint', v.balance],
    [4, 'bytes', v.receiver],
  ])
}

/** The fields of `Transaction.raw` the driver sets (one contract, permission 0, no memo). */
export type TronRawFields = {
  /** 2 bytes: bytes 6..8 of the reference block's number. */
  refBlockBytes: Uint8Array
  /** 8 bytes: bytes 8..16 of the reference block's id. */
  refBlockHash: Uint8Array
  /** Unix ms after which the network refuses it. */
  expiration: bigint
  timestamp: bigint
  /** sun; only for `TriggerSmartContract` (0 = left out). */
  feeLimit: bigint
  contract: { type: TronContractType; value: Uint8Array }
}

/** Serialized `Transaction.raw`; its sha256 is the txID. */
export function encodeRawData(raw: TronRawFields): Uint8Array {
  const any = message([
    [1, 'bytes', new TextEncoder().encode(`type.googleapis.com/protocol.${raw.contract.type}`)],
    [2, 'bytes', raw.contract.value],
  ])
  const contract = message([
    [1, 'varint', TRON_CONTRACT_TYPES[raw.contract.type]],
    [2, 'bytes', any],
  ])
  return message([
    [1, 'bytes', raw.refBlockBytes],
    [4, 'bytes', raw.refBlockHash],
    [8, 'varint', raw.expiration],
    [11, 'bytes', contract],
    [14, 'varint', raw.timestamp],
    [18, 'varint', raw.feeLimit],
  ])
}

/** Serialized `Transaction`: `raw_data` (field 1) and the signatures (field 2), no `ret` — what `broadcasthex` takes. */
export function encodeSignedTransaction(rawData: Uint8Array, signatures: readonly Uint8Array[]): Uint8Array {
  const parts = message([[1, 'bytes', rawData]])
  const sigs = signatures.map((s) => message([[2, 'bytes', s]]))
  const out = new Uint8Array(parts.length + sigs.reduce((n, s) => n + s.length, 0))
  out.set(parts, 0)
  let at = parts.length
  for (const s of sigs) {
    out.set(s, at)
    at += s.length
  }
  return out
}

/** Bytes a protobuf length prefix of `n` takes. */
export function varintLength(n: number): number {
  let len = 1
  let v = n
  while (v >= 0x80) {
    v = Math.floor(v / 128)
    len++
  }
  return len
}
