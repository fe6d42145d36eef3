import { waitFor } from './processes.ts'

/** One message of a subscription, as the server sent it. */
export type LiveMessage =
  | { type: 'next'; payload: { data?: any; errors?: Array<{ message: string; extensions?: any }> } }
  | { type: 'error'; payload: Array<{ message: string; extensions?: any }> }
  | { type: 'complete' }

/** A subscription seen from the client: every message in order, and whether the server ended it. */
export type LiveStream = {
  messages: LiveMessage[]
  /** The `data` of every `next` message, in order. */
  data(): any[]
  /** Error codes of every error the stream carried (in `next` or `error` messages). */
  errorCodes(): string[]
  ended(): boolean
  /** Waits until the server ends the stream (complete, error, or the transport closing). */
  untilEnded(timeoutMs?: number): Promise<void>
  /** Waits for at least `n` messages. */
  untilMessages(n: number, timeoutMs?: number): Promise<void>
  close(): void
}

function newStream(close: () => void): LiveStream & { push(m: LiveMessage): void; end(): void } {
  let ended = false
  const stream = {
    messages: [] as LiveMessage[],
    data: () => stream.messages.flatMap((m) => (m.type === 'next' && m.payload.data ? [m.payload.data] : [])),
    errorCodes: () =>
      stream.messages.flatMap((m) =>
        m.type === 'next'
          ? (m.payload.errors ?? []).map((e) => String(e.extensions?.code))
          : m.type === 'error'
            ? m.payload.map((e) => String(e.extensions?.code))
            : [],
      ),
    ended: () => ended,
    untilEnded: (timeoutMs = 5000) => waitFor('the stream to end', () => ended, timeoutMs).then(() => {}),
    untilMessages: (n: number, timeoutMs = 5000) =>
      waitFor(`${n} message(s)`, () => stream.messages.length >= n, timeoutMs).then(() => {}),
    close,
    push(m: LiveMessage) {
      stream.messages.push(m)
      if (m.type !== 'next') ended = true
    },
    end() {
      ended = true
    },
  }
  return stream
}

/** A graphql-transport-ws socket spoken by hand, so tests see every message and close code. */
export type LiveSocket = {
  /** Resolves once acknowledged; rejects with the close event when the server refuses the socket. */
  ready: Promise<void>
  subscribe(query: string, variables?: Record<string, unknown>): LiveStream
  /** The close code and reason, once the socket is closed. */
  closed: Promise<{ code: number; reason: string }>
  close(): void
}

/**
 * Opens a graphql-ws socket (`authorization` goes in the connection parameters, as clients send it).
 *
 * @example
 * const socket = openSocket(`ws://127.0.0.1:${port}/graphql`, `Bearer ${key}`)
 * await socket.ready
 * const stream = socket.subscribe('subscription { paymentsUpdated { id } }')
 */
export function openSocket(
  url: string,
  authorization?: string,
  headers: Record<string, string> = {},
): LiveSocket {
  // Bun's WebSocket takes request headers (a proxy's X-Forwarded-For, in tests)
  const ws = new WebSocket(url, { protocols: ['graphql-transport-ws'], headers } as never)
  const streams = new Map<string, ReturnType<typeof newStream>>()
  let nextId = 0
  let acknowledge: () => void = () => {}
  let refuse: (reason: unknown) => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    acknowledge = resolve
    refuse = reject
  })
  ready.catch(() => {})
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (event) => {
      for (const stream of streams.values()) stream.end()
      refuse({ code: event.code, reason: event.reason })
      resolve({ code: event.code, reason: event.reason })
    }
  })
  ws.onerror = () => {}
  ws.onopen = () =>
    ws.send(
      JSON.stringify({ type: 'connection_init', payload: authorization ? { authorization } : undefined }),
    )
  ws.onmessage = (event) => {
    const message = JSON.parse(String(event.data))
    if (message.type === 'connection_ack') return acknowledge()
    if (message.type === 'ping') return ws.send(JSON.stringify({ type: 'pong' }))
    const stream = streams.get(message.id)
    if (!stream) return
    if (message.type === 'next') stream.push({ type: 'next', payload: message.payload })
    else if (message.type === 'error') stream.push({ type: 'error', payload: message.payload })
    else if (message.type === 'complete') stream.push({ type: 'complete' })
  }
  return {
    ready,
    closed,
    close: () => ws.close(1000),
    subscribe(query, variables) {
      const id = String(++nextId)
      const stream = newStream(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ id, type: 'complete' }))
        stream.end()
      })
      streams.set(id, stream)
      ready.then(
        () => ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } })),
        () => stream.end(),
      )
      return stream
    },
  }
}

/**
 * A subscription over server-sent events (POST with `accept: text/event-stream`, as yoga serves them).
 *
 * @example
 * const stream = openSse(`http://127.0.0.1:${port}/graphql`, 'subscription { paymentsUpdated { id } }', {}, key)
 */
export function openSse(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  /** An API key, or the headers of another credential (a console session's cookie, CSRF token and merchant). */
  credential?: string | { headers: Record<string, string> },
): LiveStream {
  const controller = new AbortController()
  const stream = newStream(() => {
    controller.abort()
    stream.end()
  })
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'text/event-stream',
  }
  if (typeof credential === 'string') headers.authorization = `Bearer ${credential}`
  else if (credential) Object.assign(headers, credential.headers)
  ;(async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      signal: controller.signal,
    })
    if (!res.headers.get('content-type')?.includes('text/event-stream')) {
      // a refusal before any stream: yoga answers with a plain GraphQL response
      const body = (await res.json()) as { data?: any; errors?: any[] }
      stream.push({ type: 'next', payload: body })
      stream.push({ type: 'complete' })
      return
    }
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let boundary = buffer.indexOf('\n\n')
      while (boundary >= 0) {
        const block = buffer.slice(0, boundary)
        buffer = buffer.slice(boundary + 2)
        boundary = buffer.indexOf('\n\n')
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n')
        if (event === 'next') stream.push({ type: 'next', payload: JSON.parse(data) })
        else if (event === 'complete') stream.push({ type: 'complete' })
      }
    }
    stream.end()
  })().catch(() => stream.end())
  return stream
}
