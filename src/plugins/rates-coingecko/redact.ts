import { DriverError } from '@tollgate/sdk'

/**
 * `text` with every occurrence of `secret` blanked out. The API key must never reach a message or a log line,
 * and a server may echo it back in any text it sends (an error body).
 *
 * @example
 * redact('token abc123 refused', 'abc123') // 'token [redacted] refused'
 */
export function redact(text: string, secret: string): string {
  return text.split(secret).join('[redacted]')
}

/**
 * The error to let out of a fetch: a `DriverError` whose message or cause mentions `secret` comes back with
 * the message redacted and the cause left out; anything else unchanged.
 *
 * @example
 * throw withoutSecret(err, options.apiKey)
 */
export function withoutSecret(err: unknown, secret: string): unknown {
  if (!(err instanceof DriverError)) return err
  const cause =
    err.cause instanceof Error ? `${err.cause.message} ${err.cause.stack}` : String(err.cause ?? '')
  if (!err.message.includes(secret) && !cause.includes(secret)) return err
  const leaky = cause.includes(secret)
  return new DriverError(err.code, redact(err.message, secret), {
    retryable: err.retryable,
    cause: leaky ? undefined : err.cause,
  })
}
