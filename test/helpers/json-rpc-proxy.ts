/** One JSON-RPC call as the proxy sees it. */
export type RpcBody = { jsonrpc: '2.0'; id: number; method: string; params: any[] }

export type Tamper = {
  /** Answer instead of the node: a JSON-RPC `result`/`error`, or a whole HTTP response. */
  before?: (
    req: RpcBody,
  ) => { result?: unknown; error?: { code: number; message: string } } | Response | undefined
  /** Rewrite the node's result. */
  after?: (req: RpcBody, result: any) => unknown
}

/**
 * A JSON-RPC proxy in front of `target` that can answer or rewrite chosen calls (faults a real node can give),
 * and records what it was asked: `calls` one by one, `requests` as the HTTP requests that carried them (a batch
 * is one request of several calls). A batch is answered call by call, each tampered with as if it came alone; a
 * whole HTTP response from `before` answers the whole request.
 *
 * @example
 * const proxy = startJsonRpcProxy(devnet.url, { before: (c) => (c.method === 'trace_block' ? { error } : undefined) })
 */
export function startJsonRpcProxy(target: string, tamper: Tamper = {}) {
  const calls: RpcBody[] = []
  const requests: RpcBody[][] = []
  const answer = async (body: RpcBody): Promise<Response | Record<string, unknown>> => {
    calls.push(body)
    const own = tamper.before?.(body)
    if (own instanceof Response) return own
    if (own) return { jsonrpc: '2.0', id: body.id, ...own }
    const res = (await (
      await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json()) as { result?: unknown }
    if (tamper.after && 'result' in res) res.result = tamper.after(body, res.result)
    return res
  }
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const body = (await request.json()) as RpcBody | RpcBody[]
      requests.push(Array.isArray(body) ? body : [body])
      if (!Array.isArray(body)) {
        const one = await answer(body)
        return one instanceof Response ? one : Response.json(one)
      }
      const all = await Promise.all(body.map(answer))
      const whole = all.find((a) => a instanceof Response)
      return whole instanceof Response ? whole : Response.json(all)
    },
  })
  return {
    url: `http://127.0.0.1:${server.port}`,
    calls,
    requests,
    /** Calls of `method` made so far. */
    callsOf: (method: string) => calls.filter((c) => c.method === method),
    /** Forgets what was asked so far. */
    reset() {
      calls.length = 0
      requests.length = 0
    },
    stop: () => server.stop(true),
  }
}
export type JsonRpcProxy = ReturnType<typeof startJsonRpcProxy>

/** The error a node gives for a method it does not have (geth, erigon and anvil alike). */
export const methodNotFound = (method: string) => ({
  error: { code: -32601, message: `the method ${method} does not exist/is not available` },
})
