import { DriverError } from '@tollgate/sdk'

/** A transfer as the toy node stores it: `asset` is `native` or a token contract. */
export type ToyTransferJson = {
  txHash: string
  index: number
  asset: string
  from: string
  to: string
  amount: string
}

export type ToyBlockJson = {
  height: string
  hash: string
  parentHash: string
  time: number
  transfers?: ToyTransferJson[]
}

/** Calls one JSON-RPC method of the toy node. */
export type ToyRpc = <T>(method: string, params?: unknown[], signal?: AbortSignal) => Promise<T>

/**
 * A JSON-RPC client that fails the way the gateway expects: every failure is a `DriverError`, retryable when
 * asking again can help (the node is down, slow, or not yet at that height), not when it cannot.
 *
 * @example
 * const rpc = toyRpc('http://127.0.0.1:7545', 5000)
 * const tip = await rpc<ToyBlockJson>('toy_tip')
 */
export function toyRpc(url: string, timeoutMs: number): ToyRpc {
  let id = 0
  return async <T>(method: string, params: unknown[] = [], signal?: AbortSignal): Promise<T> => {
    if (signal?.aborted) throw new DriverError('ABORTED', `${method}: aborted`, { retryable: true })
    const deadline = AbortSignal.timeout(timeoutMs)
    let body: { result?: T; error?: { code: number; message: string } }
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
        signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      body = (await res.json()) as typeof body
    } catch (cause) {
      if (signal?.aborted) throw new DriverError('ABORTED', `${method}: aborted`, { retryable: true, cause })
      const code = deadline.aborted ? 'RPC_TIMEOUT' : 'RPC_UNREACHABLE'
      throw new DriverError(code, `${method}: ${(cause as Error).message}`, { retryable: true, cause })
    }
    if (body.error) {
      // -32001: a height past the tip, which the chain may reach soon; anything else is the request's fault
      const pastTip = body.error.code === -32001
      throw new DriverError(pastTip ? 'PAST_TIP' : 'RPC_ERROR', `${method}: ${body.error.message}`, {
        retryable: pastTip,
      })
    }
    return body.result as T
  }
}
