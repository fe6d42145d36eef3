/**
 * A stand-in for the Chainalysis Address Screening API (`/api/risk/v2/entities`), for tests of KYT providers
 * that talk to it: the real service needs a paid key and mainnet addresses. It follows the public docs:
 *
 * - `POST /api/risk/v2/entities` with `{"address": "…"}` registers an address and answers `{"address": "…"}`;
 * - `GET /api/risk/v2/entities/{address}` answers the assessment of a registered address: `address`, `risk`
 *   (`Severe` | `High` | `Medium` | `Low`), `riskReason`, `cluster` (`{name, category}` or null), `addressType`,
 *   `addressIdentifications`, `exposures` (`{category, value, exposureType, direction}`), `triggers`
 *   (`{category, percentage, message, ruleTriggered}`) and `status` (`COMPLETE` or `IN_PROGRESS`); an address
 *   never registered is a 404;
 * - every request carries the key in the `Token` header; a missing or wrong one is a 403;
 * - error bodies are `{"message": "…"}`; too many requests are a 429 with `Retry-After`.
 *
 * Tests set each address's assessment (`setEntity`) and switch the stand-in into a failure (`misbehave`): rate
 * limiting, 5xx, a hang, a slow answer, IN_PROGRESS reads, garbage, a huge or endless body, an answer for
 * another address, or any body. Every request is recorded.
 */

export type RiskGrade = 'Severe' | 'High' | 'Medium' | 'Low'

/** The assessment the stand-in answers for an address (the fields the docs list, beside `address`/`status`). */
export type EntityProfile = {
  risk: RiskGrade
  riskReason?: string | null
  cluster?: { name: string; category: string } | null
  addressType?: 'PRIVATE_WALLET' | 'LIQUIDITY_POOL'
  addressIdentifications?: Array<{ name: string; category: string; description: string; url?: string }>
  exposures?: Array<{
    category: string
    value: number
    exposureType: 'direct' | 'indirect'
    direction: 'both_directions' | 'sent' | 'received'
  }>
  triggers?: Array<{
    category: string
    percentage: number
    message: string
    ruleTriggered: {
      risk: RiskGrade
      minThreshold: number
      maxThreshold: number
      exposureType: 'direct' | 'indirect'
      direction: 'both_directions' | 'sent' | 'received'
    }
  }>
}

/** A failure the stand-in can be switched into. */
export type Misbehavior =
  /** 429 with this `Retry-After` (seconds or an HTTP date; none when undefined). */
  | { kind: 'rate-limited'; retryAfter?: string }
  /** This status with this raw body (default `{"message": <status text>}`). */
  | { kind: 'status'; status: number; body?: string }
  /** Never answers (the connection stays open). */
  | { kind: 'hang' }
  /** Answers normally, after `ms`: before the headers, or between the headers and the body. */
  | { kind: 'slow'; ms: number; stall?: 'headers' | 'body' }
  /** The first `reads` reads of each address answer IN_PROGRESS, later ones the assessment. */
  | { kind: 'in-progress'; reads: number }
  /** 200 with a body that is not JSON. */
  | { kind: 'garbage' }
  /** 200 with `bytes` of JSON-looking padding, streamed; `declareLength` sends a Content-Length. */
  | { kind: 'huge'; bytes: number; declareLength?: boolean }
  /** 200 with a body that never ends. */
  | { kind: 'endless' }
  /** The assessment, but naming `address` instead of the one asked about. */
  | { kind: 'other-address'; address: string }
  /** 200 with exactly this JSON body. */
  | { kind: 'body'; body: unknown }

/** A request as it reached the stand-in. */
export type RecordedRequest = {
  method: string
  /** The raw path, as sent (still percent-encoded). */
  path: string
  /** The address: the decoded path segment of a read, the body's of a registration. */
  address?: string
  token: string | null
  contentType: string | null
}

export type RiskApiStandIn = {
  /** The base URL to give a provider (`http://127.0.0.1:<port>`). */
  url: string
  /** The key the stand-in accepts. */
  apiKey: string
  requests: RecordedRequest[]
  registered: Set<string>
  /** Resolves once `count` requests have arrived in all (to act while one hangs, without guessing a delay). */
  waitForRequests(count: number): Promise<void>
  /** Bytes of `huge`/`endless` bodies handed to the socket so far. */
  paddingSent(): number
  /** Sets the assessment of an address (default: Low, no cluster, no exposure). */
  setEntity(address: string, profile: EntityProfile): void
  /** Switches reads (`on: 'read'`, the default), registrations or both into a failure; undefined heals. */
  misbehave(behavior: Misbehavior | undefined, on?: 'read' | 'register' | 'both'): void
  stop(): Promise<void>
}

const entitiesPath = '/api/risk/v2/entities'
const statusText: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })
const error = (status: number, message = statusText[status] ?? 'Error', headers?: Record<string, string>) =>
  json(status, { message }, headers)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts the stand-in on a free port of 127.0.0.1.
 *
 * @example
 * const api = startRiskApi()
 * api.setEntity('0x8589…', { risk: 'Severe', cluster: { name: 'OFAC SDN …', category: 'sanctions' } })
 * api.misbehave({ kind: 'rate-limited', retryAfter: '30' })
 * await api.stop()
 */
export function startRiskApi(options: { apiKey?: string } = {}): RiskApiStandIn {
  const apiKey = options.apiKey ?? 'stand-in-key-0123456789abcdef'
  const requests: RecordedRequest[] = []
  const registered = new Set<string>()
  const profiles = new Map<string, EntityProfile>()
  const reads = new Map<string, number>()
  const hanging = new Set<() => void>()
  let onRead: Misbehavior | undefined
  let onRegister: Misbehavior | undefined
  let padding = 0
  const waiters: Array<{ count: number; resolve: () => void }> = []

  const paddingStream = (bytes: number) => {
    const chunk = new TextEncoder().encode(`${' '.repeat(65_535)}\n`)
    let sent = 0
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= bytes) return controller.close()
        const part = chunk.subarray(0, Math.min(chunk.length, bytes - sent))
        sent += part.length
        padding += part.length
        controller.enqueue(part)
      },
    })
  }

  const assessment = (address: string) => {
    const p = profiles.get(address) ?? { risk: 'Low' }
    return {
      address,
      risk: p.risk,
      riskReason: p.riskReason ?? null,
      cluster: p.cluster ?? null,
      addressType: p.addressType ?? 'PRIVATE_WALLET',
      addressIdentifications: p.addressIdentifications ?? [],
      exposures: p.exposures ?? [],
      triggers: p.triggers ?? [],
      status: 'COMPLETE',
    }
  }

  /** The answer a misbehavior gives instead of the normal one, or undefined to answer normally. */
  async function misbehaved(behavior: Misbehavior | undefined): Promise<Response | undefined> {
    switch (behavior?.kind) {
      case 'rate-limited':
        return error(429, undefined, behavior.retryAfter ? { 'retry-after': behavior.retryAfter } : {})
      case 'status':
        return new Response(
          behavior.body ?? JSON.stringify({ message: statusText[behavior.status] ?? 'Error' }),
          { status: behavior.status, headers: { 'content-type': 'application/json' } },
        )
      case 'hang':
        await new Promise<void>((resolve) => hanging.add(resolve))
        return error(503)
      case 'garbage':
        return new Response('{"address": "0x", "risk": Sev', {
          headers: { 'content-type': 'application/json' },
        })
      case 'huge':
        return new Response(paddingStream(behavior.bytes), {
          headers: {
            'content-type': 'application/json',
            ...(behavior.declareLength ? { 'content-length': String(behavior.bytes) } : {}),
          },
        })
      case 'endless':
        return new Response(paddingStream(Number.POSITIVE_INFINITY), {
          headers: { 'content-type': 'application/json' },
        })
      case 'body':
        return json(200, behavior.body)
      case 'slow':
        if (behavior.stall !== 'body') await sleep(behavior.ms)
        return undefined
      default:
        return undefined
    }
  }

  /** Delays the body of a `slow` answer with `stall: 'body'`: the headers go out at once. */
  function stalled(response: Response, behavior: Misbehavior | undefined): Response {
    if (behavior?.kind !== 'slow' || behavior.stall !== 'body') return response
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        await sleep(behavior.ms)
        controller.enqueue(new Uint8Array(await response.arrayBuffer()))
        controller.close()
      },
    })
    return new Response(stream, { status: response.status, headers: response.headers })
  }

  async function register(req: Request, record: RecordedRequest): Promise<Response> {
    const instead = await misbehaved(onRegister)
    if (instead) return instead
    let body: unknown
    try {
      body = await req.json()
    } catch {
      return error(400, 'Request body must be JSON')
    }
    const address = (body as { address?: unknown } | null)?.address
    if (typeof address !== 'string' || address === '') return error(400, 'address is required')
    record.address = address
    registered.add(address)
    return stalled(json(200, { address }), onRegister)
  }

  async function read(address: string): Promise<Response> {
    const instead = await misbehaved(onRead)
    if (instead) return instead
    if (!registered.has(address)) return error(404, `${address} is not registered`)
    const count = (reads.get(address) ?? 0) + 1
    reads.set(address, count)
    const pending = onRead?.kind === 'in-progress' && count <= onRead.reads
    const body: { address: string; status: string } = pending
      ? { address, status: 'IN_PROGRESS' }
      : assessment(address)
    if (onRead?.kind === 'other-address') body.address = onRead.address
    return stalled(json(200, body), onRead)
  }

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    // a hanging request must stay open for as long as the test wants it to
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url)
      const record: RecordedRequest = {
        method: req.method,
        path: url.pathname + url.search,
        token: req.headers.get('token'),
        contentType: req.headers.get('content-type'),
      }
      requests.push(record)
      for (const w of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
      if (record.token !== apiKey) return error(403, 'Invalid API key')
      if (url.pathname === entitiesPath && req.method === 'POST') return register(req, record)
      if (url.pathname.startsWith(`${entitiesPath}/`) && req.method === 'GET') {
        const segment = url.pathname.slice(entitiesPath.length + 1)
        if (segment === '' || segment.includes('/')) return error(404)
        record.address = decodeURIComponent(segment)
        // a query string is not part of the address: an unencoded `?` in one ends up here
        return read(record.address)
      }
      return error(404)
    },
  })

  return {
    url: `http://127.0.0.1:${server.port}`,
    apiKey,
    requests,
    registered,
    paddingSent: () => padding,
    waitForRequests: (count) =>
      requests.length >= count
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ count, resolve })),
    setEntity(address, profile) {
      profiles.set(address, profile)
    },
    misbehave(behavior, on = 'read') {
      if (on !== 'register') onRead = behavior
      if (on !== 'read') onRegister = behavior
      reads.clear()
    },
    async stop() {
      for (const release of hanging) release()
      hanging.clear()
      await server.stop(true)
    },
  }
}
