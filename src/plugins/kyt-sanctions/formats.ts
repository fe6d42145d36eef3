import { createHash } from 'node:crypto'

/**
 * The chain family a list entry belongs to, told from the address alone (the SDN lists mix them: the USDT list
 * holds Ethereum, Tron and Omni/Bitcoin addresses). CAIP-2 namespaces.
 */
export type Family = 'eip155' | 'tron' | 'bip122'

const base58Alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest()

function base58Decode(s: string): Uint8Array | undefined {
  let n = 0n
  for (const c of s) {
    const digit = base58Alphabet.indexOf(c)
    if (digit < 0) return undefined
    n = n * 58n + BigInt(digit)
  }
  const bytes: number[] = []
  for (; n > 0n; n >>= 8n) bytes.unshift(Number(n & 0xffn))
  for (const c of s) {
    if (c !== '1') break
    bytes.unshift(0)
  }
  return Uint8Array.from(bytes)
}

/** The version byte of a valid 25-byte base58check address, else undefined. */
function base58checkVersion(s: string): number | undefined {
  const bytes = base58Decode(s)
  if (bytes?.length !== 25) return undefined
  const check = sha256(sha256(bytes.subarray(0, 21)))
  return check.subarray(0, 4).equals(bytes.subarray(21)) ? bytes[0] : undefined
}

const bech32Charset = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
const bech32Const = 1
const bech32mConst = 0x2bc830a3

function polymod(values: number[]): number {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
  let chk = 1
  for (const v of values) {
    const top = chk >>> 25
    chk = ((chk & 0x1ffffff) << 5) ^ v
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i] as number
  }
  return chk >>> 0
}

/** A segwit address (BIP173 v0 bech32, BIP350 v1+ bech32m) with a valid checksum, of mainnet, testnet or regtest. */
function isSegwit(s: string): boolean {
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) return false
  const lower = s.toLowerCase()
  const match = /^(bc|tb|bcrt)1([qpzry9x8gf2tvdw0s3jn54khce6mua7l]{8,87})$/.exec(lower)
  if (!match) return false
  const hrp = match[1] as string
  const data = [...(match[2] as string)].map((c) => bech32Charset.indexOf(c))
  const expanded = [
    ...[...hrp].map((c) => c.charCodeAt(0) >> 5),
    0,
    ...[...hrp].map((c) => c.charCodeAt(0) & 31),
  ]
  const version = data[0] as number
  if (version > 16) return false
  return polymod([...expanded, ...data]) === (version === 0 ? bech32Const : bech32mConst)
}

/** Bitcoin base58 versions: P2PKH and P2SH of mainnet (0x00, 0x05) and of testnet/regtest (0x6f, 0xc4). */
const bitcoinVersions = new Set([0x00, 0x05, 0x6f, 0xc4])

/**
 * The family of a list entry, after checking its checksum; undefined when it is no address of a family this
 * provider knows (a typo, a truncated line, a checksum that fails). EVM addresses carry no required checksum
 * (lists print them in mixed case that is not always EIP-55), so any 40 hex digits count.
 *
 * @example
 * entryFamily('0x8589427373D6D84E98730D7795D8f6f8731FDA16') // 'eip155'
 * entryFamily('TBHTJqAy4DhHhmT3dNceJYNRz4SdLofLre') // 'tron'
 * entryFamily('bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh') // 'bip122'
 */
export function entryFamily(entry: string): Family | undefined {
  if (/^0x[0-9a-fA-F]{40}$/.test(entry)) return 'eip155'
  if (/^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(entry))
    return base58checkVersion(entry) === 0x41 ? 'tron' : undefined
  if (/^[13mn2][1-9A-HJ-NP-Za-km-z]{24,34}$/.test(entry)) {
    const version = base58checkVersion(entry)
    return version !== undefined && bitcoinVersions.has(version) ? 'bip122' : undefined
  }
  return isSegwit(entry) ? 'bip122' : undefined
}

/**
 * The family of a CAIP-2 chain id, for matching list entries to the chains the gateway runs.
 *
 * @example
 * chainFamily('eip155:56') // 'eip155'
 * chainFamily('solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp') // undefined
 */
export function chainFamily(chainId: string): Family | undefined {
  const namespace = chainId.split(':')[0]
  return namespace === 'eip155' || namespace === 'tron' || namespace === 'bip122' ? namespace : undefined
}
