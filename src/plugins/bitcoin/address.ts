import { type AddressValidation, DriverError } from '@tollgate/sdk'
import { address as btcAddress } from 'bitcoinjs-lib'
import { type BitcoinNetwork, bitcoinNetworks } from './networks.ts'

/** The output types the driver gives addresses for (and accepts addresses of). */
export type ScriptType = 'p2pkh' | 'p2sh' | 'p2wpkh' | 'p2wsh' | 'p2tr'

/** A valid address of one network, decoded: its type and the scriptPubKey it pays. */
export type DecodedAddress = { type: ScriptType; script: Uint8Array; normalized: string }

const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

const concat = (...parts: Array<Uint8Array | number[]>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** The scriptPubKey of each type around its hash or witness program. */
const scriptFor: Record<ScriptType, (program: Uint8Array) => Uint8Array> = {
  p2pkh: (h) => concat([0x76, 0xa9, 0x14], h, [0x88, 0xac]),
  p2sh: (h) => concat([0xa9, 0x14], h, [0x87]),
  p2wpkh: (h) => concat([0x00, 0x14], h),
  p2wsh: (h) => concat([0x00, 0x20], h),
  p2tr: (h) => concat([0x51, 0x20], h),
}

/** Which standard type a scriptPubKey is, from its exact byte template; `undefined` for anything else. */
export function scriptType(s: Uint8Array): ScriptType | undefined {
  switch (s.length) {
    case 25:
      return s[0] === 0x76 && s[1] === 0xa9 && s[2] === 0x14 && s[23] === 0x88 && s[24] === 0xac
        ? 'p2pkh'
        : undefined
    case 23:
      return s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87 ? 'p2sh' : undefined
    case 22:
      return s[0] === 0x00 && s[1] === 0x14 ? 'p2wpkh' : undefined
    case 34:
      if (s[1] !== 0x20) return undefined
      return s[0] === 0x00 ? 'p2wsh' : s[0] === 0x51 ? 'p2tr' : undefined
    default:
      return undefined
  }
}

/**
 * The address a scriptPubKey pays on `network`, for the five standard types (P2PKH, P2SH, P2WPKH, P2WSH, P2TR);
 * `undefined` for bare multisig, P2PK, OP_RETURN, future witness versions and non-standard scripts.
 *
 * @example
 * scriptToAddress(Buffer.from('0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2', 'hex'), bitcoinNetworks.mainnet)
 * // 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu'
 */
export function scriptToAddress(script: Uint8Array, network: BitcoinNetwork): string | undefined {
  switch (scriptType(script)) {
    case 'p2pkh':
      return btcAddress.toBase58Check(script.subarray(3, 23), network.pubKeyHash)
    case 'p2sh':
      return btcAddress.toBase58Check(script.subarray(2, 22), network.scriptHash)
    case 'p2wpkh':
    case 'p2wsh':
      return btcAddress.toBech32(script.subarray(2), 0, network.bech32)
    case 'p2tr':
      return btcAddress.toBech32(script.subarray(2), 1, network.bech32)
    default:
      return undefined
  }
}

const fail = (reason: string) => ({ ok: false as const, reason })

/** Which other network an hrp or base58 version byte belongs to, for a clearer refusal. */
function otherNetwork(network: BitcoinNetwork, match: (n: BitcoinNetwork) => boolean): string | undefined {
  const names = Object.values(bitcoinNetworks)
    .filter((n) => n.name !== network.name && match(n))
    .map((n) => n.name)
  return names.length > 0 ? names.join('/') : undefined
}

function decodeSegwit(
  input: string,
  network: BitcoinNetwork,
): { ok: true; value: DecodedAddress } | { ok: false; reason: string } {
  let decoded: { version: number; prefix: string; data: Uint8Array }
  try {
    decoded = btcAddress.fromBech32(input)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    if (/wrong encoding/.test(message))
      return fail('wrong checksum variant: witness v0 must use bech32, v1 and later bech32m (BIP350)')
    if (/mixed-case/i.test(message)) return fail('mixed-case bech32 address')
    if (/checksum/i.test(message)) return fail('bad bech32 checksum')
    if (/padding|excess/i.test(message)) return fail('bad bech32 padding')
    return fail(`not a valid bech32 address (${message})`)
  }
  if (decoded.prefix !== network.bech32)
    return fail(`not a ${network.name} address (prefix ${decoded.prefix})`)
  const { version, data } = decoded
  let type: ScriptType
  if (version === 0 && data.length === 20) type = 'p2wpkh'
  else if (version === 0 && data.length === 32) type = 'p2wsh'
  else if (version === 0) return fail(`witness v0 program must be 20 or 32 bytes, got ${data.length}`)
  else if (version === 1 && data.length === 32) type = 'p2tr'
  else if (version === 1) return fail(`witness v1 (taproot) program must be 32 bytes, got ${data.length}`)
  else return fail(`unsupported witness version ${version}`)
  return { ok: true, value: { type, script: scriptFor[type](data), normalized: input.toLowerCase() } }
}

function decodeBase58(
  input: string,
  network: BitcoinNetwork,
): { ok: true; value: DecodedAddress } | { ok: false; reason: string } {
  let decoded: { version: number; hash: Uint8Array }
  try {
    decoded = btcAddress.fromBase58Check(input)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    if (/checksum/i.test(message)) return fail('bad base58 checksum')
    if (/too (short|long)/.test(message)) return fail('base58 payload is not 21 bytes')
    return fail('not a base58 or bech32 address')
  }
  const type =
    decoded.version === network.pubKeyHash
      ? 'p2pkh'
      : decoded.version === network.scriptHash
        ? 'p2sh'
        : undefined
  if (!type) {
    const other = otherNetwork(
      network,
      (n) => n.pubKeyHash === decoded.version || n.scriptHash === decoded.version,
    )
    return fail(
      other
        ? `not a ${network.name} address (a ${other} address)`
        : `unknown base58 version byte 0x${decoded.version.toString(16).padStart(2, '0')}`,
    )
  }
  return { ok: true, value: { type, script: scriptFor[type](decoded.hash), normalized: input } }
}

/**
 * Decodes an address of `network`: P2PKH and P2SH (base58check), P2WPKH and P2WSH (bech32, witness v0) and
 * P2TR (bech32m, witness v1, 32-byte program). Bech32 is accepted in all-lower or all-upper case and normalized
 * to lower case; base58 is case-sensitive and kept as is.
 */
export function decodeBitcoinAddress(
  input: string,
  network: BitcoinNetwork,
): { ok: true; value: DecodedAddress } | { ok: false; reason: string } {
  if (input.length === 0) return fail('empty address')
  if (input.trim() !== input) return fail('surrounding whitespace')
  const lower = input.toLowerCase()
  const separator = lower.lastIndexOf('1')
  const hrp = separator > 0 ? lower.slice(0, separator) : ''
  if (hrp === network.bech32) return decodeSegwit(input, network)
  const other = otherNetwork(network, (n) => n.bech32 === hrp)
  if (other) return fail(`not a ${network.name} address (a ${other} address)`)
  return decodeBase58(input, network)
}

/**
 * `validateAddress` of the driver: `{ ok: true, normalized }` for a valid address of `network`, otherwise the
 * reason (wrong network, mixed case, bad checksum, bech32/bech32m mixed up, wrong program length…).
 */
export function validateBitcoinAddress(input: string, network: BitcoinNetwork): AddressValidation {
  const result = decodeBitcoinAddress(input, network)
  return result.ok ? { ok: true, normalized: result.value.normalized } : result
}

/**
 * The scriptPubKey (hex) an address pays: the driver's `addressKey`.
 *
 * Why the script and not the address string: a block holds scripts, so `scan` compares each output's script
 * bytes against the watch set without encoding an address per output (no base58/bech32 work on the hot path),
 * and every spelling of one destination (upper- or lower-case bech32) maps to the same key by construction.
 * Throws on an address that is not valid on `network` (the core only keys normalized, valid addresses).
 *
 * @example
 * bitcoinAddressKey('bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu', bitcoinNetworks.mainnet)
 * // '0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2'
 */
export function bitcoinAddressKey(address: string, network: BitcoinNetwork): string {
  const result = decodeBitcoinAddress(address, network)
  if (!result.ok)
    throw new DriverError('INVALID_ADDRESS', `not a ${network.name} address: ${result.reason}`, {
      retryable: false,
    })
  return hex(result.value.script)
}
