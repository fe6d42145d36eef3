import { sha256 } from '@noble/hashes/sha2.js'

/**
 * Base58check for the stand-in node, written apart from the driver's so the two are not checked against one
 * implementation (and without tronweb: loading tronweb from several modules of one `bun test` graph races in
 * its generated protobuf code, "proto is not defined").
 */
const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

const check = (payload: Uint8Array) => sha256(sha256(payload)).subarray(0, 4)

/** `41…` hex → `T…` */
export function base58FromHex41(hex41: string): string {
  const payload = Buffer.from(hex41, 'hex')
  const full = Buffer.concat([payload, Buffer.from(check(payload))])
  let n = BigInt(`0x${full.toString('hex')}`)
  let out = ''
  while (n > 0n) {
    out = alphabet[Number(n % 58n)] + out
    n /= 58n
  }
  return out
}

/** `T…` → `41…` hex, or undefined when the checksum or prefix is wrong. */
export function hex41FromBase58(address: string): string | undefined {
  let n = 0n
  for (const c of address) {
    const i = alphabet.indexOf(c)
    if (i < 0) return undefined
    n = n * 58n + BigInt(i)
  }
  const hex = n.toString(16).padStart(50, '0')
  if (hex.length !== 50) return undefined
  const bytes = Buffer.from(hex, 'hex')
  const payload = bytes.subarray(0, 21)
  if (payload[0] !== 0x41 || !Buffer.from(check(payload)).equals(bytes.subarray(21))) return undefined
  return payload.toString('hex')
}
