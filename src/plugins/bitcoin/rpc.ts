import { DriverError } from '@tollgate/sdk'

/** One node endpoint: its URL without credentials and the Authorization header for it. */
type Endpoint = { url: string; label: string; authorization?: string }

/** A JSON-RPC client over one or more Bitcoin Core / bcoin nodes. */
export type BitcoinRpc = {
  /** Calls `method` on the first node that answers; see `createBitcoinRpc` for failover and errors. */
  call<T>(method: string, params?: unknown[], signal?: AbortSignal): Promise<T>
  /** Endpoint labels (URLs without credentials), in configured order. */
  readonly endpoints: readonly string[]
}

export type BitcoinRpcOptions = {
  /** `http(s)://[user:password@]host:port[/path]`; credentials in a URL win over `user`/`password`. */
  urls: readonly string[]
  /** Basic-auth user and password for URLs without credentials (bcoin: any user, the API key as password). */
  user?: string
  password?: string
  /** Per-request timeout. */
  timeoutMs: number
}

/** The `{ code, message }` of a JSON-RPC error answer, kept as a DriverError's `cause`. */
export type RpcErrorBody = { code: number; message: string }

/** The JSON-RPC error code behind a DriverError from `call`, if the node answered with one. */
export function rpcErrorCode(err: unknown): number | undefined {
  const cause = (err as { cause?: unknown } | undefined)?.cause
  if (cause && typeof cause === 'object' && typeof (cause as RpcErrorBody).code === 'number')
    return (cause as RpcErrorBody).code
  return undefined
}

/** JSON-RPC codes meaning the method does not exist on that node. */
const methodNotFound = -32601
/** Bitcoin Core's RPC_IN_WARMUP: the node is starting; asking again later helps. */
const inWarmup = -28

function endpoint(raw: string, user?: string, password?: string): Endpoint {
  const url = new URL(raw)
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new DriverError('INVALID_RPC_URL', `RPC URL must be http(s), got ${url.protocol}`, {
      retryable: false,
    })
  let authorization: string | undefined
  const u = url.username ? decodeURIComponent(url.username) : user
  const p = url.password ? decodeURIComponent(url.password) : password
  if (u !== undefined || p !== undefined)
    authorization = `Basic ${Buffer.from(`${u ?? ''}:${p ?? ''}`).toString('base64')}`
  url.username = ''
  url.password = ''
  return { url: url.toString(), label: url.toString(), authorization }
}

const aborted = (method: string, signal: AbortSignal) =>
  new DriverError('ABORTED', `${method}: aborted`, { retryable: true, cause: signal.reason })

/**
 * One request to one endpoint. Resolves with the result, or throws a DriverError:
 * - `RPC_ERROR` retryable: connection failures, timeouts, HTTP errors without a JSON-RPC body (5xx, 429…),
 *   unparsable answers, and the warm-up error of a starting node;
 * - `RPC_AUTH` not retryable: HTTP 401/403 (wrong credentials for that node);
 * - `RPC_UNSUPPORTED` not retryable: the node does not have the method;
 * - `RPC_REJECTED` not retryable: any other JSON-RPC error (the node answered; the code is in `cause`).
 */
async function request<T>(
  ep: Endpoint,
  method: string,
  params: unknown[],
  timeoutMs: number,
  signal?: AbortSignal,
) {
  const timeout = AbortSignal.timeout(timeoutMs)
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (ep.authorization) headers.authorization = ep.authorization
  const where = `${method} (${ep.label})`
  let res: Response
  let text: string
  try {
    res = await fetch(ep.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '1.0', id: 'tollgate', method, params }),
      signal: combined,
      redirect: 'error',
    })
    text = await res.text()
  } catch (err) {
    if (signal?.aborted) throw aborted(method, signal)
    if (timeout.aborted)
      throw new DriverError('RPC_TIMEOUT', `${where}: timed out after ${timeoutMs} ms`, {
        retryable: true,
        cause: err,
      })
    const message = err instanceof Error ? err.message : String(err)
    throw new DriverError('RPC_ERROR', `${where}: ${message}`, { retryable: true, cause: err })
  }
  if (res.status === 401 || res.status === 403)
    throw new DriverError('RPC_AUTH', `${where}: HTTP ${res.status} (check the RPC user and password)`, {
      retryable: false,
    })
  // Bitcoin Core answers JSON-RPC errors with HTTP 404/500 and a JSON body: read the body before the status
  let body: { result?: T; error?: RpcErrorBody | null } | undefined
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (body && typeof body === 'object' && body.error) {
    const { code, message } = body.error
    const cause: RpcErrorBody = { code, message }
    if (code === methodNotFound)
      throw new DriverError('RPC_UNSUPPORTED', `${where}: ${message}`, { retryable: false, cause })
    if (code === inWarmup)
      throw new DriverError('RPC_ERROR', `${where}: ${message}`, { retryable: true, cause })
    throw new DriverError('RPC_REJECTED', `${where}: ${message} (code ${code})`, { retryable: false, cause })
  }
  if (!res.ok)
    throw new DriverError('RPC_ERROR', `${where}: HTTP ${res.status} ${text.slice(0, 200)}`, {
      retryable: true,
    })
  if (!body || typeof body !== 'object' || !('result' in body))
    throw new DriverError('RPC_ERROR', `${where}: not a JSON-RPC answer: ${text.slice(0, 200)}`, {
      retryable: true,
    })
  return body.result as T
}

/**
 * A JSON-RPC client for the subset Bitcoin Core and bcoin share (`getblockcount`, `getblockhash`,
 * `getbestblockhash`, `getblock <hash> false`, `getrawtransaction`, `getrawmempool`, `sendrawtransaction`,
 * `estimatesmartfee`). Basic auth comes from the URL (`http://user:pass@host:8332`, e.g. Core's cookie
 * `__cookie__:<hex>`) or from `user`/`password`.
 *
 * Failover: a call starts at the node that answered last; a retryable failure (network, timeout, 5xx) or an
 * auth refusal moves on to the next URL, and the last error is thrown when every URL failed. An answer from a
 * node (a JSON-RPC error) is final: another node would say the same. The caller's `signal` stops everything
 * with `ABORTED`.
 *
 * @example
 * const rpc = createBitcoinRpc({ urls: ['http://x:apikey@127.0.0.1:48332/'], timeoutMs: 10_000 })
 * const height = await rpc.call<number>('getblockcount')
 */
export function createBitcoinRpc(options: BitcoinRpcOptions): BitcoinRpc {
  if (options.urls.length === 0)
    throw new DriverError('INVALID_OPTIONS', 'at least one RPC URL is required', { retryable: false })
  const endpoints = options.urls.map((u) => endpoint(u, options.user, options.password))
  let preferred = 0
  return {
    endpoints: endpoints.map((e) => e.label),
    async call<T>(method: string, params: unknown[] = [], signal?: AbortSignal): Promise<T> {
      if (signal?.aborted) throw aborted(method, signal)
      let last: unknown
      for (let attempt = 0; attempt < endpoints.length; attempt++) {
        const i = (preferred + attempt) % endpoints.length
        try {
          const result = await request<T>(endpoints[i] as Endpoint, method, params, options.timeoutMs, signal)
          preferred = i
          return result
        } catch (err) {
          last = err
          const e = err as DriverError
          if (e.code === 'ABORTED') throw err
          if (!e.retryable && e.code !== 'RPC_AUTH') throw err
        }
      }
      throw last
    },
  }
}

/** Satoshis from a BTC amount as a JSON number, exactly for every amount with at most 8 decimals. */
export function btcToSats(value: number): bigint {
  if (!Number.isFinite(value))
    throw new DriverError('INVALID_AMOUNT', `not a BTC amount: ${value}`, { retryable: false })
  const [whole, fraction = ''] = Math.abs(value).toFixed(8).split('.')
  const sats = BigInt(whole as string) * 100_000_000n + BigInt(fraction.padEnd(8, '0'))
  return value < 0 ? -sats : sats
}

/**
 * Fee rate for confirmation within `blocks`, in satoshis per 1000 virtual bytes, or `undefined` when the node
 * has no estimate yet. Reads Core's `feerate` and bcoin's `fee` field (both BTC/kvB; bcoin says -1 for none).
 */
export async function estimateSmartFee(
  rpc: BitcoinRpc,
  blocks: number,
  signal?: AbortSignal,
): Promise<bigint | undefined> {
  const answer = await rpc.call<{ feerate?: number; fee?: number; errors?: string[] }>(
    'estimatesmartfee',
    [blocks],
    signal,
  )
  const rate = answer.feerate ?? answer.fee
  if (rate === undefined || rate < 0) return undefined
  return btcToSats(rate)
}
