import { AsyncLocalStorage } from 'node:async_hooks'
import { useEngine } from '@envelop/core'
import type { Server } from 'bun'
import { execute, GraphQLError, type GraphQLSchema, subscribe } from 'graphql'
import { createYoga } from 'graphql-yoga'
import { handleCheckout } from './checkout/routes.ts'
import type { AppContext } from './context.ts'
import { authenticate } from './core/access/api-keys.ts'
import { errorCode, errorKind, TollgateError } from './core/errors.ts'
import { chainProgress } from './core/scanning/cursors.ts'
import { createWebSocketHandler, isWebSocketUpgrade, upgradeWebSocket } from './graphql-ws.ts'
import { readiness } from './health.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import type { GraphQLContext } from './schema/context.ts'
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

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
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
 * The HTTP surface: `/graphql`, the hosted checkout under `/pay/`, `/healthz`, `/readyz`, `/metrics`. `handle` is a fetch handler, usable with
 * `Bun.serve` or called directly in tests.
 *
 * @example
 * const { handle } = createHttpHandler(ctx)
 * Bun.serve({ port: 4000, fetch: handle })
 */
export function createHttpHandler(
  app: AppContext,
  options: { metrics?: Metrics; schema?: GraphQLSchema } = {},
) {
  const metrics = options.metrics ?? createMetrics(chainState(app))
  const graphiql = app.env.GRAPHIQL ?? app.env.TOLLGATE_ENV === 'development'
  const yoga = createYoga<{ requestId: string }, GraphQLContext>({
    schema: options.schema ?? schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: graphiql ? { title: 'Tollgate' } : false,
    logging: false,
    maskedErrors: { maskError: maskError(app) },
    plugins: [
      // graphql-js's own executor: the schema uses no @defer/@stream, and it does less work per field
      useEngine({ execute, subscribe }),
      useQueryLimits({
        maxDepth: app.env.GRAPHQL_MAX_DEPTH,
        maxFields: app.env.GRAPHQL_MAX_FIELDS,
        maxTokens: app.env.GRAPHQL_MAX_TOKENS,
      }),
    ],
    context: ({ request, requestId }) => {
      let pending: Promise<GraphQLContext['resolvedAuth']> | undefined
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

  const websocket = createWebSocketHandler(yoga)

  async function route(request: Request, requestId: string, path: string): Promise<Response> {
    switch (path) {
      case '/graphql': {
        const length = Number(request.headers.get('content-length') ?? 0)
        if (length > app.env.MAX_BODY_BYTES)
          return json({ errors: [{ message: 'request body too large' }] }, 413)
        return requestScope.run({ requestId }, () => yoga.fetch(request, { requestId }))
      }
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
      default:
        if (path.startsWith('/pay/')) return handleCheckout(app, request, path)
        return json({ error: 'not found' }, 404)
    }
  }

  async function handle(request: Request): Promise<Response> {
    const started = performance.now()
    const requestId = request.headers.get('x-request-id')?.slice(0, 64) || crypto.randomUUID()
    const path = new URL(request.url).pathname
    const routeLabel = ['/graphql', '/healthz', '/readyz', '/metrics'].includes(path)
      ? path
      : path.startsWith('/pay/')
        ? '/pay'
        : 'other'
    let response: Response
    try {
      response = await route(request, requestId, path)
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
    return handle(request)
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
