import { http, type Transport, webSocket } from 'viem'

/** Running totals of what the driver asked its RPC URLs: JSON-RPC calls (each call of a batch counts) and bytes. */
export type RpcCost = { calls: number; bytes: number }

/**
 * What one URL has shown about batches: the most calls it takes in one HTTP request. Starts at the configured
 * batch size; a URL that refuses a batch drops to what it says it takes, else to single calls, and stays there.
 */
export type BatchState = { maxBatch: number }

type RpcBody = { id?: unknown; method?: string }
type RpcAnswer = { id?: unknown; error?: { code?: unknown; message?: unknown } }

/** The first character of a body that is not white space. */
function firstChar(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    if (c !== ' ' && c !== '\n' && c !== '\r' && c !== '\t') return c
  }
  return ''
}

/** A response with the bytes already read (the original's encoding undone, so no length or encoding header). */
function replay(res: Response, body: Uint8Array<ArrayBuffer> | string): Response {
  const headers = new Headers(res.headers)
  headers.delete('content-encoding')
  headers.delete('content-length')
  return new Response(body, { status: res.status, statusText: res.statusText, headers })
}

const decoder = new TextDecoder()

/**
 * How many calls a batch refusal says the URL takes in one request ("batch limit 100 exceeded", "Batch limit
 * 128, got 2840", "Batch of more than 3 requests are not allowed"), else 1 (no batches).
 */
function batchLimitIn(text: string): number {
  const m = /batch (?:size |limit |of more than )[^\d]{0,12}(\d+)/i.exec(text)
  const n = m ? Number(m[1]) : 1
  return Number.isSafeInteger(n) && n >= 1 ? n : 1
}

/** The text of a JSON-RPC error, or of a bare `{"error": "…"}`. */
const errorText = (error: unknown): string =>
  typeof error === 'string' ? error : String((error as RpcAnswer['error'])?.message ?? '')

/** Whether an error answered for a whole batch refuses batches, rather than failing for a passing reason. */
const refusesBatch = (error: unknown, status: number): boolean => {
  const code = (error as RpcAnswer['error'])?.code
  return (
    status === 400 ||
    status === 413 ||
    code === -32600 ||
    code === -32700 ||
    /\bbatch/i.test(errorText(error))
  )
}

/**
 * Whether the answer to a batch of `sent` calls is the URL refusing the batch itself, as nodes and providers
 * do: one error for the whole batch instead of an array (geth "batch too large" -32600, Erigon "batch limit 100
 * exceeded" -32000, a server that does not take arrays at all: -32600/-32700), fewer answers than calls with
 * an error for the batch (geth's one-element array), answers saying batches are not allowed (Alchemy's
 * "Unsupported methods … in batch call"), or HTTP 400/413 for the batch. Rate limits (429), server errors (5xx)
 * and one error for the batch that says something else (an internal error) are not refusals: the same batch
 * may go through later, and viem fails its calls for the fallback to retry.
 */
function batchRefusal(status: number, text: string, sent: number): string | undefined {
  if (status !== 200 && status !== 400 && status !== 413) return undefined
  let answer: unknown
  try {
    answer = JSON.parse(text)
  } catch {
    return status === 200 ? undefined : text || `HTTP ${status}`
  }
  if (!Array.isArray(answer)) {
    const error = (answer as { error?: unknown } | null)?.error
    if (error) return refusesBatch(error, status) ? errorText(error) || 'batch refused' : undefined
    return status === 200 ? undefined : `HTTP ${status}`
  }
  const errors = (answer as RpcAnswer[]).filter((a) => a?.error)
  const whole = errors[0]?.error
  if (answer.length < sent && whole && refusesBatch(whole, status)) return errorText(whole) || 'batch refused'
  const aboutBatch = errors.find((a) => /\bbatch/i.test(errorText(a.error)))
  if (aboutBatch) return errorText(aboutBatch.error)
  return status === 200 ? undefined : `HTTP ${status}`
}

/**
 * A `fetch` for one URL's viem transport that counts every call and every response byte into `cost`, sends a
 * batch of one as a plain call, and takes the URL's refusal of batches into account: the refused batch is sent
 * again in pieces the URL takes (single calls at worst), and so is every later one. viem sees the array answer
 * it asked for either way.
 */
export function meteredFetch(cost: RpcCost, state: BatchState): typeof fetch {
  const send = async (input: RequestInfo | URL, init: RequestInit, calls: number) => {
    cost.calls += calls
    const res = await fetch(input, init)
    const bytes = new Uint8Array(await res.arrayBuffer()) as Uint8Array<ArrayBuffer>
    cost.bytes += bytes.byteLength
    return { res, bytes }
  }

  /** Sends `calls` in pieces of `state.maxBatch` and answers one array, or the first piece's failure as it was. */
  const inPieces = async (input: RequestInfo | URL, init: RequestInit, calls: RpcBody[]) => {
    const size = Math.max(1, state.maxBatch)
    const pieces: RpcBody[][] = []
    for (let i = 0; i < calls.length; i += size) pieces.push(calls.slice(i, i + size))
    const answers = await Promise.all(
      pieces.map((piece) =>
        send(input, { ...init, body: JSON.stringify(piece.length === 1 ? piece[0] : piece) }, piece.length),
      ),
    )
    const merged: unknown[] = []
    for (const { res, bytes } of answers) {
      const text = decoder.decode(bytes)
      if (!res.ok) return replay(res, bytes)
      let answer: unknown
      try {
        answer = JSON.parse(text)
      } catch {
        return replay(res, bytes)
      }
      if (Array.isArray(answer)) merged.push(...answer)
      else merged.push(answer)
    }
    const first = answers[0] as { res: Response }
    return replay(first.res, JSON.stringify(merged))
  }

  return (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const raw = typeof init.body === 'string' ? init.body : undefined
    if (raw === undefined || firstChar(raw) !== '[') {
      const { res, bytes } = await send(input, init, 1)
      return replay(res, bytes)
    }
    const calls = JSON.parse(raw) as RpcBody[]
    if (calls.length === 1) {
      // a batch of one is a plain call: one less array for the node to unwrap, and for proxies to understand
      const { res, bytes } = await send(input, { ...init, body: JSON.stringify(calls[0]) }, 1)
      if (!res.ok || firstChar(decoder.decode(bytes.subarray(0, 64))) !== '{') return replay(res, bytes)
      // the answer as the one-element array viem asked for, without decoding it here
      const wrapped = new Uint8Array(bytes.byteLength + 2)
      wrapped[0] = 0x5b // [
      wrapped.set(bytes, 1)
      wrapped[bytes.byteLength + 1] = 0x5d // ]
      return replay(res, wrapped)
    }
    if (state.maxBatch < calls.length) return inPieces(input, init, calls)
    const { res, bytes } = await send(input, init, calls.length)
    // a refusal is small; a large array is the answers themselves and is not parsed twice
    const text =
      bytes.byteLength < 65_536 || firstChar(decoder.decode(bytes.subarray(0, 64))) !== '['
        ? decoder.decode(bytes)
        : ''
    const refusal = text ? batchRefusal(res.status, text, calls.length) : undefined
    if (refusal === undefined) return replay(res, bytes)
    state.maxBatch = Math.min(state.maxBatch, batchLimitIn(refusal), calls.length - 1)
    return inPieces(input, init, calls)
  }) as typeof fetch
}

/**
 * A WebSocket transport whose calls count into `cost`. A socket has no response bodies to measure: the bytes
 * counted are each answer's JSON size.
 */
function meteredSocket(transport: Transport, cost: RpcCost): Transport {
  return (params) => {
    const inner = transport(params)
    return {
      ...inner,
      request: (async (args: { method: string; params?: unknown }, options?: unknown) => {
        cost.calls++
        const result = await (inner.request as (a: unknown, o?: unknown) => Promise<unknown>)(args, options)
        cost.bytes += JSON.stringify(result ?? null, (_k, v) =>
          typeof v === 'bigint' ? v.toString() : v,
        ).length
        return result
      }) as typeof inner.request,
    }
  }
}

/**
 * A viem transport for one URL (http(s) or ws(s)) that counts its calls and bytes into `cost`. `batchSize` > 1
 * batches the calls viem makes in the same tick (HTTP only), within what the URL has shown it takes (`state`).
 */
export function meteredTransport(
  url: string,
  options: { timeoutMs: number; retryCount: number; batchSize: number },
  cost: RpcCost,
  state: BatchState,
): Transport {
  const { timeoutMs: timeout, retryCount } = options
  if (url.startsWith('ws')) return meteredSocket(webSocket(url, { timeout, retryCount }), cost)
  return http(url, {
    timeout,
    retryCount,
    batch: options.batchSize > 1 ? { batchSize: options.batchSize } : false,
    fetchFn: meteredFetch(cost, state),
  })
}
