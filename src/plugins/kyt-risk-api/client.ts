import { DriverError } from '@tollgate/sdk'
import { type JsonAnswer, requestJson } from '@tollgate/sdk/http'

/** Where and how to reach the API. */
export type RiskApiEndpoint = {
  baseUrl: string
  apiKey: string
  timeoutMs: number
  maxResponseBytes: number
}

/** The path of the entities endpoints under the base URL. */
const entitiesPath = '/api/risk/v2/entities'

/**
 * The `message` of an error body (`{"message": "Invalid address format"}`), for the error's text; undefined
 * when the body is not one.
 *
 * @example
 * riskApiErrorMessage({ message: 'Invalid address format' }) // 'Invalid address format'
 */
export function riskApiErrorMessage(body: unknown): string | undefined {
  const message = (body as { message?: unknown } | null | undefined)?.message
  return typeof message === 'string' ? message : undefined
}

/**
 * One request to the API with the key in its `Token` header, its failures the SDK's typed `KYT_*` errors
 * (`requestJson`); `accept` lists further statuses taken as success. The key is never in a message.
 */
function call(
  endpoint: RiskApiEndpoint,
  method: 'GET' | 'POST',
  path: string,
  options: { body?: unknown; signal?: AbortSignal; accept?: number[] },
): Promise<JsonAnswer> {
  return requestJson(`${endpoint.baseUrl}${entitiesPath}${path}`, {
    method,
    headers: { Token: endpoint.apiKey },
    body: options.body,
    timeoutMs: endpoint.timeoutMs,
    maxResponseBytes: endpoint.maxResponseBytes,
    signal: options.signal,
    codePrefix: 'KYT',
    what: `${method} ${entitiesPath}${path}`,
    service: 'the risk API',
    accept: options.accept,
    errorMessage: riskApiErrorMessage,
    secrets: [endpoint.apiKey],
  })
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
    throw new DriverError(
      'KYT_NOT_REGISTERED',
      `GET ${entitiesPath}${path}: HTTP 404, the risk API does not know the address it was just given`,
      { retryable: true },
    )
  return body
}
