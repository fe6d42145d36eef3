/**
 * A stand-in for hosted EVM JSON-RPC providers, in front of a real node (anvil), for tests of what the EVM driver
 * does with their realities. Everything it does not change it hands to the node as it came (batches too). What
 * it can be made to do, each as providers do it:
 *
 * - lag (`lagBlocks`): a load balancer whose logs backend is behind: `eth_getLogs` over a range answers no logs
 *   for the newest N blocks (their blocks, read by number, come from an up-to-date backend), and by `blockHash`
 *   for one of them it errors as a node that does not have the block does (-32000 "unknown block", geth).
 * - lie (`lie`): `eth_getLogs` over the ranges it picks answers [] or a subset (only the range's first block's
 *   logs) although the node has the blocks; by `blockHash` it answers truthfully.
 * - range limits (`rangeLimit`): `eth_getLogs` wider than `limit` blocks gets the provider's own refusal — HTTP
 *   status and JSON-RPC body as the provider sends them (see `logsRefusals`; the block counts are the test's, the
 *   shapes and wording the providers').
 * - batch limits (`batchLimit`): a batch of more calls than the limit gets the node's refusal of the whole batch
 *   (geth's one-element array with -32600 "batch too large", Erigon's bare -32000 "batch limit N exceeded").
 *
 * It records every HTTP request (whether it was a batch, and its calls), every `eth_getLogs` and what it
 * refused, and counts the response bytes it sent, so a test can check what the driver asked and what it cost.
 *
 * @example
 * const provider = startEvmProvider(devnet.url, { rangeLimit: { provider: 'quicknode', limit: 5 } })
 * await driver.scan({ from, to, watch })
 * provider.logsCalls().every((c) => c.span <= 5)
 */

/** One JSON-RPC call as the stand-in sees it. */
export type RpcCall = { jsonrpc?: string; id?: unknown; method: string; params?: any[] }
type RpcReply = {
  jsonrpc: '2.0'
  id: unknown
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

const hex = (n: bigint) => `0x${n.toString(16)}`

/** The providers whose `eth_getLogs` range refusals the stand-in answers with. */
export type LogsProvider =
  | 'alchemy'
  | 'alchemy-response-size'
  | 'infura'
  | 'infura-results'
  | 'quicknode'
  | 'ankr'
  | 'bsc'
  | 'cloudflare'
  | 'tenderly'
  | 'avalanche'
  | 'chainstack'
  | 'reth'
  | 'bare-invalid-params'
  | 'geth-results'

/** A provider's refusal: the HTTP status it answers with and the JSON-RPC error in the body. */
type Refusal = { status: number; error: { code: number; message: string; data?: unknown } }

/**
 * Each provider's refusal of `from..to` when it takes `limit` blocks, as its public docs, its users' reports and
 * its source show it (the numbers are the test's):
 *
 * - Alchemy, over its block range (HTTP 200): -32600 "You can make eth_getLogs requests with up to a 500 block
 *   range. Based on your parameters, this block range should work: [0x123c9b2, 0x123cba5]"; over its response
 *   size: -32602 "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and
 *   no limit on the response size, …, this block range should work: [0x0, 0x87fe9]".
 * - Infura: over its block range -32602 "range 1000000 exceeds limit of 10000"; over its results -32005 "query
 *   returned more than 10000 results. Try with this block range [0x112A880, 0x112A907]."
 * - QuickNode: HTTP 413 with -32614 "eth_getLogs is limited to a 10,000 range".
 * - Ankr: -32600 "block range is too wide" (no number).
 * - BNB Smart Chain public nodes: -32000 "exceed maximum block range: 5000".
 * - Cloudflare: -32047 "Invalid eth_getLogs request. 'fromBlock'-'toBlock' range too large. Max range: 800".
 * - Tenderly: -32602 "invalid params", the reason in `data.payload`: "range 9009594 is bigger than range limit
 *   2000".
 * - Avalanche (coreth): -32000 "requested too many blocks from 0 to 10000, maximum is set to 2048".
 * - Chainstack: -32602 "Block range limit exceeded." (no number).
 * - reth: -32602 "query exceeds max block range 5000".
 * - a bare -32602 "invalid params" (no reason at all), and geth's -32005 "query returned more than 10000 results"
 *   (counts logs, names no block range).
 */
export function logsRefusal(provider: LogsProvider, from: bigint, to: bigint, limit: number): Refusal {
  const span = to - from + 1n
  const works = `[${hex(from)}, ${hex(from + BigInt(limit) - 1n)}]`
  const upper = `[0x${from.toString(16).toUpperCase()}, 0x${(from + BigInt(limit) - 1n).toString(16).toUpperCase()}]`
  const ok = (code: number, message: string, data?: unknown): Refusal => ({
    status: 200,
    error: data === undefined ? { code, message } : { code, message, data },
  })
  switch (provider) {
    case 'alchemy':
      return ok(
        -32600,
        `You can make eth_getLogs requests with up to a ${limit} block range. Based on your parameters, this block range should work: ${works}`,
      )
    case 'alchemy-response-size':
      return ok(
        -32602,
        `Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters and the response size limit, this block range should work: ${works}`,
      )
    case 'infura':
      return ok(-32602, `range ${span} exceeds limit of ${limit}`)
    case 'infura-results':
      return ok(-32005, `query returned more than 10000 results. Try with this block range ${upper}.`)
    case 'quicknode':
      return {
        status: 413,
        error: {
          code: -32614,
          message: `eth_getLogs is limited to a ${limit.toLocaleString('en-US')} range`,
        },
      }
    case 'ankr':
      return ok(-32600, 'block range is too wide')
    case 'bsc':
      return ok(-32000, `exceed maximum block range: ${limit}`)
    case 'cloudflare':
      return ok(
        -32047,
        `Invalid eth_getLogs request. 'fromBlock'-'toBlock' range too large. Max range: ${limit}`,
      )
    case 'tenderly':
      return ok(-32602, 'invalid params', {
        error_id: '4ed94073-0317-4648-a167-107fba5f44b3',
        payload: `range ${span} is bigger than range limit ${limit}`,
      })
    case 'avalanche':
      return ok(-32000, `requested too many blocks from ${from} to ${to}, maximum is set to ${limit}`)
    case 'chainstack':
      return ok(-32602, 'Block range limit exceeded.')
    case 'reth':
      return ok(-32602, `query exceeds max block range ${limit}`)
    case 'bare-invalid-params':
      return ok(-32602, 'invalid params')
    case 'geth-results':
      return ok(-32005, 'query returned more than 10000 results')
  }
}

/** How a node refuses a batch of more calls than it takes. */
export type BatchRefusalShape = 'geth' | 'erigon'

function batchRefusalBody(shape: BatchRefusalShape, limit: number, given: number): string {
  switch (shape) {
    case 'geth':
      // geth answers the batch with one error, in a one-element array, id null
      return JSON.stringify([
        { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'batch too large' } },
      ])
    case 'erigon':
      return JSON.stringify({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32000, message: `batch limit ${limit} exceeded: ${given} requests given` },
      })
  }
}

export type EvmProviderOptions = {
  /** The logs backend is this many blocks behind the node's head. */
  lagBlocks?: number
  /** Which `eth_getLogs` ranges to lie about, and how: no logs at all, or only the first block's. */
  lie?: (range: { from: bigint; to: bigint }) => 'empty' | 'subset' | undefined
  /** `eth_getLogs` over more than `limit` blocks is refused as `provider` refuses it. */
  rangeLimit?: { provider: LogsProvider; limit: number }
  /** A batch of more than `limit` calls is refused as `shape` does. */
  batchLimit?: { shape: BatchRefusalShape; limit: number }
  /**
   * Blocks read by number carry a bloom with every bit set, as mainnet's busiest blocks nearly do: every block
   * "may" hold every log, so only an answer by hash can tell.
   */
  saturatedBlooms?: boolean
  /** Calls answered with this JSON-RPC error (HTTP 200) instead of being asked of the node. */
  fail?: (call: RpcCall) => { code: number; message: string } | undefined
}

/** An `eth_getLogs` the stand-in saw: over a range (`span` blocks) or by `blockHash`, and whether it refused it. */
export type LogsCall = { from?: bigint; to?: bigint; span?: number; blockHash?: string; refused: boolean }

/** Starts the stand-in in front of `upstream` (a node's HTTP JSON-RPC URL). */
export function startEvmProvider(upstream: string, options: EvmProviderOptions = {}) {
  const requests: Array<{ batch: boolean; calls: RpcCall[] }> = []
  const logs: LogsCall[] = []
  const sent = { bytes: 0 }
  const batchRefusals = { count: 0 }

  async function node<T>(calls: RpcCall[]): Promise<T[]> {
    if (calls.length === 0) return []
    const res = await fetch(upstream, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(calls),
    })
    return (await res.json()) as T[]
  }

  async function headHeight(): Promise<bigint> {
    const [answer] = await node<{ result: string }>([
      { jsonrpc: '2.0', id: 0, method: 'eth_blockNumber', params: [] },
    ])
    return BigInt(answer?.result as string)
  }

  /** The height of a block by hash, or undefined when the node does not have it. */
  async function heightOf(hash: string): Promise<bigint | undefined> {
    const [answer] = await node<{ result: { number: string } | null }>([
      { jsonrpc: '2.0', id: 0, method: 'eth_getBlockByHash', params: [hash, false] },
    ])
    return answer?.result ? BigInt(answer.result.number) : undefined
  }

  /** A reply for one call: the provider's own answer when it has one, else undefined (ask the node). */
  async function own(
    call: RpcCall,
  ): Promise<{ reply?: RpcReply; status?: number; after?: (r: any) => unknown }> {
    const id = call.id ?? null
    const failed = options.fail?.(call)
    const filter = (call.params?.[0] ?? {}) as { fromBlock?: string; toBlock?: string; blockHash?: string }
    const from = BigInt(filter.fromBlock ?? 0)
    const to = BigInt(filter.toBlock ?? 0)
    const span = Number(to - from + 1n)
    const limit = options.rangeLimit
    const refused = !failed && !filter.blockHash && limit !== undefined && span > limit.limit
    if (call.method === 'eth_getLogs')
      logs.push(filter.blockHash ? { blockHash: filter.blockHash, refused } : { from, to, span, refused })
    if (failed) return { reply: { jsonrpc: '2.0', id, error: failed } }
    if (call.method === 'eth_getBlockByNumber' && options.saturatedBlooms)
      return { after: (block: any) => (block ? { ...block, logsBloom: `0x${'f'.repeat(512)}` } : block) }
    if (call.method !== 'eth_getLogs') return {}
    if (filter.blockHash) {
      if (options.lagBlocks) {
        const height = await heightOf(filter.blockHash)
        if (height === undefined || height > (await headHeight()) - BigInt(options.lagBlocks))
          return { reply: { jsonrpc: '2.0', id, error: { code: -32000, message: 'unknown block' } } }
      }
      return {}
    }
    if (limit && refused) {
      const refusal = logsRefusal(limit.provider, from, to, limit.limit)
      return { reply: { jsonrpc: '2.0', id, error: refusal.error }, status: refusal.status }
    }
    const lie = options.lie?.({ from, to })
    if (lie === 'empty') return { reply: { jsonrpc: '2.0', id, result: [] } }
    const keepUpTo = options.lagBlocks ? (await headHeight()) - BigInt(options.lagBlocks) : undefined
    return {
      after: (found: Array<{ blockNumber: string }>) =>
        found?.filter((l) => {
          const height = BigInt(l.blockNumber)
          if (keepUpTo !== undefined && height > keepUpTo) return false
          return lie !== 'subset' || height === from
        }),
    }
  }

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const parsed = (await request.json()) as RpcCall | RpcCall[]
      const batch = Array.isArray(parsed)
      const calls = batch ? parsed : [parsed]
      requests.push({ batch, calls })
      const respond = (status: number, body: string) => {
        sent.bytes += Buffer.byteLength(body)
        return new Response(body, { status, headers: { 'content-type': 'application/json' } })
      }
      if (batch && options.batchLimit && calls.length > options.batchLimit.limit) {
        batchRefusals.count++
        return respond(
          200,
          batchRefusalBody(options.batchLimit.shape, options.batchLimit.limit, calls.length),
        )
      }
      const plans = await Promise.all(calls.map(own))
      const asked = calls.filter((_, i) => !plans[i]?.reply)
      const answers = await node<RpcReply>(asked)
      const byId = new Map(answers.map((a) => [JSON.stringify(a.id), a]))
      const replies = calls.map((c, i) => {
        const plan = plans[i] as Awaited<ReturnType<typeof own>>
        if (plan.reply) return plan.reply
        const answer = byId.get(JSON.stringify(c.id ?? null)) as RpcReply
        if (plan.after && answer && 'result' in answer)
          return { ...answer, result: plan.after(answer.result) }
        return answer
      })
      // a single call refused with an HTTP status (QuickNode's 413) carries it; a batch answers 200
      const status = !batch ? (plans[0]?.status ?? 200) : 200
      return respond(status, JSON.stringify(batch ? replies : replies[0]))
    },
  })

  return {
    url: `http://127.0.0.1:${server.port}`,
    /** Every HTTP request, in order: whether it was a batch, and its calls. */
    requests,
    /** Every `eth_getLogs` call, in order. */
    logsCalls: () => logs,
    /** How many calls of `method` (all when absent) the stand-in was asked, batches counted call by call. */
    calls: (method?: string) =>
      requests.reduce((n, r) => n + r.calls.filter((c) => !method || c.method === method).length, 0),
    /** Response bytes the stand-in sent. */
    sentBytes: () => sent.bytes,
    /** How many batches it refused. */
    batchRefusals: () => batchRefusals.count,
    /** Forgets what it recorded. */
    reset() {
      requests.length = 0
      logs.length = 0
      sent.bytes = 0
      batchRefusals.count = 0
    },
    stop: () => server.stop(true),
  }
}
export type EvmProvider = ReturnType<typeof startEvmProvider>
