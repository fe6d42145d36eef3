import type { Server, ServerWebSocket, WebSocketHandler } from 'bun'
import { GraphQLError } from 'graphql'
import { handleProtocols, makeHandler } from 'graphql-ws/use/bun'
import type { YogaServerInstance } from 'graphql-yoga'
import { clientAddress, rateLimitSubject } from './client-ip.ts'
import type { AppContext } from './context.ts'
import { invariantBroken } from './core/errors.ts'
import { liveLimits } from './live-limits.ts'
import type { GraphQLContext } from './schema/context.ts'
import { tooManySubscriptions } from './schema/live-auth.ts'

type Yoga = YogaServerInstance<{ requestId: string }, GraphQLContext>

/** What the upgrade hands the socket: where it came from, read once the app's settings are at hand. */
type SocketOrigin = { peer?: string; forwardedFor: string | null }

/**
 * The close code of a socket refused because its address holds too many already: 1013, "try again later"
 * (RFC 6455), with the limit in the reason.
 */
export const tooManySocketsCloseCode = 1013

/**
 * The app a yoga instance serves, read from the context it makes: for a caller that hands the handler only yoga
 * (it needs the settings and the logger before any operation runs).
 */
function appOf(yoga: Yoga): AppContext {
  const context = yoga
    .getEnveloped({ request: new Request('http://websocket/graphql'), requestId: 'websocket-setup' })
    .contextFactory() as unknown
  if (context instanceof Promise || !(context as Partial<GraphQLContext>)?.app)
    throw invariantBroken('WS_CONTEXT', 'the GraphQL context must be made synchronously and hold the app')
  return (context as GraphQLContext).app
}

/**
 * graphql-ws over Bun's WebSockets, through yoga's envelop: the same schema, plugins and limits as HTTP. The
 * key travels in the connection's `authorization` parameter. Caps (from the app's settings): sockets per client
 * address (WS_MAX_CONNECTIONS_PER_IP; a socket over it is closed at once with 1013), subscriptions per socket
 * (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION; one over it gets an `error` message with TOO_MANY_SUBSCRIPTIONS), and
 * subscriptions per address over every transport (SUBSCRIPTIONS_MAX_PER_IP, counted by the subscriptions).
 *
 * @example
 * Bun.serve({ websocket: createWebSocketHandler(yoga, app), fetch: (req, server) => upgradeWebSocket(req, server) })
 */
export function createWebSocketHandler(
  yoga: Yoga,
  app: AppContext = appOf(yoga),
): WebSocketHandler<undefined> {
  const limits = liveLimits(app)
  /** The socket's client address, as the rate limits count it (an IPv4 address or an IPv6 /64). */
  const addressOf = (ws: ServerWebSocket<unknown>): string | undefined => {
    const origin = ws.data as SocketOrigin | undefined
    const client = clientAddress(
      origin?.peer ?? ws.remoteAddress,
      origin?.forwardedFor ?? null,
      app.env.TRUST_PROXY,
    )
    return client === undefined ? undefined : rateLimitSubject(client)
  }
  const addresses = new WeakMap<ServerWebSocket<unknown>, string | undefined>()
  const releases = new WeakMap<ServerWebSocket<unknown>, () => void>()
  const graphqlWs = makeHandler<{ authorization?: string }, { socket: ServerWebSocket<unknown> }>({
    execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
    subscribe: (args) =>
      (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
    onSubscribe: async (ctx, _id, params) => {
      const requestId = crypto.randomUUID()
      // this operation is in `subscriptions` already
      if (Object.keys(ctx.subscriptions).length > limits.subscriptionsPerSocket) {
        app.log.info(
          { requestId, limit: limits.subscriptionsPerSocket },
          'subscription refused: socket at its cap',
        )
        return [
          tooManySubscriptions(
            `too many subscriptions on this connection (at most ${limits.subscriptionsPerSocket} at once); complete one first`,
            limits.subscriptionsPerSocket,
          ),
        ]
      }
      const authorization = ctx.connectionParams?.authorization
      const request = new Request('http://websocket/graphql', {
        headers: typeof authorization === 'string' ? { authorization } : {},
      })
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        request,
        requestId,
        params,
        clientIp: addresses.get(ctx.extra.socket),
      })
      let document: ReturnType<typeof parse>
      try {
        document = parse(params.query)
      } catch (err) {
        return [err instanceof GraphQLError ? err : new GraphQLError('could not parse the document')]
      }
      const errors = validate(schema, document)
      if (errors.length > 0) return errors
      return {
        schema,
        operationName: params.operationName,
        document,
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe },
      }
    },
  })
  return {
    open(ws) {
      const address = addressOf(ws)
      if (address !== undefined) {
        const release = limits.socketsPerAddress.take(address)
        if (!release) {
          app.log.info({ limit: limits.socketsPerAddress.max }, 'WebSocket refused: address at its cap')
          ws.close(
            tooManySocketsCloseCode,
            `too many connections from this address (at most ${limits.socketsPerAddress.max})`,
          )
          return
        }
        releases.set(ws, release)
      }
      addresses.set(ws, address)
      graphqlWs.open?.(ws)
    },
    message: (ws, message) => graphqlWs.message(ws, message),
    close(ws, code, reason) {
      // a socket refused in `open` was never handed to graphql-ws
      if (!addresses.has(ws)) return
      releases.get(ws)?.()
      return graphqlWs.close?.(ws, code, reason)
    },
  }
}

/** Whether a request asks to open a graphql-ws socket on `/graphql`. */
export function isWebSocketUpgrade(request: Request): boolean {
  return (
    request.headers.get('upgrade')?.toLowerCase() === 'websocket' &&
    new URL(request.url).pathname === '/graphql'
  )
}

/**
 * Upgrades a `/graphql` request to graphql-ws (graphql-transport-ws only); a refusal is a 400 response. The
 * socket keeps where it came from (peer and X-Forwarded-For), for the per-address cap.
 *
 * @example
 * if (isWebSocketUpgrade(request)) return upgradeWebSocket(request, server)
 */
export function upgradeWebSocket(request: Request, server: Server<undefined>): Response | undefined {
  if (!handleProtocols(request.headers.get('sec-websocket-protocol') ?? ''))
    return Response.json(
      { error: 'unsupported WebSocket subprotocol (use graphql-transport-ws)' },
      { status: 400 },
    )
  const origin: SocketOrigin = {
    peer: server.requestIP(request)?.address,
    forwardedFor: request.headers.get('x-forwarded-for'),
  }
  if ((server as unknown as Server<SocketOrigin>).upgrade(request, { data: origin })) return undefined
  return Response.json({ error: 'WebSocket upgrade failed' }, { status: 400 })
}
