import { sha256 } from '@noble/hashes/sha2.js'
import { type AddressValidation, DriverError } from '@tollgate/sdk'

const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
const alphabetIndex = new Map([...alphabet].map((c, i) => [c, BigInt(i)]))

/** Tron's mainnet (and testnet) address prefix byte. */
export const TRON_ADDRESS_PREFIX = 0x41

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'))

function base58Encode(bytes: Uint8Array): string {
  let n = BigInt(`0x${toHex(bytes) || '0'}`)
  let out = ''
  while (n > 0n) {
    out = alphabet[Number(n % 58n)] + out
    n /= 58n
  }
  for (const b of bytes) {
    if (b !== 0) break
    out = `1${out}`
  }
  return out
}

function base58Decode(s: string): Uint8Array | undefined {
  let n = 0n
  for (const c of s) {
    const v = alphabetIndex.get(c)
    if (v === undefined) return undefined
    n = n * 58n + v
  }
  const hex = n === 0n ? '' : n.toString(16)
  const body = fromHex(hex.length % 2 ? `0${hex}` : hex)
  let zeros = 0
  while (s[zeros] === '1') zeros++
  return Uint8Array.from([...new Array(zeros).fill(0), ...body])
}

const checksum = (payload: Uint8Array) => sha256(sha256(payload)).subarray(0, 4)

/**
 * Base58Check of a 21-byte Tron address (`0x41` + 20 bytes).
 *
 * @example
 * tronHexToBase58('41a614f803b6fd780986a42c78ec9c7f77e6ded13c') // 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'
 */
export function tronHexToBase58(hex: string): string {
  const bytes = fromHex(hex.replace(/^0x/, ''))
  if (bytes.length !== 21 || bytes[0] !== TRON_ADDRESS_PREFIX)
    throw new DriverError('INVALID_ADDRESS', `not a 41-prefixed Tron address: ${hex}`, { retryable: false })
  return base58Encode(Uint8Array.from([...bytes, ...checksum(bytes)]))
}

/** The 21 address bytes (`41…`, lowercase hex) of a valid base58check Tron address, else undefined. */
export function tronBase58ToHex(address: string): string | undefined {
  const bytes = base58Decode(address)
  if (!bytes || bytes.length !== 25) return undefined
  const payload = bytes.subarray(0, 21)
  const sum = checksum(payload)
  if (payload[0] !== TRON_ADDRESS_PREFIX || sum.some((b, i) => b !== bytes[21 + i])) return undefined
  return toHex(payload)
}

/** The base58 address of an EVM-style 20-byte hex account (as in TVM logs and ABI words), `0x` optional. */
export function tronFromEvmHex(hex20: string): string {
  return tronHexToBase58(`41${hex20.replace(/^0x/, '').slice(-40).toLowerCase()}`)
}

/**
 * Accepts the base58check form (`T…`, 34 characters) and the hex form (`41…`, 42 hex digits, `0x` optional);
 * normalizes to base58, the form wallets and explorers show.
 */
export function validateTronAddress(input: string): AddressValidation {
  const s = input.trim()
  if (/^(0x)?41[0-9a-fA-F]{40}$/.test(s))
    return { ok: true, normalized: tronHexToBase58(s.replace(/^0x/, '')) }
  if (!/^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(s))
    return { ok: false, reason: 'not a Tron address (base58 T… or hex 41…)' }
  if (!tronBase58ToHex(s)) return { ok: false, reason: 'bad base58check checksum' }
  return { ok: true, normalized: s }
}
