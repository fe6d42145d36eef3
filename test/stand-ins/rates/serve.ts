/**
 * What every rate API stand-in shares: a Bun server on a free port of 127.0.0.1 that records each request, and
 * failures a test switches it into (`misbehave`): rate limiting with `Retry-After`, any status with the API's own
 * error body, a hang, garbage, an oversized body, or any JSON body. `answerDatedAt` dates answers in the past
 * (the `Date` header of a cache or a stalled feed), for staleness. Each API's stand-in (coinbase.ts, kraken.ts,
 * coingecko.ts, http.ts) routes the normal answers and says what its error bodies look like.
 */

/** A failure a stand-in can be switched into. */
export type Misbehavior =
  /** 429 with this `Retry-After` (seconds or an HTTP date; none when undefined) and the API's 429 body. */
  | { kind: 'rate-limited'; retryAfter?: string }
  /** This status with this raw body (default: the API's error body for the status). */
  | { kind: 'status'; status: number; body?: string }
  /** Never answers (the connection stays open). */
  | { kind: 'hang' }
  /** 200 with a body that is not JSON (cut off in the middle). */
  | { kind: 'garbage' }
  /** 200 with `bytes` of JSON-looking padding, streamed; `declareLength` sends a Content-Length. */
  | { kind: 'huge'; bytes: number; declareLength?: boolean }
  /** 200 (or `status`) with exactly this JSON body. */
  | { kind: 'body'; body: unknown; status?: number }

/** A request as it reached a stand-in. */
export type RecordedRequest = {
  method: string
  /** The raw path and query, as sent (still percent-encoded). */
  path: string
  /** Every header, names in lowercase. */
  headers: Record<string, string>
}

export type StandIn = {
  /** The base URL to give a provider (`http://127.0.0.1:<port>`). */
  url: string
  requests: RecordedRequest[]
  /** Resolves once `count` requests have arrived in all (to act while one hangs, without guessing a delay). */
  waitForRequests(count: number): Promise<void>
  /**
   * Switches answers into a failure: every one, or those to requests whose path and query `only` accepts;
   * undefined heals.
   */
  misbehave(behavior: Misbehavior | undefined, only?: (path: string) => boolean): void
  /** Sends this `Date` header with every answer (stale data); undefined sends the real time again. */
  answerDatedAt(date: Date | undefined): void
  stop(): Promise<void>
}

/** What differs between the APIs: their answers and their error bodies. */
export type StandInApi = {
  /** The normal answer to a request. */
  route(req: Request, url: URL): Response | Promise<Response>
  /** The body the API sends with an error status (a 429 included). */
  errorBody(status: number): string
  /** The content type of error bodies (default application/json). */
  errorType?: string
}

/**
 * A JSON response as the APIs send them.
 *
 * @example
 * json(400, { error: 'Missing parameter ids' })
 */
export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  })

/**
 * Starts a stand-in serving `api` on a free port of 127.0.0.1.
 *
 * @example
 * const standIn = serveStandIn({ route: () => json(200, {}), errorBody: () => '{}' })
 * standIn.misbehave({ kind: 'rate-limited', retryAfter: '30' })
 * await standIn.stop()
 */
export function serveStandIn(api: StandInApi): StandIn {
  const requests: RecordedRequest[] = []
  const hanging = new Set<() => void>()
  const waiters: Array<{ count: number; resolve: () => void }> = []
  let behavior: Misbehavior | undefined
  let affects: ((path: string) => boolean) | undefined
  let datedAt: Date | undefined

  const padding = (bytes: number) => {
    const chunk = new TextEncoder().encode(`${' '.repeat(65_535)}\n`)
    let sent = 0
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= bytes) return controller.close()
        const part = chunk.subarray(0, Math.min(chunk.length, bytes - sent))
        sent += part.length
        controller.enqueue(part)
      },
    })
  }
  const failure = (status: number, body: string, headers: Record<string, string> = {}) =>
    new Response(body, {
      status,
      headers: { 'content-type': api.errorType ?? 'application/json; charset=utf-8', ...headers },
    })

  async function misbehaved(path: string): Promise<Response | undefined> {
    if (affects && !affects(path)) return undefined
    switch (behavior?.kind) {
      case 'rate-limited':
        return failure(
          429,
          api.errorBody(429),
          behavior.retryAfter === undefined ? {} : { 'retry-after': behavior.retryAfter },
        )
      case 'status':
        return failure(behavior.status, behavior.body ?? api.errorBody(behavior.status))
      case 'hang':
        await new Promise<void>((resolve) => hanging.add(resolve))
        return failure(503, api.errorBody(503))
      case 'garbage':
        return new Response('{"data": {"rates": {"USD": 650', {
          headers: { 'content-type': 'application/json' },
        })
      case 'huge':
        return new Response(padding(behavior.bytes), {
          headers: {
            'content-type': 'application/json',
            ...(behavior.declareLength ? { 'content-length': String(behavior.bytes) } : {}),
          },
        })
      case 'body':
        return json(behavior.status ?? 200, behavior.body)
      default:
        return undefined
    }
  }

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    // a hanging request must stay open for as long as the test wants it to
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url)
      requests.push({
        method: req.method,
        path: url.pathname + url.search,
        headers: Object.fromEntries(req.headers.entries()),
      })
      for (const w of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
      const response = (await misbehaved(url.pathname + url.search)) ?? (await api.route(req, url))
      // a cache or a stalled feed answers with the time it stored the answer
      if (datedAt) response.headers.set('date', datedAt.toUTCString())
      return response
    },
  })

  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    waitForRequests: (count) =>
      requests.length >= count
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ count, resolve })),
    misbehave(next, only) {
      behavior = next
      affects = only
    },
    answerDatedAt(date) {
      datedAt = date
    },
    async stop() {
      for (const release of hanging) release()
      hanging.clear()
      await server.stop(true)
    },
  }
}
