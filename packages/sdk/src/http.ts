import { DriverError } from './errors.ts'

/**
 * JSON over HTTP for plugins that call a provider's API (rate sources, screening services): one request within a
 * time and size budget, its every failure a typed `DriverError` a caller can retry or not, and the plugin's
 * secrets kept out of every message.
 */

/** What `requestJson` sends, how long it waits, how much it reads, and how its errors are named. */
export type JsonRequestOptions = {
  /** `GET` unless given. */
  method?: string
  /** Sent with the request after `Accept: application/json` (credentials among them). */
  headers?: Record<string, string>
  /** Sent as JSON (`Content-Type: application/json`); no body when undefined. */
  body?: unknown
  /** How long the whole exchange may take, the body included. */
  timeoutMs: number
  /** How much of an answer is read; a longer one is cut off and refused. */
  maxResponseBytes: number
  /** The caller's signal: its abort ends the request as the retryable `<prefix>_ABORTED`. */
  signal?: AbortSignal
  /**
   * The first part of every error code: `RATE` gives `RATE_TIMEOUT`, `KYT` gives `KYT_TIMEOUT` (and a 429 is
   * `KYT_RATE_LIMITED`, but `RATE_LIMITED` for `RATE`).
   */
  codePrefix: string
  /**
   * How messages name the request (`GET /v2/exchange-rates?currency=BTC`); by default the method and the URL
   * without its query (a query may carry a key).
   */
  what?: string
  /** Who answers, for `… cannot be reached` (`Kraken`, `the risk API`); `the server` by default. */
  service?: string
  /** Further statuses handed back instead of thrown (a 404 that means "not known", a 409 "already there"). */
  accept?: readonly number[]
  /**
   * The provider's own message from an error answer, for the error's text: `json` is the parsed body (undefined
   * when it is not JSON), `text` the body as read. Undefined when the body says nothing of use.
   */
  errorMessage?: (json: unknown, text: string) => string | undefined
  /** Text that must never reach a message or a cause (an API key, a token, a query), blanked where it shows. */
  secrets?: readonly string[]
}

/**
 * An answer: its status, its parsed JSON body (undefined when the body is empty), and when the server says it
 * answered (its `Date` header, else when the answer arrived).
 */
export type JsonAnswer = { status: number; body: unknown; answeredAt: Date }

/** Longest text of the server's quoted in a message. */
const quoteLimit = 200

/**
 * `text` with every occurrence of each secret blanked out as `[redacted]`. A server may echo a key or a token
 * back in any text it sends (an error body, a network error's URL), and none may reach a message or a log line.
 *
 * @example
 * redactSecrets('token abc123 refused', ['abc123']) // 'token [redacted] refused'
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  return secrets.reduce(
    (clean, secret) => (secret === '' ? clean : clean.split(secret).join('[redacted]')),
    text,
  )
}

/**
 * The error to let out of a plugin: a `DriverError` whose message or cause mentions a secret comes back with the
 * message redacted and the cause left out (a cause's text cannot be redacted in place); anything else unchanged.
 * Wrap a provider's entry points with it, so an answer reader's message that quotes the server is covered too.
 *
 * @example
 * fetchRates(pairs, signal).catch((err: unknown) => { throw withoutSecrets(err, [options.apiKey]) })
 */
export function withoutSecrets(err: unknown, secrets: readonly string[]): unknown {
  const present = secrets.filter((s) => s !== '')
  if (!(err instanceof DriverError) || present.length === 0) return err
  const leaky = mentions(err.cause, present)
  if (!leaky && !present.some((s) => err.message.includes(s))) return err
  return new DriverError(err.code, redactSecrets(err.message, present), {
    retryable: err.retryable,
    cause: leaky ? undefined : err.cause,
  })
}

/** Whether a cause's text (an error's message and stack, or its string) holds any of `secrets`. */
function mentions(cause: unknown, secrets: readonly string[]): boolean {
  if (cause === undefined) return false
  const text = cause instanceof Error ? `${cause.message} ${cause.stack}` : String(cause)
  return secrets.some((s) => s !== '' && text.includes(s))
}

/**
 * Seconds to wait from a `Retry-After` header: delta-seconds, or an HTTP date (counted from `now`, at least 0).
 * Undefined when absent or unreadable (a negative or fractional number is neither form).
 *
 * @example
 * retryAfterSeconds('30') // 30
 * retryAfterSeconds('Wed, 01 Jan 2025 00:01:30 GMT', Date.parse('2025-01-01T00:00:00Z')) // 90
 */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  // every HTTP-date form starts with the day's name; Date.parse alone would take `-5` or `3.5` for dates
  const date = /^[A-Za-z]{3}/.test(trimmed) ? Date.parse(trimmed) : Number.NaN
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

/** The parsed JSON of `text`, or `undefined` when it is not JSON. */
function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * One JSON request, within `timeoutMs` (body included) and `maxResponseBytes`, its failures as typed errors
 * whose codes start with `codePrefix`:
 *
 * | what happened | code | retryable |
 * | --- | --- | --- |
 * | the caller's signal aborted | `<prefix>_ABORTED` | yes |
 * | no complete answer in time, or HTTP 408 | `<prefix>_TIMEOUT` | yes |
 * | network failure (refused, reset, DNS), HTTP 5xx | `<prefix>_UNAVAILABLE` | yes |
 * | HTTP 429 (the `Retry-After` seconds in the message) | `<prefix>_RATE_LIMITED` (`RATE_LIMITED` for `RATE`) | yes |
 * | HTTP 401, 403 | `<prefix>_AUTH` | no |
 * | another status outside 2xx and `accept` | `<prefix>_REJECTED` | no |
 * | a body past the cap, or not JSON | `<prefix>_BAD_ANSWER` | no |
 *
 * A status is judged before the size: a 503 with a huge error page is still a 503, worth trying again. An error's
 * message ends with the provider's own words when `errorMessage` finds some (at most 200 characters), and no
 * message or cause holds any of `secrets`. Redirects are refused: one would carry the credentials to wherever
 * it points. An empty body is `body: undefined`.
 *
 * @example
 * const { body, answeredAt } = await requestJson('https://api.kraken.com/0/public/Ticker?pair=XBTUSD', {
 *   timeoutMs: 5000,
 *   maxResponseBytes: 1 << 20,
 *   signal,
 *   codePrefix: 'RATE',
 *   what: 'GET /0/public/Ticker?pair=XBTUSD',
 *   service: 'Kraken',
 *   errorMessage: (json) => (json as { error?: string[] } | undefined)?.error?.join('; '),
 * })
 */
export async function requestJson(url: string, options: JsonRequestOptions): Promise<JsonAnswer> {
  const method = options.method ?? 'GET'
  const secrets = (options.secrets ?? []).filter((s) => s !== '')
  const what = options.what ?? defaultWhat(method, url)
  const clean = (text: string) => {
    const redacted = redactSecrets(text, secrets)
    return redacted.length > quoteLimit ? `${redacted.slice(0, quoteLimit)}…` : redacted
  }
  const fail = (suffix: string, message: string, retryable: boolean, cause?: unknown) =>
    new DriverError(errorCode(options.codePrefix, suffix), redactSecrets(message, secrets), {
      retryable,
      cause: mentions(cause, secrets) ? undefined : cause,
    })

  const timeout = AbortSignal.timeout(options.timeoutMs)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  let response: Response
  let bytes: Uint8Array | undefined
  try {
    response = await fetch(url, {
      method,
      headers: {
        Accept: 'application/json',
        ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal,
      // a redirect would carry the credentials to wherever it points
      redirect: 'error',
    })
    bytes = await readCapped(response, options.maxResponseBytes)
  } catch (err) {
    if (options.signal?.aborted) throw fail('ABORTED', `${what}: the request was aborted`, true, err)
    if (timeout.aborted)
      throw fail('TIMEOUT', `${what}: no complete answer within ${options.timeoutMs} ms`, true)
    const reason = clean(err instanceof Error ? err.message : String(err))
    throw fail(
      'UNAVAILABLE',
      `${what}: ${options.service ?? 'the server'} cannot be reached: ${reason}`,
      true,
      err,
    )
  }
  const arrived = new Date()
  const status = response.status
  const text = bytes === undefined ? undefined : new TextDecoder().decode(bytes)
  const said = () => {
    if (text === undefined || !options.errorMessage) return ''
    const message = options.errorMessage(parsedOrUndefined(text), text)
    return message ? `: ${clean(message)}` : ''
  }
  if (status === 429) {
    const seconds = retryAfterSeconds(response.headers.get('retry-after'))
    const after = seconds === undefined ? 'no Retry-After given' : `retry after ${seconds} s`
    throw fail('RATE_LIMITED', `${what}: HTTP 429, rate limited (${after})${said()}`, true)
  }
  if (status === 401 || status === 403) {
    const refused = secrets.length > 0 ? 'the credentials were refused' : 'access refused'
    throw fail('AUTH', `${what}: HTTP ${status}, ${refused}${said()}`, false)
  }
  if (status === 408) throw fail('TIMEOUT', `${what}: HTTP 408${said()}`, true)
  if (status >= 500) throw fail('UNAVAILABLE', `${what}: HTTP ${status}${said()}`, true)
  if ((status < 200 || status > 299) && !options.accept?.includes(status))
    throw fail('REJECTED', `${what}: HTTP ${status}${said()}`, false)
  if (text === undefined)
    throw fail(
      'BAD_ANSWER',
      `${what}: HTTP ${status} with a body over the ${options.maxResponseBytes} bytes allowed`,
      false,
    )
  let body: unknown
  try {
    body = text.length === 0 ? undefined : JSON.parse(text)
  } catch {
    throw fail('BAD_ANSWER', `${what}: HTTP ${status} with a body that is not JSON`, false)
  }
  return { status, body, answeredAt: answeredAt(response, arrived) }
}

/** `KYT_TIMEOUT` from `KYT` and `TIMEOUT`; the rate prefix is not said twice (`RATE_LIMITED`, not `RATE_RATE_LIMITED`). */
function errorCode(prefix: string, suffix: string): string {
  return prefix === 'RATE' && suffix === 'RATE_LIMITED' ? 'RATE_LIMITED' : `${prefix}_${suffix}`
}

/** `GET https://api.example.com/v1/prices`: the method and the URL without its query, or the URL as given. */
function defaultWhat(method: string, url: string): string {
  try {
    const parsed = new URL(url)
    return `${method} ${parsed.origin}${parsed.pathname}`
  } catch {
    return `${method} ${url}`
  }
}
