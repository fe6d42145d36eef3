import { DriverError } from '@tollgate/sdk'
import type { PublicClient } from 'viem'

/** JSON-RPC codes that say the node will never answer this method, whatever we retry. */
const unsupportedCodes = new Set([-32601, -32004, 4200])

function describe(data: unknown): string {
  if (typeof data === 'string') return data
  try {
    return JSON.stringify(data, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
  } catch {
    return String(data)
  }
}

/** Walks an error's cause chain for the JSON-RPC `code` and HTTP `status` viem attaches. */
export function errorFacts(err: unknown): { code?: number; status?: number; text: string } {
  const facts: { code?: number; status?: number; text: string } = { text: '' }
  let e: unknown = err
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const o = e as {
      code?: unknown
      status?: unknown
      message?: unknown
      shortMessage?: unknown
      details?: unknown
      data?: unknown
      cause?: unknown
    }
    if (facts.code === undefined && typeof o.code === 'number' && o.code !== -1) facts.code = o.code
    if (facts.status === undefined && typeof o.status === 'number') facts.status = o.status
    // viem's full message repeats the request body; its short message and details are what the node said
    facts.text += ` ${String(o.details ?? '')} ${String(o.shortMessage ?? o.message ?? '')}`
    // some providers put the reason in `data` (Tenderly: "range 9009594 is bigger than range limit 2000")
    if (o.data !== undefined && o.data !== null) facts.text += ` ${describe(o.data)}`
    e = o.cause
  }
  return facts
}

/**
 * Turns what a call threw into a `DriverError`: `ABORTED` when the caller's signal fired, `RPC_UNSUPPORTED`
 * (not retryable) when the node does not have the method, `RPC_ERROR` (retryable) for everything else —
 * network failures, timeouts, HTTP 429/5xx and the node-side errors (`header not found`, limits) that
 * another try or another URL can get past.
 */
export function rpcError(method: string, err: unknown, signal?: AbortSignal): DriverError {
  if (err instanceof DriverError) return err
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  if (signal?.aborted)
    return new DriverError('ABORTED', `${method}: aborted`, { retryable: true, cause: signal.reason ?? err })
  const { code } = errorFacts(err)
  if (code !== undefined && unsupportedCodes.has(code))
    return new DriverError('RPC_UNSUPPORTED', `${method}: ${message}`, { retryable: false, cause: err })
  return new DriverError('RPC_ERROR', `${method}: ${message}`, { retryable: true, cause: err })
}

/** Throws the `ABORTED` DriverError once `signal` has fired. */
export function checkAborted(signal: AbortSignal | undefined, where: string) {
  if (signal?.aborted)
    throw new DriverError('ABORTED', `${where}: aborted`, { retryable: true, cause: signal.reason })
}

export async function call<T>(
  client: PublicClient,
  method: string,
  params: unknown[],
  signal?: AbortSignal,
  retryCount?: number,
): Promise<T> {
  checkAborted(signal, method)
  try {
    // raw JSON-RPC: no per-transaction formatting on the hot path
    return (await client.request({ method, params } as never, { signal, retryCount })) as T
  } catch (err) {
    throw rpcError(method, err, signal)
  }
}
