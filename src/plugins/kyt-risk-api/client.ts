import { DriverError } from '@tollgate/sdk'
import { redact } from './redact.ts'

/** Where and how to reach the API. */
export type RiskApiEndpoint = {
  baseUrl: string
  apiKey: string
  timeoutMs: number
  maxResponseBytes: number
}

/** The path of the entities endpoints under the base URL. */
const entitiesPath = '/api/risk/v2/entities'

const fail = (code: string, message: string, retryable: boolean, cause?: unknown) =>
  new DriverError(code, message, { retryable, cause })

/** Text from the API or the network, short and with the key blanked out (a server may echo the header back). */
function redacted(text: string, apiKey: string): string {
  const clean = redact(text, apiKey)
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean
}

/** The `message` of an error body (`{"message": "…"}`), when the body is one. */
function errorMessage(body: Uint8Array): string | undefined {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(body)) as { message?: unknown }
    return typeof parsed?.message === 'string' ? parsed.message : undefined
  } catch {
    return undefined
  }
}

/**
 * Seconds to wait from a `Retry-After` header: delta-seconds, or an HTTP date (counted from now, at least 0).
 * Undefined when absent or unreadable.
 */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000))
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
 * One request to the API, within `timeoutMs` (body included) and `maxResponseBytes`, its failures as typed
 * errors: `KYT_TIMEOUT` and `KYT_UNAVAILABLE` (network, 5xx) and `KYT_RATE_LIMITED` (429, with the Retry-After
 * seconds) are retryable; `KYT_AUTH` (401/403), `KYT_REJECTED` (another 4xx) and `KYT_BAD_ANSWER` (a body past
 * the cap, not JSON) are not. `accept` lists further statuses taken as success. The key is never in a message.
 */
async function call(
  endpoint: RiskApiEndpoint,
  method: 'GET' | 'POST',
  path: string,
  options: { body?: unknown; signal?: AbortSignal; accept?: number[] },
): Promise<{ status: number; body: unknown }> {
  const what = `${method} ${entitiesPath}${path}`
  const timeout = AbortSignal.timeout(endpoint.timeoutMs)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  /** The error for a failure of the network or an abort, whichever step it hit. */
  const lost = (err: unknown) => {
    if (options.signal?.aborted) return fail('KYT_ABORTED', `${what}: the screening was aborted`, true, err)
    if (timeout.aborted)
      return fail('KYT_TIMEOUT', `${what}: no complete answer within ${endpoint.timeoutMs} ms`, true)
    const reason = redacted(err instanceof Error ? err.message : String(err), endpoint.apiKey)
    return fail('KYT_UNAVAILABLE', `${what}: the risk API cannot be reached: ${reason}`, true)
  }
  let response: Response
  let bytes: Uint8Array | undefined
  try {
    response = await fetch(`${endpoint.baseUrl}${entitiesPath}${path}`, {
      method,
      headers: {
        Token: endpoint.apiKey,
        Accept: 'application/json',
        ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal,
      // a redirect would carry the Token header to wherever it points
      redirect: 'error',
    })
    bytes = await readCapped(response, endpoint.maxResponseBytes)
  } catch (err) {
    throw lost(err)
  }
  const status = response.status
  const said = () => {
    const message = bytes && errorMessage(bytes)
    return message ? `: ${redacted(message, endpoint.apiKey)}` : ''
  }
  if (status === 429) {
    const seconds = retryAfterSeconds(response.headers.get('retry-after'))
    const after = seconds === undefined ? 'no Retry-After given' : `retry after ${seconds} s`
    throw fail('KYT_RATE_LIMITED', `${what}: HTTP 429, rate limited (${after})${said()}`, true)
  }
  if (status === 401 || status === 403)
    throw fail('KYT_AUTH', `${what}: HTTP ${status}, the API key was refused${said()}`, false)
  if (status === 408) throw fail('KYT_TIMEOUT', `${what}: HTTP 408${said()}`, true)
  if (status >= 500) throw fail('KYT_UNAVAILABLE', `${what}: HTTP ${status}${said()}`, true)
  if ((status < 200 || status > 299) && !options.accept?.includes(status))
    throw fail('KYT_REJECTED', `${what}: HTTP ${status}${said()}`, false)
  // checked after the status: a 503 with a huge error page is still a 503, worth trying again
  if (bytes === undefined)
    throw fail(
      'KYT_BAD_ANSWER',
      `${what}: HTTP ${status} with a body over the ${endpoint.maxResponseBytes} bytes allowed`,
      false,
    )
  try {
    return { status, body: bytes.length === 0 ? undefined : JSON.parse(new TextDecoder().decode(bytes)) }
  } catch {
    throw fail('KYT_BAD_ANSWER', `${what}: HTTP ${status} with a body that is not JSON`, false)
  }
}

/**
 * Registers an address (`POST /api/risk/v2/entities`), so the read endpoint knows it. An address the API
 * already holds (409) counts as registered.
 *
 * @example
 * await registerAddress(endpoint, '0x8589427373D6D84E98730D7795D8f6f8731FDA16')
 */
export async function registerAddress(
  endpoint: RiskApiEndpoint,
  address: string,
  signal?: AbortSignal,
): Promise<void> {
  await call(endpoint, 'POST', '', { body: { address }, signal, accept: [409] })
}

/**
 * Reads the assessment of a registered address (`GET /api/risk/v2/entities/{address}`, the address
 * URL-encoded as one path segment) and returns the parsed body, unchecked. A 404 (the API does not know the
 * address, e.g. its registration has not landed yet) is the retryable `KYT_NOT_REGISTERED`.
 *
 * @example
 * const body = await fetchEntity(endpoint, 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq')
 */
export async function fetchEntity(
  endpoint: RiskApiEndpoint,
  address: string,
  signal?: AbortSignal,
): Promise<unknown> {
  const path = `/${encodeURIComponent(address)}`
  const { status, body } = await call(endpoint, 'GET', path, { signal, accept: [404] })
  if (status === 404)
    throw fail(
      'KYT_NOT_REGISTERED',
      `GET ${entitiesPath}${path}: HTTP 404, the risk API does not know the address it was just given`,
      true,
    )
  return body
}
