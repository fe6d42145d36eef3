import { DriverError } from '@tollgate/sdk'

/** How long a request may take and how much of an answer is read. */
export type HttpLimits = { timeoutMs: number; maxResponseBytes: number }

/** A JSON answer, its status, and when the server says it answered (its `Date` header, else when it arrived). */
export type JsonAnswer = { status: number; body: unknown; answeredAt: Date }

const fail = (code: string, message: string, retryable: boolean, cause?: unknown) =>
  new DriverError(code, message, { retryable, cause })

const short = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text)

/** The message of an error body (`{"error": "…"}` or `{"message": "…"}`), when the body is one. */
function errorMessage(bytes: Uint8Array | undefined): string | undefined {
  if (!bytes) return undefined
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { error?: unknown; message?: unknown }
    const said = [parsed?.error, parsed?.message].find((m) => typeof m === 'string')
    return typeof said === 'string' ? short(said) : undefined
  } catch {
    return undefined
  }
}

/**
 * Seconds to wait from a `Retry-After` header: delta-seconds, or an HTTP date (counted from now, at least 0).
 * Undefined when absent or unreadable.
 *
 * @example
 * retryAfterSeconds('30') // 30
 */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000))
}

/** When the server says it answered: its `Date` header when that is a valid date, else `arrived`. */
function answeredAt(response: Response, arrived: Date): Date {
  const header = response.headers.get('date')
  const date = header === null ? Number.NaN : Date.parse(header)
  return Number.isNaN(date) ? arrived : new Date(date)
}

/**
 * Reads a body up to `max` bytes and cancels the stream past that: a 10 MB answer costs `max` bytes of memory,
 * not 10 MB. Returns undefined when the body is longer.
 */
async function readCapped(response: Response, max: number): Promise<Uint8Array | undefined> {
  if (Number(response.headers.get('content-length') ?? 0) > max) {
    await response.body?.cancel().catch(() => {})
    return undefined
  }
  const reader = response.body?.getReader()
  if (!reader) return new Uint8Array()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const read = await reader.read()
    if (read.done) break
    size += read.value.length
    if (size > max) {
      await reader.cancel().catch(() => {})
      return undefined
    }
    chunks.push(read.value)
  }
  return Buffer.concat(chunks)
}

/**
 * One GET of `url`, within `timeoutMs` (body included) and `maxResponseBytes`, its failures as typed errors named
 * by `what` (`GET https://rates.example.com/api/rates`): `RATE_TIMEOUT` and `RATE_UNAVAILABLE` (network, 5xx),
 * `RATE_LIMITED` (429, with the Retry-After seconds) and `RATE_ABORTED` (the caller's signal) are retryable;
 * `RATE_AUTH` (401/403), `RATE_REJECTED` (another 4xx) and `RATE_BAD_ANSWER` (a body past the cap, not JSON) are
 * not. `headers` go with the request (credentials among them); `accept` lists further statuses handed back instead of
 * thrown (their body parsed when it is JSON).
 *
 * @example
 * const { body, answeredAt } = await getJson(url, 'GET https://rates.example.com/api/rates', limits, { headers })
 */
export async function getJson(
  url: string,
  what: string,
  limits: HttpLimits,
  options: { signal?: AbortSignal; headers?: Record<string, string>; accept?: number[] } = {},
): Promise<JsonAnswer> {
  const timeout = AbortSignal.timeout(limits.timeoutMs)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  let response: Response
  let bytes: Uint8Array | undefined
  try {
    response = await fetch(url, {
      headers: { Accept: 'application/json', ...options.headers },
      signal,
      // a redirect would carry the credentials to wherever it points
      redirect: 'error',
    })
    bytes = await readCapped(response, limits.maxResponseBytes)
  } catch (err) {
    if (options.signal?.aborted) throw fail('RATE_ABORTED', `${what}: the rate fetch was aborted`, true, err)
    if (timeout.aborted)
      throw fail('RATE_TIMEOUT', `${what}: no complete answer within ${limits.timeoutMs} ms`, true)
    const reason = short(err instanceof Error ? err.message : String(err))
    throw fail('RATE_UNAVAILABLE', `${what}: the rates endpoint cannot be reached: ${reason}`, true, err)
  }
  const arrived = new Date()
  const status = response.status
  const said = () => {
    const message = errorMessage(bytes)
    return message ? `: ${message}` : ''
  }
  if (status === 429) {
    const seconds = retryAfterSeconds(response.headers.get('retry-after'))
    const after = seconds === undefined ? 'no Retry-After given' : `retry after ${seconds} s`
    throw fail('RATE_LIMITED', `${what}: HTTP 429, rate limited (${after})${said()}`, true)
  }
  if (status === 401 || status === 403)
    throw fail('RATE_AUTH', `${what}: HTTP ${status}, the credentials were refused${said()}`, false)
  if (status === 408) throw fail('RATE_TIMEOUT', `${what}: HTTP 408${said()}`, true)
  if (status >= 500) throw fail('RATE_UNAVAILABLE', `${what}: HTTP ${status}${said()}`, true)
  const accepted = options.accept?.includes(status) ?? false
  if ((status < 200 || status > 299) && !accepted)
    throw fail('RATE_REJECTED', `${what}: HTTP ${status}${said()}`, false)
  // checked after the status: a 503 with a huge error page is still a 503, worth trying again
  if (bytes === undefined)
    throw fail(
      'RATE_BAD_ANSWER',
      `${what}: HTTP ${status} with a body over the ${limits.maxResponseBytes} bytes allowed`,
      false,
    )
  let body: unknown
  try {
    body = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw fail('RATE_BAD_ANSWER', `${what}: HTTP ${status} with a body that is not JSON`, false)
  }
  return { status, body, answeredAt: answeredAt(response, arrived) }
}
