import { AsyncLocalStorage } from 'node:async_hooks'
import { useEngine } from '@envelop/core'
import type { Server } from 'bun'
import { execute, GraphQLError, type GraphQLSchema, subscribe } from 'graphql'
import { createYoga } from 'graphql-yoga'
import { readChainStatus } from './chain-status.ts'
import { handleRefundPage } from './checkout/refund-routes.ts'
import { handleCheckout } from './checkout/routes.ts'
import { clientAddress, rateLimitSubject } from './client-ip.ts'
import { createConsolePages, isConsolePagePath } from './console/serve.ts'
import {
  authenticateSession,
  createConsoleAuth,
  type SessionRejection,
  sessionCookieOf,
} from './console-auth.ts'
import type { AppContext } from './context.ts'
import { type ApiKeyScope, type AuthInfo, authenticate } from './core/access/api-keys.ts'
import { kytReportCsv, kytReportQuery } from './core/compliance/report-export.ts'
import { readKytStatus } from './core/compliance/status.ts'
import { errorCode, errorKind, TollgateError } from './core/errors.ts'
import { statementCsv, statementQuery } from './core/ledger/statements.ts'
import { chainProgress } from './core/scanning/cursors.ts'
import { corsHeaders, preflight } from './cors.ts'
import { renderSelfHostedGraphiQL, serveGraphiQLAsset, withGraphiQLPageHeaders } from './graphiql.ts'
import { createWebSocketHandler, isWebSocketUpgrade, upgradeWebSocket } from './graphql-ws.ts'
import { readiness } from './health.ts'
import { useSchemaDisclosure } from './introspection.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { createRateLimits, type RateLimited } from './rate-limit.ts'
import { type GraphQLContext, hasScope } from './schema/context.ts'
import { schema } from './schema/index.ts'
import { useQueryLimits } from './schema/limits.ts'

const requestScope = new AsyncLocalStorage<{ requestId: string }>()

function chainState(app: AppContext) {
  return async () =>
    (await chainProgress(app.db)).map((c) => ({
      chain: c.chain,
      height: c.height,
      halted: c.haltedReason !== null,
    }))
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })
}

/** A rate-limit refusal on /graphql: HTTP 429 with Retry-After, and a GraphQL error clients can branch on. */
function rateLimitedGraphql(refusal: RateLimited, requestId: string): Response {
  const seconds = refusal.retryAfterSeconds
  return json(
    {
      errors: [
        {
          message: `too many requests; retry after ${seconds} s`,
          extensions: { code: 'RATE_LIMITED', retryAfter: seconds, limiter: refusal.limiter, requestId },
        },
      ],
    },
    429,
    { 'retry-after': String(seconds) },
  )
}

/** A rate-limit refusal anywhere else (the checkout). */
function tooManyRequests(refusal: RateLimited): Response {
  return new Response('too many requests\n', {
    status: 429,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'retry-after': String(refusal.retryAfterSeconds),
    },
  })
}

/**
 * Decided from the error's type: a user error keeps its code and message; anything else is logged with the
 * request id and its kind, and masked (a retryable one says so, so clients know to try again).
 */
function maskError(app: AppContext) {
  return (error: unknown): Error => {
    const requestId = requestScope.getStore()?.requestId
    const original = error instanceof GraphQLError ? error.originalError : error
    const kind = errorKind(original)
    if (original instanceof TollgateError)
      return new GraphQLError(original.message, {
        nodes: (error as GraphQLError).nodes,
        path: (error as GraphQLError).path,
        extensions: { code: original.code, field: original.field, requestId },
      })
    if (error instanceof GraphQLError && (!original || original instanceof GraphQLError))
      return original instanceof GraphQLError ? original : error
    app.log[kind === 'retryable' ? 'warn' : 'error'](
      { err: original, requestId, errorKind: kind, errorCode: errorCode(original) },
      'unexpected error in a GraphQL operation',
    )
    return new GraphQLError('Unexpected error.', {
      extensions: {
        code: 'INTERNAL_SERVER_ERROR',
        requestId,
        ...(kind === 'retryable' ? { retryable: true } : {}),
      },
    })
  }
}

/**
 * The server context yoga gets per HTTP request: the key, already looked up when one was presented, and the
 * client's address as limits count it (GraphQLContext's `clientIp`).
 */
type ServerContext = { requestId: string; auth?: Promise<AuthInfo | null>; clientIp?: string }

/**
 * The HTTP surface: `/graphql` (with GraphiQL on, its page to a browser and its files under `/graphql-assets/`),
 * the hosted checkout under `/pay/`, the CSV statement `/exports/ledger.csv` and KYT report `/exports/kyt.csv`,
 * `/healthz`, `/readyz`, `/metrics`, and the console's sign-in under `/console/api/` (console-auth.ts; its session
 * cookie also opens /graphql and the CSVs, with `X-CSRF-Token` and `X-Tollgate-Merchant`).
 * `handle` is a fetch handler, usable with `Bun.serve` (which hands it the server, asked for the socket's
 * address) or called directly in tests with that address as a string: what rate limits count by, through
 * `TRUST_PROXY`. Without an address only the per-key limit applies.
 *
 * Rate limits, in order, on /graphql: the address's request count; for a request that presents a key, whether
 * the address has failed authentication too often (then the key is not looked up at all); the key's request
 * count once it authenticated. A refused key counts as a failed authentication of the address. The checkout
 * counts against the address's request limit. Over a limit: 429 with Retry-After (and, on /graphql, a GraphQL
 * error with `extensions.code` RATE_LIMITED and `retryAfter`).
 *
 * @example
 * const { handle } = createHttpHandler(ctx)
 * Bun.serve({ port: 4000, fetch: handle })
 * await handle(new Request('http://t/graphql?query={__typename}'), '203.0.113.9')
 */
export function createHttpHandler(
  app: AppContext,
  options: { metrics?: Metrics; schema?: GraphQLSchema } = {},
) {
  const metrics =
    options.metrics ??
    createMetrics(
      chainState(app),
      () => readChainStatus(app),
      () => readKytStatus(app.db),
      app.rateBook ? () => app.rateBook?.all() ?? [] : undefined,
    )
  const graphiql = app.env.GRAPHIQL ?? app.env.TOLLGATE_ENV === 'development'
  const introspection = app.env.GRAPHQL_INTROSPECTION ?? app.env.TOLLGATE_ENV !== 'production'
  if (graphiql && !introspection)
    app.log.warn('GraphiQL is on but introspection is off (GRAPHQL_INTROSPECTION): it cannot show the schema')
  const limits = createRateLimits({
    redis: app.redis,
    prefix: app.env.REDIS_PREFIX,
    settings: {
      perIp: app.env.RATE_LIMIT_PER_IP,
      perKey: app.env.RATE_LIMIT_PER_KEY,
      windowSeconds: app.env.RATE_LIMIT_WINDOW_SECONDS,
      authFailures: app.env.RATE_LIMIT_AUTH_FAILURES,
      authFailureWindowSeconds: app.env.RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS,
    },
    log: app.log,
    metrics,
  })
  const consoleAuth = createConsoleAuth(app)
  const consolePages = createConsolePages({
    onBuildError: (err) => app.log.error({ err }, 'the console could not be built: /console answers 500'),
  })
  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema: options.schema ?? schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: graphiql ? { title: 'Tollgate' } : false,
    // the bundle from our own origin (/graphql-assets/…), never a CDN
    renderGraphiQL: renderSelfHostedGraphiQL,
    logging: false,
    // answered by corsHeaders from CORS_ORIGINS: yoga's default reflects any origin with credentials
    cors: false,
    maskedErrors: { maskError: maskError(app) },
    plugins: [
      // graphql-js's own executor: the schema uses no @defer/@stream, and it does less work per field
      useEngine({ execute, subscribe }),
      useSchemaDisclosure({ allowed: introspection }),
      useQueryLimits({
        maxDepth: app.env.GRAPHQL_MAX_DEPTH,
        maxFields: app.env.GRAPHQL_MAX_FIELDS,
        maxTokens: app.env.GRAPHQL_MAX_TOKENS,
      }),
    ],
    context: ({ request, requestId, auth }) => {
      // HTTP requests arrive with the key looked up already (see admit); graphql-ws ones look it up here
      let pending: Promise<GraphQLContext['resolvedAuth']> | undefined = auth
      return {
        app,
        requestId,
        auth: () => {
          pending ??= authenticate(app, request.headers.get('authorization')).catch((err) => {
            if (errorKind(err) === 'user') return null
            throw err
          })
          return pending as Promise<NonNullable<GraphQLContext['resolvedAuth']> | null>
        },
      }
    },
  })

  // graphql-ws passes no `auth` (it is optional): its server context is the `requestId` part of ours
  const websocket = createWebSocketHandler(
    yoga as unknown as Parameters<typeof createWebSocketHandler>[0],
    app,
  )

  /**
   * The rate limits of a /graphql request (see above); when it may go on, the key's lookup for the resolvers. A
   * lookup that failed for another reason than the key (the database away) is handed on as it failed, for the
   * resolvers to mask as before. Without an Authorization header, the console's session cookie stands in for a
   * key (it counts as a presented credential for the limits); a session request without its CSRF token (when
   * `csrf`) or for a merchant not the user's is rejected before anything runs.
   */
  async function admit(
    request: Request,
    subject: string | undefined,
    options: { csrf: boolean } = { csrf: true },
  ): Promise<
    { refused: RateLimited } | { rejected: SessionRejection } | { auth?: Promise<AuthInfo | null> }
  > {
    const authorization = request.headers.get('authorization')
    // an Authorization header wins: the cookie is then ignored
    const session = authorization === null ? sessionCookieOf(request) : undefined
    const presented = authorization !== null || session !== undefined
    const [overAddress, authBlocked] = await Promise.all([
      subject === undefined ? undefined : limits.request(subject),
      subject === undefined || !presented ? undefined : limits.authBlocked(subject),
    ])
    if (overAddress) return { refused: overAddress }
    if (authBlocked) return { refused: authBlocked }
    if (!presented) return {}
    let auth: AuthInfo
    try {
      if (session === undefined) auth = await authenticate(app, authorization)
      else {
        const outcome = await authenticateSession(app, request, session, options)
        if ('rejected' in outcome) return outcome
        auth = outcome.auth
      }
    } catch (err) {
      if (errorKind(err) !== 'user') {
        const failed = Promise.reject(err)
        failed.catch(() => undefined)
        return { auth: failed }
      }
      if (subject !== undefined) await limits.authFailed(subject)
      return { auth: Promise.resolve(null) }
    }
    const overKey = await limits.key(auth.keyId)
    return overKey ? { refused: overKey } : { auth: Promise.resolve(auth) }
  }

  async function graphql(request: Request, requestId: string, subject: string | undefined) {
    if (request.method === 'OPTIONS') return preflight(request, app.env.CORS_ORIGINS)
    const length = Number(request.headers.get('content-length') ?? 0)
    if (length > app.env.MAX_BODY_BYTES) return json({ errors: [{ message: 'request body too large' }] }, 413)
    const admitted = await admit(request, subject)
    if ('refused' in admitted) return rateLimitedGraphql(admitted.refused, requestId)
    if ('rejected' in admitted) {
      const { status, code, message } = admitted.rejected
      return json({ errors: [{ message, extensions: { code, requestId } }] }, status)
    }
    return requestScope.run({ requestId }, () =>
      yoga.fetch(request, { requestId, auth: admitted.auth, clientIp: subject }),
    )
  }

  /**
   * Who may download a CSV export: admitted as /graphql requests are (the same rate limits), the console session
   * without a CSRF token. Answers the key, or the refusal to send: 429, 401 without a valid key, 403 without
   * `scope`.
   */
  async function exportAuth(
    request: Request,
    subject: string | undefined,
    scope: ApiKeyScope,
  ): Promise<AuthInfo | Response> {
    if (request.method !== 'GET') return json({ error: 'method not allowed' }, 405, { allow: 'GET' })
    // a download link needs no CSRF token: a GET changes nothing, and SameSite keeps other sites' pages out
    const admitted = await admit(request, subject, { csrf: false })
    if ('refused' in admitted) return tooManyRequests(admitted.refused)
    if ('rejected' in admitted)
      return json(
        { error: admitted.rejected.message, code: admitted.rejected.code },
        admitted.rejected.status,
      )
    const auth = (await admitted.auth) ?? null
    if (!auth)
      return json(
        { error: 'a valid API key is required (Authorization: Bearer tg_…)', code: 'UNAUTHENTICATED' },
        401,
        { 'www-authenticate': 'Bearer' },
      )
    if (!hasScope(auth, scope))
      return json({ error: `this API key lacks the scope ${scope}`, code: 'FORBIDDEN' }, 403)
    return auth
  }

  /** A CSV export's query string checked by `parse`, or 400 naming the bad parameter (nothing is read then). */
  function exportQuery<T>(request: Request, parse: (params: URLSearchParams) => T): T | Response {
    try {
      return parse(new URL(request.url).searchParams)
    } catch (err) {
      if (!(err instanceof TollgateError)) throw err
      return json({ error: err.message, code: err.code, field: err.field }, 400)
    }
  }

  /** CSV text streamed as it is read, a download named `filename`. */
  function csvDownload(lines: AsyncGenerator<string>, filename: string): Response {
    const encoder = new TextEncoder()
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await lines.next()
        if (next.done) controller.close()
        else controller.enqueue(encoder.encode(next.value))
      },
      async cancel() {
        await lines.return(undefined)
      },
    })
    return new Response(body, {
      headers: {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="${filename}"`,
        'cache-control': 'no-store',
      },
    })
  }

  /**
   * `/exports/ledger.csv`: the key's merchant's statement as CSV, streamed (payments:read; the query string is
   * `statementQuery`'s). 401 without a valid key, 403 without the scope, 400 naming a bad parameter.
   */
  async function ledgerExport(request: Request, subject: string | undefined): Promise<Response> {
    const auth = await exportAuth(request, subject, 'payments:read')
    if (auth instanceof Response) return auth
    const filter = exportQuery(request, (params) => statementQuery(app.chains, params))
    if (filter instanceof Response) return filter
    return csvDownload(statementCsv(app, auth.merchantId, filter), 'ledger.csv')
  }

  /**
   * `/exports/kyt.csv?from=&to=`: the key's merchant's KYT screenings opened in the period as CSV, streamed, in
   * the columns of `tollgate kyt report` (compliance:review). 401 without a valid key, 403 without the scope, 400
   * naming a bad parameter.
   */
  async function kytExport(request: Request, subject: string | undefined): Promise<Response> {
    const auth = await exportAuth(request, subject, 'compliance:review')
    if (auth instanceof Response) return auth
    const range = exportQuery(request, kytReportQuery)
    if (range instanceof Response) return range
    return csvDownload(kytReportCsv(app.db, auth.merchantId, range), 'kyt.csv')
  }

  async function route(
    request: Request,
    requestId: string,
    path: string,
    peer: string | undefined,
  ): Promise<Response> {
    const address = () => {
      const client = clientAddress(peer, request.headers.get('x-forwarded-for'), app.env.TRUST_PROXY)
      return client === undefined ? undefined : rateLimitSubject(client)
    }
    switch (path) {
      case '/graphql': {
        const response = await graphql(request, requestId, address())
        for (const [name, value] of Object.entries(corsHeaders(request, app.env.CORS_ORIGINS)))
          response.headers.set(name, value)
        return graphiql ? withGraphiQLPageHeaders(response) : response
      }
      case '/exports/ledger.csv':
        return ledgerExport(request, address())
      case '/exports/kyt.csv':
        return kytExport(request, address())
      case '/healthz':
        return json({ ok: true })
      case '/readyz': {
        const result = await readiness(app)
        return json(result, result.ok ? 200 : 503)
      }
      case '/metrics':
        return new Response(await metrics.registry.metrics(), {
          headers: { 'content-type': metrics.registry.contentType },
        })
      default: {
        if (path.startsWith('/console/api/')) {
          const client = clientAddress(peer, request.headers.get('x-forwarded-for'), app.env.TRUST_PROXY)
          return consoleAuth.handle(request, path, client)
        }
        const refundPage = path.startsWith('/refund/')
        const graphiqlAsset = graphiql && path.startsWith('/graphql-assets/')
        const consolePage = isConsolePagePath(path)
        if (!path.startsWith('/pay/') && !refundPage && !graphiqlAsset && !consolePage)
          return json({ error: 'not found' }, 404)
        const subject = address()
        const refused = subject === undefined ? undefined : await limits.request(subject)
        if (refused) return tooManyRequests(refused)
        if (graphiqlAsset) return serveGraphiQLAsset(request, path)
        if (consolePage) return consolePages.handle(request, path)
        return refundPage ? handleRefundPage(app, request, path) : handleCheckout(app, request, path)
      }
    }
  }

  async function handle(
    request: Request,
    from?: string | Pick<Server<undefined>, 'requestIP'>,
  ): Promise<Response> {
    // `fetch: handle` in Bun.serve passes the server itself
    const peer = typeof from === 'string' ? from : from?.requestIP?.(request)?.address
    const started = performance.now()
    // the id lands in logs and the audit log: only a short run of printable ASCII is taken from the client
    const offered = request.headers.get('x-request-id')
    const requestId = offered && /^[\x21-\x7e]{1,64}$/.test(offered) ? offered : crypto.randomUUID()
    const path = new URL(request.url).pathname
    const routeLabel = [
      '/graphql',
      '/exports/ledger.csv',
      '/exports/kyt.csv',
      '/healthz',
      '/readyz',
      '/metrics',
    ].includes(path)
      ? path
      : path.startsWith('/pay/')
        ? '/pay'
        : path.startsWith('/refund/')
          ? '/refund'
          : path.startsWith('/graphql-assets/')
            ? '/graphql-assets'
            : path.startsWith('/console/api/')
              ? '/console/api'
              : isConsolePagePath(path)
                ? '/console'
                : 'other'
    let response: Response
    try {
      response = await route(request, requestId, path, peer)
    } catch (err) {
      app.log.error({ err, requestId }, 'request failed')
      response = json({ error: 'internal error', requestId }, 500)
    }
    response.headers.set('x-request-id', requestId)
    const seconds = (performance.now() - started) / 1000
    metrics.httpRequests.inc({ route: routeLabel, status: response.status })
    metrics.httpDuration.observe({ route: routeLabel }, seconds)
    app.log.debug(
      { requestId, method: request.method, path, status: response.status, ms: seconds * 1000 },
      'request',
    )
    return response
  }

  /** `Bun.serve`'s fetch: WebSocket upgrades on /graphql (graphql-transport-ws), everything else by `handle`. */
  function serve(request: Request, server: Server<undefined>): Promise<Response> | Response | undefined {
    if (isWebSocketUpgrade(request)) return upgradeWebSocket(request, server)
    return handle(request, server)
  }

  return { handle, serve, yoga, websocket }
}

/**
 * Starts the HTTP server.
 *
 * @example
 * const server = startServer(ctx)
 * console.log(server.url)
 */
export function startServer(
  app: AppContext,
  options: { port?: number; hostname?: string; schema?: GraphQLSchema } = {},
) {
  const { serve, websocket } = createHttpHandler(app, { schema: options.schema })
  return Bun.serve({
    websocket,
    port: options.port ?? app.env.PORT,
    hostname: options.hostname ?? app.env.HOST,
    maxRequestBodySize: app.env.MAX_BODY_BYTES,
    fetch: serve,
    error: (err) => {
      app.log.error({ err }, 'unhandled server error')
      return json({ error: 'internal error' }, 500)
    },
  })
}
