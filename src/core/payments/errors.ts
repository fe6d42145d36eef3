import { GatewayError } from '../errors.ts'

/**
 * The chain's deposit account path differs from the one its addresses were derived from: mixing two
 * derivation accounts would hand out addresses the gateway might not find again (configuration).
 *
 * @example
 * throw accountPathChanged('ethereum', "m/44'/60'/0'", "m/44'/60'/1'")
 */
export const accountPathChanged = (chain: string, stored: string, configured: string) =>
  new GatewayError(
    'permanent',
    'ACCOUNT_PATH_CHANGED',
    `chain "${chain}": deposit account path changed from ${stored} to ${configured}; refusing to mix derivation accounts`,
  )
