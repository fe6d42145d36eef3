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
] as const
export type ErrorCode = (typeof errorCodes)[number]

/**
 * An expected failure with a stable code and, for input problems, the offending field. Anything else that
 * escapes is a bug: it is logged and masked.
 */
export class TollgateError extends Error {
  readonly code: ErrorCode
  readonly field: string | undefined
  constructor(code: ErrorCode, message: string, field?: string) {
    super(message)
    this.name = 'TollgateError'
    this.code = code
    this.field = field
  }
}

export const invalidInput = (field: string, message: string) =>
  new TollgateError('INVALID_INPUT', message, field)
export const notFound = (what: string) => new TollgateError('NOT_FOUND', `${what} not found`)
