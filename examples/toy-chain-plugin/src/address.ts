import { type AddressValidation, childPublicKey, type DerivedAddress, keccakAccountId } from '@tollgate/sdk'

/** BIP44 coin type 1 (testnets of every coin): the toy chain has no coin type of its own. */
export const accountPath = "m/44'/1'/0'"

const pattern = /^toy1[0-9a-f]{40}$/i

/**
 * The receive address at `accountPath/0/index`: `toy1` and the 20-byte account id of the key, in hex.
 *
 * @example
 * deriveToyAddress({ xpub, index: 0 }) // { address: 'toy1…', path: "m/44'/1'/0'/0/0" }
 */
export function deriveToyAddress({ xpub, index }: { xpub: string; index: number }): DerivedAddress {
  const id = keccakAccountId(childPublicKey(xpub, 0, index))
  return { address: `toy1${Buffer.from(id).toString('hex')}`, path: `${accountPath}/0/${index}` }
}

/**
 * Toy addresses are case-insensitive; the normalized form is lowercase.
 *
 * @example
 * validateToyAddress('TOY1AB…') // { ok: true, normalized: 'toy1ab…' }
 */
export function validateToyAddress(s: string): AddressValidation {
  if (typeof s !== 'string' || !pattern.test(s))
    return { ok: false, reason: 'a toy address is toy1 followed by 40 hex digits' }
  return { ok: true, normalized: s.toLowerCase() }
}
