import { DriverError } from '@tollgate/sdk'

/**
 * `text` with every occurrence of each secret blanked out. A token or a header value must never reach a message
 * or a log line, and a server may echo them back in any text it sends (an error body).
 *
 * @example
 * redact('token abc123 refused', ['abc123']) // 'token [redacted] refused'
 */
export function redact(text: string, secrets: readonly string[]): string {
  return secrets.reduce((clean, secret) => clean.split(secret).join('[redacted]'), text)
}

/**
 * The error to let out of a fetch: a `DriverError` whose message or cause mentions a secret comes back with
 * the message redacted and the cause left out; anything else unchanged.
 *
 * @example
 * throw withoutSecrets(err, [options.bearerToken])
 */
export function withoutSecrets(err: unknown, secrets: readonly string[]): unknown {
  if (!(err instanceof DriverError) || secrets.length === 0) return err
  const cause =
    err.cause instanceof Error ? `${err.cause.message} ${err.cause.stack}` : String(err.cause ?? '')
  const leaky = secrets.some((s) => cause.includes(s))
  if (!leaky && !secrets.some((s) => err.message.includes(s))) return err
  return new DriverError(err.code, redact(err.message, secrets), {
    retryable: err.retryable,
    cause: leaky ? undefined : err.cause,
  })
}
