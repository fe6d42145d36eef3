import type { Server } from 'bun'
import { GraphQLError } from 'graphql'
import { handleProtocols, makeHandler } from 'graphql-ws/use/bun'
import type { YogaServerInstance } from 'graphql-yoga'
import type { GraphQLContext } from './schema/context.ts'

type Yoga = YogaServerInstance<{ requestId: string }, GraphQLContext>

/**
 * graphql-ws over Bun's WebSockets, through yoga's envelop: the same schema, plugins and limits as HTTP. The
 * key travels in the connection's `authorization` parameter.
 *
 * @example
 * Bun.serve({ websocket: createWebSocketHandler(yoga), fetch: (req, server) => upgradeWebSocket(req, server) })
 */
export function createWebSocketHandler(yoga: Yoga) {
  return makeHandler<{ authorization?: string }>({
    execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
    subscribe: (args) =>
      (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
    onSubscribe: async (ctx, _id, params) => {
      const requestId = crypto.randomUUID()
      const authorization = ctx.connectionParams?.authorization
      const request = new Request('http://websocket/graphql', {
        headers: typeof authorization === 'string' ? { authorization } : {},
      })
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        request,
        requestId,
        params,
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
}

/** Whether a request asks to open a graphql-ws socket on `/graphql`. */
export function isWebSocketUpgrade(request: Request): boolean {
  return (
    request.headers.get('upgrade')?.toLowerCase() === 'websocket' &&
    new URL(request.url).pathname === '/graphql'
  )
}

/**
 * Upgrades a `/graphql` request to graphql-ws (graphql-transport-ws only); a refusal is a 400 response.
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
  if (server.upgrade(request)) return undefined
  return Response.json({ error: 'WebSocket upgrade failed' }, { status: 400 })
}
