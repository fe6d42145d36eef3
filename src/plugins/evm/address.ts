import type { AddressValidation } from '@tollgate/sdk'
import { getAddress } from 'viem'

/**
 * Accepts a 0x address in all-lower, all-upper or correct EIP-55 mixed case; a mixed-case address with a wrong
 * checksum is refused (it is most likely a typo). Normalizes to the checksummed form.
 */
export function validateEvmAddress(input: string): AddressValidation {
  if (!/^0x[0-9a-fA-F]{40}$/.test(input))
    return { ok: false, reason: 'not a 0x-prefixed 20-byte hex address' }
  const body = input.slice(2)
  const checksummed = getAddress(`0x${body.toLowerCase()}`)
  const mixedCase = body !== body.toLowerCase() && body !== body.toUpperCase()
  if (mixedCase && checksummed !== input) return { ok: false, reason: 'bad EIP-55 checksum' }
  return { ok: true, normalized: checksummed }
}
