/**
 * The few protobuf messages of java-tron's `Tron.proto` / `*_contract.proto` the stand-in node needs, encoded
 * and decoded by hand: `Transaction.raw`, `Transaction.Contract` (+ `google.protobuf.Any`), `TransferContract`,
 * `TriggerSmartContract`, `DelegateResourceContract` and `UnDelegateResourceContract`. Fields are written in
 * field-number order and defaults (0, empty) are omitted, as protobuf-java and google-protobuf do, so the bytes
 * (and so the txID) equal what java-tron and tronweb produce.
 */

/** `Transaction.Contract.ContractType` values the stand-in knows. */
export const contractTypes = {
  TransferContract: 1,
  TriggerSmartContract: 31,
  DelegateResourceContract: 57,
  UnDelegateResourceContract: 58,
} as const

export type ContractTypeName = keyof typeof contractTypes

/** `Transaction.raw`, with the first (only) contract decoded into its typed value. */
export type RawTransaction = {
  refBlockBytes: Uint8Array
  refBlockHash: Uint8Array
  expiration: bigint
  data?: Uint8Array
  timestamp: bigint
  feeLimit: bigint
  contract: {
    type: ContractTypeName | number
    typeUrl: string
    /** The `Any.value` bytes of the contract. */
    value: Uint8Array
    permissionId: number
  }
}

export type TransferValue = { owner: Uint8Array; to: Uint8Array; amount: bigint }
export type TriggerValue = { owner: Uint8Array; contract: Uint8Array; callValue: bigint; data: Uint8Array }
export type DelegateValue = {
  owner: Uint8Array
  resource: number
  balance: bigint
  receiver: Uint8Array
  lock?: boolean
  lockPeriod?: bigint
}

// ---- writer ----

function varint(n: bigint): number[] {
  let v = BigInt.asUintN(64, n)
  const out: number[] = []
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return out
}

type Field =
  | [number, 'varint', bigint | number | boolean | undefined]
  | [number, 'bytes', Uint8Array | undefined]

/** Encodes fields in the order given (callers list them by field number); zero/empty values are skipped. */
function message(fields: Field[]): Uint8Array {
  const out: number[] = []
  for (const [no, kind, value] of fields) {
    if (kind === 'varint') {
      if (value === undefined || value === 0 || value === 0n || value === false) continue
      out.push(...varint(BigInt(no << 3)), ...varint(BigInt(value === true ? 1 : value)))
    } else {
      if (!value || value.length === 0) continue
      out.push(...varint(BigInt((no << 3) | 2)), ...varint(BigInt(value.length)), ...value)
    }
  }
  return Uint8Array.from(out)
}

const utf8 = (s: string) => new TextEncoder().encode(s)

/** Serialized `Transaction.raw`. */
export function encodeRaw(raw: RawTransaction): Uint8Array {
  const typeNo = typeof raw.contract.type === 'number' ? raw.contract.type : contractTypes[raw.contract.type]
  const any = message([
    [1, 'bytes', utf8(raw.contract.typeUrl)],
    [2, 'bytes', raw.contract.value],
  ])
  const contract = message([
    [1, 'varint', typeNo],
    [2, 'bytes', any],
    [5, 'varint', raw.contract.permissionId],
  ])
  return message([
    [1, 'bytes', raw.refBlockBytes],
    [4, 'bytes', raw.refBlockHash],
    [8, 'varint', raw.expiration],
    [10, 'bytes', raw.data],
    [11, 'bytes', contract],
    [14, 'varint', raw.timestamp],
    [18, 'varint', raw.feeLimit],
  ])
}

export function encodeTransfer(v: TransferValue): Uint8Array {
  return message([
    [1, 'bytes', v.owner],
    [2, 'bytes', v.to],
    [3, 'varint', v.amount],
  ])
}

export function encodeTrigger(v: TriggerValue): Uint8Array {
  return message([
    [1, 'bytes', v.owner],
    [2, 'bytes', v.contract],
    [3, 'varint', v.callValue],
    [4, 'bytes', v.data],
  ])
}

export function encodeDelegate(v: DelegateValue): Uint8Array {
  return message([
    [1, 'bytes', v.owner],
    [2, 'varint', v.resource],
    [3, 'varint', v.balance],
    [4, 'bytes', v.receiver],
    [5, 'varint', v.lock],
    [6, 'varint', v.lockPeriod],
  ])
}

// ---- reader ----

type Decoded = Map<number, Array<bigint | Uint8Array>>

/** Splits a message into its fields; throws on malformed input or unsupported wire types. */
function fields(bytes: Uint8Array): Decoded {
  const out: Decoded = new Map()
  let i = 0
  const readVarint = (): bigint => {
    let shift = 0n
    let result = 0n
    for (;;) {
      if (i >= bytes.length) throw new Error('truncated varint')
      const b = bytes[i++] as number
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
      shift += 7n
      if (shift > 63n) throw new Error('varint too long')
    }
  }
  while (i < bytes.length) {
    const key = Number(readVarint())
    const no = key >> 3
    const wire = key & 7
    let value: bigint | Uint8Array
    if (wire === 0) value = readVarint()
    else if (wire === 2) {
      const len = Number(readVarint())
      if (i + len > bytes.length) throw new Error('truncated field')
      value = bytes.subarray(i, i + len)
      i += len
    } else if (wire === 1) {
      i += 8
      value = 0n
    } else if (wire === 5) {
      i += 4
      value = 0n
    } else throw new Error(`unsupported wire type ${wire}`)
    out.set(no, [...(out.get(no) ?? []), value])
  }
  return out
}

const bytesOf = (d: Decoded, no: number) => {
  const v = d.get(no)?.[0]
  return v instanceof Uint8Array ? v : new Uint8Array()
}
const intOf = (d: Decoded, no: number) => {
  const v = d.get(no)?.[0]
  return typeof v === 'bigint' ? BigInt.asIntN(64, v) : 0n
}

/** Parses a serialized `Transaction.raw` (exactly one contract, as java-tron requires). */
export function decodeRaw(bytes: Uint8Array): RawTransaction {
  const raw = fields(bytes)
  const contracts = raw.get(11) ?? []
  if (contracts.length !== 1) throw new Error(`expected one contract, found ${contracts.length}`)
  const contract = fields(contracts[0] as Uint8Array)
  const any = fields(bytesOf(contract, 2))
  const typeNo = Number(intOf(contract, 1))
  const name = (Object.keys(contractTypes) as ContractTypeName[]).find((k) => contractTypes[k] === typeNo)
  const data = raw.get(10) ? bytesOf(raw, 10) : undefined
  return {
    refBlockBytes: bytesOf(raw, 1),
    refBlockHash: bytesOf(raw, 4),
    expiration: intOf(raw, 8),
    ...(data ? { data } : {}),
    timestamp: intOf(raw, 14),
    feeLimit: intOf(raw, 18),
    contract: {
      type: name ?? typeNo,
      typeUrl: new TextDecoder().decode(bytesOf(any, 1)),
      value: bytesOf(any, 2),
      permissionId: Number(intOf(contract, 5)),
    },
  }
}

/** Parses a serialized signed `Transaction` (what `/wallet/broadcasthex` takes): raw bytes and signatures. */
export function decodeTransaction(bytes: Uint8Array): { rawHex: string; signatures: string[] } {
  const tx = fields(bytes)
  const raw = tx.get(1) ?? []
  if (raw.length !== 1 || !(raw[0] instanceof Uint8Array)) throw new Error('transaction without raw_data')
  const signatures = (tx.get(2) ?? []).map((s) => Buffer.from(s as Uint8Array).toString('hex'))
  return { rawHex: Buffer.from(raw[0]).toString('hex'), signatures }
}

export function decodeTransfer(bytes: Uint8Array): TransferValue {
  const f = fields(bytes)
  return { owner: bytesOf(f, 1), to: bytesOf(f, 2), amount: intOf(f, 3) }
}

export function decodeTrigger(bytes: Uint8Array): TriggerValue {
  const f = fields(bytes)
  return { owner: bytesOf(f, 1), contract: bytesOf(f, 2), callValue: intOf(f, 3), data: bytesOf(f, 4) }
}

export function decodeDelegate(bytes: Uint8Array): DelegateValue {
  const f = fields(bytes)
  return {
    owner: bytesOf(f, 1),
    resource: Number(intOf(f, 2)),
    balance: intOf(f, 3),
    receiver: bytesOf(f, 4),
    lock: intOf(f, 5) !== 0n,
    lockPeriod: intOf(f, 6),
  }
}
