/**
 * What a driver throws when a node call or a build fails. `retryable` tells the core whether trying again
 * (later, or on another RPC URL) can help.
 *
 * @example
 * throw new DriverError('RPC_TIMEOUT', 'eth_blockNumber timed out after 10s', { retryable: true })
 */
export class DriverError extends Error {
  readonly code: string
  readonly retryable: boolean
  constructor(code: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause })
    this.name = 'DriverError'
    this.code = code
    this.retryable = options.retryable
  }
}

/**
 * True for a `DriverError` (also one thrown by a copy of the SDK bundled inside a third-party plugin).
 *
 * @example
 * if (isDriverError(err) && err.retryable) scheduleRetry()
 */
export function isDriverError(err: unknown): err is DriverError {
  return (
    err instanceof Error && err.name === 'DriverError' && typeof (err as DriverError).retryable === 'boolean'
  )
}
