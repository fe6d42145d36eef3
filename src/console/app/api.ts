// The console's calls to the gateway: the sign-in routes under /console/api/ and the public GraphQL API, which
// the session cookie opens when each request also carries the session's CSRF token and the merchant it acts for.

/**
 * A merchant the signed-in user holds a role at, as /console/api/login and /session name it, with the API scopes
 * the role stands for there.
 */
export type Membership = { merchantId: string; merchantName: string | null; role: string; scopes: string[] }

/** The browser's view of a session: who, where, and the CSRF token (held in memory only, never stored). */
export type SessionView = {
  user: { id: string; email: string; name: string; totpEnabled: boolean }
  memberships: Membership[]
  csrfToken: string
  expiresAt: string
}

/** A refused sign-in: the server's code and message, and while the account is locked, the seconds to wait. */
export type LoginRefusal = { code: string; message: string; retryAfterSeconds?: number }

/** What a GraphQL call came to: its data, the session gone (sign in again), or an error to show in words. */
export type QueryResult<T> =
  | { kind: 'data'; data: T }
  | { kind: 'signed-out' }
  | { kind: 'error'; message: string }

/** Who the console acts as on the API: the session's current CSRF token and the chosen merchant. */
export type Connection = { csrfToken: string; merchantId: string }

const networkRefusal: LoginRefusal = {
  code: 'NETWORK',
  message: 'the gateway could not be reached',
}

async function readJson(response: Response): Promise<Record<string, unknown>> {
  try {
    const body: unknown = await response.json()
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/**
 * Signs in: `totp` only once the server asked for it (TOTP_REQUIRED).
 *
 * @example
 * const outcome = await postLogin({ email, password })
 * if ('refusal' in outcome && outcome.refusal.code === 'TOTP_REQUIRED') showTotpField()
 */
export async function postLogin(input: {
  email: string
  password: string
  totp?: string
}): Promise<{ session: SessionView } | { refusal: LoginRefusal }> {
  let response: Response
  try {
    response = await fetch('/console/api/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
    })
  } catch {
    return { refusal: networkRefusal }
  }
  const body = await readJson(response)
  if (response.ok) return { session: body as unknown as SessionView }
  const retry = Number(response.headers.get('retry-after'))
  return {
    refusal: {
      code: typeof body.code === 'string' ? body.code : `HTTP_${response.status}`,
      message: typeof body.error === 'string' ? body.error : `the gateway answered ${response.status}`,
      ...(Number.isFinite(retry) && retry > 0 ? { retryAfterSeconds: retry } : {}),
    },
  }
}

/**
 * The cookie's session with a fresh CSRF token (the previous one stops working), or null when there is none.
 *
 * @example
 * const session = await fetchSession() // null: show the sign-in form
 */
export async function fetchSession(): Promise<SessionView | null> {
  try {
    const response = await fetch('/console/api/session', { credentials: 'same-origin' })
    if (!response.ok) {
      // read to the end, so the browser does not report the answer as aborted
      await response.text().catch(() => '')
      return null
    }
    return (await response.json()) as SessionView
  } catch {
    return null
  }
}

/**
 * Ends the session (the server clears the cookie).
 *
 * @example
 * await postLogout(connection.csrfToken)
 */
export async function postLogout(csrfToken: string): Promise<void> {
  try {
    await fetch('/console/api/logout', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'x-csrf-token': csrfToken },
    })
  } catch {
    // the page forgets the session either way; the cookie then lapses with it
  }
}

type GraphqlError = { message?: string; extensions?: { code?: string } }

async function postGraphql(connection: Connection, query: string, variables: Record<string, unknown>) {
  const response = await fetch('/graphql', {
    method: 'POST',
    credentials: 'same-origin',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      'x-csrf-token': connection.csrfToken,
      'x-tollgate-merchant': connection.merchantId,
    },
    body: JSON.stringify({ query, variables }),
  })
  const body = await readJson(response)
  const errors = Array.isArray(body.errors) ? (body.errors as GraphqlError[]) : []
  return { status: response.status, body, errors, code: errors[0]?.extensions?.code }
}

/**
 * A GraphQL operation as the signed-in user at `connection.merchantId`. A CSRF_REJECTED answer asks
 * `refreshCsrf` once for a fresh token (GET /console/api/session) and retries with it; a 401 or UNAUTHENTICATED
 * means the session is gone.
 *
 * @example
 * const result = await runQuery(connection, '{ balances { chain } }', {}, refreshCsrf)
 * if (result.kind === 'signed-out') showSignIn()
 */
export async function runQuery<T>(
  connection: Connection,
  query: string,
  variables: Record<string, unknown>,
  refreshCsrf: () => Promise<string | null>,
): Promise<QueryResult<T>> {
  try {
    let answer = await postGraphql(connection, query, variables)
    if (answer.status === 403 && answer.code === 'CSRF_REJECTED') {
      const fresh = await refreshCsrf()
      if (fresh === null) return { kind: 'signed-out' }
      answer = await postGraphql({ ...connection, csrfToken: fresh }, query, variables)
    }
    if (answer.status === 401 || answer.errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED'))
      return { kind: 'signed-out' }
    if (answer.errors.length > 0)
      return { kind: 'error', message: answer.errors.map((e) => e.message ?? 'unknown error').join('; ') }
    if (answer.status !== 200 || typeof answer.body.data !== 'object' || answer.body.data === null)
      return { kind: 'error', message: `the gateway answered ${answer.status}` }
    return { kind: 'data', data: answer.body.data as T }
  } catch {
    return { kind: 'error', message: 'the gateway could not be reached' }
  }
}

/** How a live subscription ended for good: the session is gone, or the API refused it (in words). */
export type LiveEnd = { kind: 'signed-out' } | { kind: 'error'; message: string }

/**
 * Opens a GraphQL subscription over server-sent events (POST with `accept: text/event-stream`, the cookie, the
 * CSRF token and the merchant, as every console call) and hands each `next` payload's data to `onData`. A
 * CSRF_REJECTED answer renews the token once through `refreshCsrf`; a dropped connection is reopened after a
 * growing pause (the page reloads what it shows on `onData`, so nothing missed meanwhile stays missing for
 * long). Ends for good on the API's refusal (the session ended: UNAUTHENTICATED) and answers a function that
 * closes the stream.
 *
 * @example
 * const close = openLive(connection, 'subscription { paymentsUpdated { id } }', {}, reload, onEnd, refreshCsrf)
 */
export function openLive(
  connection: () => Connection,
  query: string,
  variables: Record<string, unknown>,
  onData: (data: Record<string, unknown>) => void,
  onEnd: (end: LiveEnd) => void,
  refreshCsrf: () => Promise<string | null>,
): () => void {
  const controller = new AbortController()
  let closed = false
  let pause = 1000

  const open = (csrfToken: string) =>
    fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      signal: controller.signal,
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        'x-csrf-token': csrfToken,
        'x-tollgate-merchant': connection().merchantId,
      },
      body: JSON.stringify({ query, variables }),
    })

  /** Reads one stream to its end; answers the refusal that ends the subscription for good, if any. */
  async function follow(): Promise<LiveEnd | null> {
    let response = await open(connection().csrfToken)
    if (response.status === 403 && !response.headers.get('content-type')?.includes('event-stream')) {
      const body = await readJson(response.clone())
      const errors = Array.isArray(body.errors) ? (body.errors as GraphqlError[]) : []
      if (errors[0]?.extensions?.code === 'CSRF_REJECTED') {
        const fresh = await refreshCsrf()
        if (fresh === null) return { kind: 'signed-out' }
        response = await open(fresh)
      }
    }
    if (response.status === 401) return { kind: 'signed-out' }
    if (!response.headers.get('content-type')?.includes('event-stream') || !response.body) {
      const body = await readJson(response)
      const errors = Array.isArray(body.errors) ? (body.errors as GraphqlError[]) : []
      if (errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) return { kind: 'signed-out' }
      return { kind: 'error', message: errors[0]?.message ?? `the gateway answered ${response.status}` }
    }
    pause = 1000
    const reader = response.body.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return null
      buffer += decoder.decode(value, { stream: true })
      for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, at)
        buffer = buffer.slice(at + 2)
        if (!/^event: next$/m.test(block)) continue
        const text = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5))
          .join('\n')
        let payload: { data?: Record<string, unknown> | null; errors?: GraphqlError[] }
        try {
          payload = JSON.parse(text)
        } catch {
          continue
        }
        const errors = payload.errors ?? []
        if (errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) return { kind: 'signed-out' }
        if (errors.length > 0)
          return { kind: 'error', message: errors[0]?.message ?? 'the stream was refused' }
        if (payload.data) onData(payload.data)
      }
    }
  }

  ;(async () => {
    while (!closed) {
      let end: LiveEnd | null = null
      try {
        end = await follow()
      } catch {
        // the connection dropped (or was closed): reopened below unless closed
      }
      if (closed) return
      if (end) {
        onEnd(end)
        return
      }
      await new Promise((resolve) => setTimeout(resolve, pause))
      pause = Math.min(pause * 2, 30_000)
    }
  })()

  return () => {
    closed = true
    controller.abort()
  }
}
