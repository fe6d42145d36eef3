import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One JSON-RPC call as the proxy sees it. */
export type RpcCall = { jsonrpc?: string; id?: unknown; method: string; params?: unknown[] }

/**
 * A way a hosted node fails, as providers do it:
 * - `http`: an HTTP error status with the body that provider class sends — 429 with a JSON-RPC error and
 *   Retry-After (rate limit), 500 with a JSON-RPC internal error, 502 with a load balancer's HTML page, 503 with a
 *   proxy's plain-text "upstream connect error";
 * - `rpc-error`: HTTP 200 with a JSON-RPC error object (default -32603 "Internal error");
 * - `drop`: the connection is closed without an answer — before the node got the call, or (`forwarded`) after
 *   it ran it, so the caller cannot know whether it happened;
 * - `delay`: the answer comes `ms` late. The call reaches the node at once (a late answer to a broadcast is a
 *   broadcast that went through), or only after the delay with `holdRequest`.
 */
export type ProviderFault =
  | { kind: 'http'; status: 429 | 500 | 502 | 503 }
  | { kind: 'rpc-error'; code?: number; message?: string }
  | { kind: 'drop'; forwarded?: boolean }
  | { kind: 'delay'; ms: number; holdRequest?: boolean }

/**
 * When a fault fires: for the listed `methods` (all when absent) and calls `match` accepts, with `probability`
 * (default 1, drawn from the proxy's seeded generator), at most `times` times (default: no limit). The first
 * rule that fires for any call of a request decides; rules are tried in the order they were added.
 */
export type FaultRule = {
  fault: ProviderFault
  methods?: readonly string[]
  match?: (call: RpcCall) => boolean
  probability?: number
  times?: number
}

/** A small seeded generator (mulberry32): the same seed gives the same faults in the same order of calls. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const hex = (n: bigint) => `0x${n.toString(16)}`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Where each state method takes its block parameter (EIP-1898: a tag, a number, or an object). */
const blockParamAt: Record<string, number> = {
  eth_getBalance: 1,
  eth_getTransactionCount: 1,
  eth_getCode: 1,
  eth_getStorageAt: 2,
  eth_call: 1,
  eth_estimateGas: 1,
  eth_createAccessList: 1,
  eth_getProof: 2,
}

type Rewritten =
  /** answer this without asking the node */
  | { answer: unknown }
  | { error: { code: number; message: string } }
  /** ask the node this call, then pass its result through `after` */
  | { call: RpcCall; after?: (result: unknown) => unknown }

/**
 * What a node whose tip is stuck at `stale` answers, consistently: its block number is `stale`, `latest` (and
 * `pending`, `safe`, `finalized`) mean `stale`, blocks, receipts and logs above it do not exist (a transaction
 * mined above it is at most pending there), and state above it is "header not found", as geth says.
 */
function asStaleNode(call: RpcCall, stale: bigint): Rewritten {
  const params = [...(call.params ?? [])]
  /** A block tag or number as this node resolves it. */
  const height = (tag: unknown): bigint | undefined => {
    if (tag === undefined || tag === null) return stale
    if (typeof tag === 'string') {
      if (['latest', 'pending', 'safe', 'finalized'].includes(tag)) return stale
      if (tag === 'earliest') return 0n
      if (tag.startsWith('0x')) return BigInt(tag)
    }
    return undefined
  }
  const above = (value: unknown) => typeof value === 'string' && BigInt(value) > stale
  const notFound = { error: { code: -32000, message: 'header not found' } }
  switch (call.method) {
    case 'eth_blockNumber':
      return { answer: hex(stale) }
    case 'eth_getBlockByNumber':
    case 'eth_getBlockReceipts': {
      const h = height(params[0])
      if (h === undefined) return { call }
      if (h > stale) return { answer: null }
      params[0] = hex(h)
      return { call: { ...call, params } }
    }
    case 'eth_getBlockByHash':
      return { call, after: (block) => (block && above((block as { number: string }).number) ? null : block) }
    case 'eth_getTransactionReceipt':
      return {
        call,
        after: (receipt) =>
          receipt && above((receipt as { blockNumber: string }).blockNumber) ? null : receipt,
      }
    case 'eth_getTransactionByHash':
      return {
        call,
        after: (tx) =>
          tx && above((tx as { blockNumber: string }).blockNumber)
            ? { ...(tx as object), blockNumber: null, blockHash: null, transactionIndex: null }
            : tx,
      }
    case 'eth_getLogs': {
      const filter = { ...((params[0] ?? {}) as Record<string, unknown>) }
      const keep = (logs: unknown) =>
        Array.isArray(logs) ? logs.filter((l) => !above((l as { blockNumber: string }).blockNumber)) : logs
      if (filter.blockHash) return { call, after: keep }
      const from = height(filter.fromBlock ?? 'latest')
      const to = height(filter.toBlock ?? 'latest')
      if (from === undefined || to === undefined) return { call, after: keep }
      if (from > stale) return { answer: [] }
      params[0] = { ...filter, fromBlock: hex(from), toBlock: hex(to < stale ? to : stale) }
      return { call: { ...call, params }, after: keep }
    }
    case 'eth_feeHistory': {
      const h = height(params[1])
      if (h === undefined) return { call }
      if (h > stale) return { error: { code: -32000, message: 'request beyond head block' } }
      params[1] = hex(h)
      return { call: { ...call, params } }
    }
    default: {
      const at = blockParamAt[call.method]
      if (at === undefined) return { call }
      const given = params[at]
      if (given !== null && typeof given === 'object') {
        const byNumber = (given as { blockNumber?: string }).blockNumber
        if (byNumber === undefined) return { call }
        if (above(byNumber)) return notFound
        return { call }
      }
      const h = height(given)
      if (h === undefined) return { call }
      if (h > stale) return notFound
      while (params.length < at) params.push(undefined)
      params[at] = hex(h)
      return { call: { ...call, params } }
    }
  }
}

/** The body a provider class sends with an HTTP error status. */
function httpFault(
  status: 429 | 500 | 502 | 503,
  id: unknown,
): { type: string; body: string; headers?: object } {
  const rpc = (code: number, message: string) =>
    JSON.stringify({ jsonrpc: '2.0', id: id ?? null, error: { code, message } })
  switch (status) {
    case 429:
      return {
        type: 'application/json',
        body: rpc(429, 'Your app has exceeded its compute units per second capacity. Please retry.'),
        headers: { 'retry-after': '1' },
      }
    case 500:
      return { type: 'application/json', body: rpc(-32603, 'Internal error') }
    case 502:
      return {
        type: 'text/html',
        body: '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n',
      }
    case 503:
      return {
        type: 'text/plain',
        body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
      }
  }
}

/**
 * An HTTP JSON-RPC proxy in front of a real node (anvil), whose faults a test switches at run time: HTTP
 * errors, JSON-RPC errors, dropped connections, delays, and a stale tip. Everything it does not fault it hands to
 * the node unchanged. `stats` counts the calls per method and the faults per kind, so a test can check that the
 * faults it asked for happened.
 *
 * @example
 * const proxy = await startRpcFaultProxy(devnet.url, { seed: 7 })
 * proxy.inject({ fault: { kind: 'http', status: 500 }, probability: 0.2 })
 * proxy.inject({ fault: { kind: 'delay', ms: 4000 }, methods: ['eth_sendRawTransaction'], times: 1 })
 * proxy.setStaleTip(await devnet.height())
 * afterAll(() => proxy.stop())
 */
export async function startRpcFaultProxy(upstream: string, options: { seed?: number } = {}) {
  const random = seeded(options.seed ?? 1)
  let rules: Array<FaultRule & { fired: number }> = []
  let stale: bigint | null = null
  const stats = {
    calls: new Map<string, number>(),
    faults: { http: 0, 'rpc-error': 0, drop: 0, delay: 0, stale: 0 } as Record<
      ProviderFault['kind'] | 'stale',
      number
    >,
  }

  /** The first rule that fires for any of the calls (its `times` counted), and the call it fired for. */
  function pick(calls: readonly RpcCall[]): { rule: FaultRule; call: RpcCall } | undefined {
    for (const rule of rules) {
      if (rule.times !== undefined && rule.fired >= rule.times) continue
      for (const call of calls) {
        if (rule.methods && !rule.methods.includes(call.method)) continue
        if (rule.match && !rule.match(call)) continue
        if (random() >= (rule.probability ?? 1)) continue
        rule.fired++
        return { rule, call }
      }
    }
    return undefined
  }

  /** Asks the node the calls (as a stale node would, when one is set) and answers in the request's shape. */
  async function forward(calls: readonly RpcCall[], batch: boolean): Promise<string> {
    const plans = calls.map((c) => (stale === null ? ({ call: c } as Rewritten) : asStaleNode(c, stale)))
    if (stale !== null) stats.faults.stale += calls.length
    const asked = plans.flatMap((p) => ('call' in p ? [p.call] : []))
    let answers: Array<{ id?: unknown; result?: unknown; error?: unknown }> = []
    if (asked.length > 0) {
      const res = await fetch(upstream, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch ? asked : asked[0]),
      })
      const body = (await res.json()) as typeof answers | (typeof answers)[number]
      answers = Array.isArray(body) ? body : [body]
    }
    let next = 0
    const replies = plans.map((plan, i) => {
      const id = calls[i]?.id ?? null
      if ('answer' in plan) return { jsonrpc: '2.0', id, result: plan.answer }
      if ('error' in plan) return { jsonrpc: '2.0', id, error: plan.error }
      const answer = answers[next++] ?? {}
      if (answer.error !== undefined || !plan.after) return { ...answer, jsonrpc: '2.0', id }
      return { jsonrpc: '2.0', id, result: plan.after(answer.result) }
    })
    return JSON.stringify(batch ? replies : replies[0])
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    let parsed: RpcCall | RpcCall[]
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }))
      return
    }
    const batch = Array.isArray(parsed)
    const calls: RpcCall[] = Array.isArray(parsed) ? parsed : [parsed]
    for (const c of calls) stats.calls.set(c.method, (stats.calls.get(c.method) ?? 0) + 1)
    const picked = pick(calls)
    const fault = picked?.rule.fault
    if (fault) stats.faults[fault.kind]++
    const send = (status: number, type: string, body: string, headers: object = {}) => {
      if (res.destroyed) return
      res.writeHead(status, { 'content-type': type, ...headers })
      res.end(body)
    }

    if (!fault) return send(200, 'application/json', await forward(calls, batch))
    switch (fault.kind) {
      case 'http': {
        const f = httpFault(fault.status, picked?.call.id)
        return send(fault.status, f.type, f.body, f.headers)
      }
      case 'rpc-error': {
        const error = { code: fault.code ?? -32603, message: fault.message ?? 'Internal error' }
        const replies = calls.map((c) => ({ jsonrpc: '2.0', id: c.id ?? null, error }))
        return send(200, 'application/json', JSON.stringify(batch ? replies : replies[0]))
      }
      case 'drop':
        if (fault.forwarded) await forward(calls, batch).catch(() => {})
        req.socket.destroy()
        return
      case 'delay': {
        if (fault.holdRequest) {
          await sleep(fault.ms)
          return send(200, 'application/json', await forward(calls, batch))
        }
        const answer = forward(calls, batch)
        await sleep(fault.ms)
        return send(200, 'application/json', await answer)
      }
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // the node itself failed (stopped mid-test): the caller sees a closed connection, as from a dead node
      req.socket.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    /** Adds a rule; returns a function that takes it out again. */
    inject(rule: FaultRule): () => void {
      const entry = { ...rule, fired: 0 }
      rules.push(entry)
      return () => {
        rules = rules.filter((r) => r !== entry)
      }
    },
    /** How often each rule added so far fired. */
    fired: () => rules.map((r) => r.fired),
    /** The node's tip stays at `height` (null: the node follows the chain again). */
    setStaleTip(height: bigint | null) {
      stale = height
    },
    /** No faults and no stale tip: the node as it is. */
    clear() {
      rules = []
      stale = null
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
export type RpcFaultProxy = Awaited<ReturnType<typeof startRpcFaultProxy>>
