import { DriverError } from '@tollgate/sdk'
import type { TronOptions } from './options.ts'

/** A java-tron HTTP API over several full nodes. */
export type TronClient = {
  /** POSTs `body` (JSON) to `path` (e.g. `/wallet/getnowblock`) and returns the parsed answer. */
  call<T>(path: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<T>
}

type Options = Pick<TronOptions, 'fullHosts' | 'apiKey' | 'timeoutMs' | 'retryRounds' | 'backoffMs'>

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        resolve()
      },
      { once: true },
    )
  })

/**
 * Failover over `fullHosts`: a call goes to the host that answered last; a network error, a timeout
 * (`timeoutMs`), an HTTP error status, a body that is not JSON or a java-tron `{"Error": …}` moves it to the
 * next host at once. After a whole round of failures it waits `backoffMs × 2^round` and goes round again,
 * `retryRounds` times, then throws a retryable `RPC_ERROR` whose `cause` is the last failure
 * (`RPC_HTTP_ERROR`, retryable for 429/5xx; `NODE_ERROR`; a network or parse error). A call is never skipped:
 * the caller gets the answer or an error.
 *
 * @example
 * const client = createTronClient({ fullHosts: [url], timeoutMs: 10_000, retryRounds: 3, backoffMs: 500 })
 * const block = await client.call<TronBlock>('/wallet/getnowblock', {})
 */
export function createTronClient(options: Options): TronClient {
  const hosts = options.fullHosts.map((h) => h.replace(/\/+$/, ''))
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (options.apiKey) headers['TRON-PRO-API-KEY'] = options.apiKey
  let preferred = 0

  async function once(host: string, path: string, body: string, signal?: AbortSignal): Promise<unknown> {
    const timeout = AbortSignal.timeout(options.timeoutMs)
    const res = await fetch(`${host}${path}`, {
      method: 'POST',
      headers,
      body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    })
    const text = await res.text()
    if (!res.ok)
      throw new DriverError('RPC_HTTP_ERROR', `HTTP ${res.status}: ${text.slice(0, 200)}`, {
        retryable: res.status === 429 || res.status >= 500,
      })
    const json = JSON.parse(text) as unknown
    if (json && typeof json === 'object' && 'Error' in json)
      throw new DriverError('NODE_ERROR', `node error: ${String(json.Error)}`, { retryable: true })
    return json
  }

  return {
    async call<T>(path: string, payload: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
      const body = JSON.stringify(payload)
      const failures: string[] = []
      let last: unknown
      for (let round = 0; round < options.retryRounds; round++) {
        if (round > 0) await sleep(options.backoffMs * 2 ** (round - 1), signal)
        for (let k = 0; k < hosts.length; k++) {
          if (signal?.aborted)
            throw new DriverError('ABORTED', `${path}: aborted`, { retryable: true, cause: signal.reason })
          const i = (preferred + k) % hosts.length
          const host = hosts[i] as string
          try {
            const out = (await once(host, path, body, signal)) as T
            preferred = i
            return out
          } catch (err) {
            if (signal?.aborted)
              throw new DriverError('ABORTED', `${path}: aborted`, { retryable: true, cause: signal.reason })
            last = err
            const e = err as Error
            failures.push(
              `${host}: ${e.name === 'TimeoutError' ? `timed out after ${options.timeoutMs} ms` : e.message}`,
            )
          }
        }
      }
      throw new DriverError(
        'RPC_ERROR',
        `${path} failed on every node: ${failures.slice(-hosts.length).join('; ')}`,
        { retryable: true, cause: last },
      )
    },
  }
}
