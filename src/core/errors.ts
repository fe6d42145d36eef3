import { isDriverError } from '@tollgate/sdk'
import { PluginConfigError } from '../plugins/registry.ts'

/** Codes of expected failures; the API shows them as typed error results. */
export const errorCodes = [
  'INVALID_INPUT',
  'INVALID_AMOUNT',
  'UNKNOWN_CHAIN',
  'UNKNOWN_ASSET',
  'IDEMPOTENCY_KEY_REUSED',
  'NOT_FOUND',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'ADDRESS_POOL_EXHAUSTED',
  'URL_NOT_ALLOWED',
  'INVALID_ADDRESS',
  'INSUFFICIENT_BALANCE',
  'PAYOUTS_UNSUPPORTED',
  'INVALID_STATE',
  /** A withdrawal to one of the gateway's own addresses (a wallet role, the cold address, a deposit address). */
  'OWN_ADDRESS',
  /** A withdrawal to an address nobody controls (the zero address, a known burn address). */
  'BURN_ADDRESS',
  /** A withdrawal the destination would refuse (a contract that reverts the transfer). */
  'DESTINATION_REJECTED',
  /** An approval by the key that requested the withdrawal: another admin key must approve it. */
  'SELF_APPROVAL',
  /** A second decision on a withdrawal by a key that already approved or rejected it: another admin key must. */
  'ALREADY_DECIDED',
  /**
   * A payment on a chain that is not ready: its node is on another network, its scanning halted, or no scan
   * succeeded for longer than its `unavailableAfterMs`. Nothing was created; try again later or another chain.
   */
  'CHAIN_UNAVAILABLE',
  /** A withdrawal whose destination KYT screening blocks (a sanctioned address): refused, nothing reserved. */
  'KYT_BLOCKED',
  'RATE_UNAVAILABLE',
  /**
   * A merchant's confirmation choice asks fewer or more confirmations than the operator's bounds for that chain
   * and asset allow: nothing was stored.
   */
  'CONFIRMATIONS_OUT_OF_BOUNDS',
  /** A refund found nothing left to return from the source it draws on. */
  'NOTHING_TO_REFUND',
  /** A refund asked for more than its source can still return (the message says how much can). */
  'AMOUNT_NOT_REFUNDABLE',
  /** A refund link's address was already given: the link works once. */
  'REFUND_LINK_USED',
  /** A multisig signature that is not a valid owner's signature of the proposal it was given for. */
  'INVALID_SIGNATURE',
  /**
   * A console login refused: unknown email, wrong password or code, a code used before, a locked or disabled
   * account all answer alike, so the answer tells nothing about which accounts exist.
   */
  'LOGIN_FAILED',
  /** A console login with the right password for a user with two-factor on, but no code: ask for it. */
  'TOTP_REQUIRED',
] as const
export type ErrorCode = (typeof errorCodes)[number]

/**
 * How a failure is handled, decided from its type alone:
 * - `user`: the caller's input or request was refused; nothing changed. Shown to the caller, never retried.
 * - `retryable`: a passing condition (a node or the database unreachable, a lease or lock taken by another
 *   process). Retried later; logged as a warning.
 * - `permanent`: retrying cannot help until an operator acts (configuration, a driver that lacks a capability,
 *   a node refusing a transaction for good). Not retried; logged as an error.
 * - `bug`: a rule the code relies on was broken. Not retried; reported loudly; masked from API callers.
 */
export type ErrorKind = 'user' | 'retryable' | 'permanent' | 'bug'

/**
 * An expected failure with a stable code and, for input problems, the offending field. The API shows it as a
 * `UserError`; anything else that escapes a resolver is logged and masked.
 *
 * @example
 * throw new TollgateError('UNKNOWN_ASSET', 'unknown asset on ethereum; configured: ETH, USDT', 'asset')
 */
export class TollgateError extends Error {
  readonly kind = 'user' as const
  readonly code: ErrorCode
  readonly field: string | undefined
  constructor(code: ErrorCode, message: string, field?: string) {
    super(message)
    this.name = 'TollgateError'
    this.code = code
    this.field = field
  }
}

/**
 * An internal failure of a room, with a code of that room (`LEASE_LOST`, `NONCE_ROW_MISSING`…) and its kind.
 * Rooms make them through their own `errors.ts`, so each code is named once.
 *
 * @example
 * throw new GatewayError('retryable', 'LEASE_LOST', 'chain "ethereum": another scanner took over')
 */
export class GatewayError extends Error {
  readonly kind: Exclude<ErrorKind, 'user'>
  readonly code: string
  constructor(
    kind: Exclude<ErrorKind, 'user'>,
    code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'GatewayError'
    this.kind = kind
    this.code = code
  }
}

/**
 * The kind of any thrown value. Driver errors say themselves whether a retry can help; errors of no known
 * type (a dropped connection, a timeout in a library) count as retryable, since a bug of ours is thrown as a
 * `GatewayError` of kind `bug`.
 *
 * @example
 * if (errorKind(err) === 'user') return err // shown to the caller
 */
export function errorKind(err: unknown): ErrorKind {
  if (err instanceof TollgateError) return 'user'
  if (err instanceof GatewayError) return err.kind
  if (isDriverError(err)) return err.retryable ? 'retryable' : 'permanent'
  if (err instanceof PluginConfigError) return 'permanent'
  return 'retryable'
}

/** The stable code of a failure, where it has one (for logs and metrics). */
export function errorCode(err: unknown): string | undefined {
  if (err instanceof TollgateError || err instanceof GatewayError || isDriverError(err)) return err.code
  return undefined
}

export const invalidInput = (field: string, message: string) =>
  new TollgateError('INVALID_INPUT', message, field)
export const notFound = (what: string) => new TollgateError('NOT_FOUND', `${what} not found`)

/**
 * Checks free text a person gives with a decision (a reason, a reviewer's note): a string of at most `max`
 * characters with no control or bidirectional-override characters (line breaks and tabs are fine), since it is
 * shown in logs, consoles and reports. Answers it trimmed, or undefined when blank.
 *
 * @example
 * checkFreeText('note', 'customer verified by phone', 1000) // 'customer verified by phone'
 */
export function checkFreeText(field: string, text: unknown, max: number): string | undefined {
  if (text == null) return undefined
  if (typeof text !== 'string' || text.length > max)
    throw invalidInput(field, `${field} is text of at most ${max} characters`)
  if (/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.test(text.replace(/[\n\t]/g, '')))
    throw invalidInput(field, `${field} contains control characters`)
  return text.trim() === '' ? undefined : text.trim()
}

/**
 * A rule the code relies on was broken (a bug, not bad input or bad luck).
 *
 * @example
 * if (sum !== 0n) throw invariantBroken('UNBALANCED_POSTINGS', 'postings must sum to zero')
 */
export const invariantBroken = (code: string, message: string) => new GatewayError('bug', code, message)

/**
 * The configured driver cannot do what this step needs: an operator must change the configuration.
 *
 * @example
 * if (!payouts.unspent) throw driverLacks(chain.name, 'unspent', 'report unspent coins')
 */
export const driverLacks = (chain: string, capability: string, what: string) =>
  new GatewayError(
    'permanent',
    'DRIVER_CAPABILITY_MISSING',
    `${chain}: the driver cannot ${what} (${capability})`,
  )

/**
 * A failure's message as it may be stored or shown (a withdrawal's failure reason reaches the merchant): its first
 * line, every URL replaced by `<url>` (node URLs carry API keys, and drivers quote them in their messages), at most
 * `max` characters.
 *
 * @example
 * failureText(new Error('HTTP 500 from https://eth.example/v3/SECRET')) // 'HTTP 500 from <url>'
 */
export function failureText(err: unknown, max = 500): string {
  const message =
    typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err)
  return withoutUrls(message.split('\n')[0] ?? '').slice(0, max)
}

/**
 * The text with every URL (any `scheme://…` run) replaced by `<url>`.
 *
 * @example
 * withoutUrls('no answer from wss://node.example/key') // 'no answer from <url>'
 */
export function withoutUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>')
}
