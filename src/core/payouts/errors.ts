import { GatewayError, invariantBroken } from '../errors.ts'

/**
 * A sender's nonce counter was asked for before `ensureSenderNonce` created it: a bug in the calling pass.
 *
 * @example
 * if (!row) throw nonceRowMissing('ethereum', '0xabc…')
 */
export const nonceRowMissing = (chain: string, address: string) =>
  invariantBroken('NONCE_ROW_MISSING', `no nonce row for ${chain} ${address}: call ensureSenderNonce first`)

/**
 * Coins chosen for a transaction were locked or spent by another transaction meanwhile: the pass that built
 * it rolls back and a later one builds again from what is left.
 *
 * @example
 * if (locked.length < spends.length) throw coinsUnavailable(spends.length - locked.length)
 */
export const coinsUnavailable = (missing: number) =>
  new GatewayError(
    'retryable',
    'COINS_UNAVAILABLE',
    `${missing} of the coins to spend are no longer available`,
  )

/**
 * A key or account path the gateway derives from is not what its wallet roles need (configuration).
 *
 * @example
 * throw badAccountPath("m/44'/60'/0")
 */
export const badAccountPath = (path: string) =>
  new GatewayError('permanent', 'BAD_ACCOUNT_PATH', `not a hardened account path: ${path}`)

/**
 * The signer (or the xpubs an API process holds) cannot provide a key the gateway needs: configuration.
 *
 * @example
 * throw keyUnavailable("no xpub configured for account m/84'/0'/0' (set TOLLGATE_XPUBS or a seed)")
 */
export const keyUnavailable = (message: string) => new GatewayError('permanent', 'KEY_UNAVAILABLE', message)
