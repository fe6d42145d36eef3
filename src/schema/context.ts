import { GraphQLError } from 'graphql'
import type { AppContext } from '../context.ts'
import type { ApiKeyScope, AuthInfo } from '../core/access/api-keys.ts'
import { invariantBroken } from '../core/errors.ts'

/** Per-request GraphQL context. `auth()` looks the API key up once, on first need. */
export type GraphQLContext = {
  app: AppContext
  requestId: string
  auth(): Promise<AuthInfo | null>
  /** Set once `auth()` has settled: null means no valid key was presented. */
  resolvedAuth?: AuthInfo | null
  /**
   * The request (yoga's, or the one graphql-ws makes for a subscribe message): a subscription looks its key up
   * again from it while it runs.
   */
  request?: Request
  /**
   * What per-address limits count against (an IPv4 address or an IPv6 /64), where the transport knows it:
   * the socket's client for graphql-ws, the server context's `clientIp` for HTTP.
   */
  clientIp?: string
}

/** The authenticated merchant; resolvers behind an auth scope can rely on it. */
export async function requireAuth(ctx: GraphQLContext): Promise<AuthInfo> {
  const auth = await ctx.auth()
  if (!auth) throw invariantBroken('AUTH_MISSING', 'resolver reached without authentication')
  return auth
}

/** Whether a key may use a field that needs `scope` (`admin` may use everything). */
export function hasScope(auth: AuthInfo | null, scope: ApiKeyScope): boolean {
  return auth !== null && (auth.scopes.has(scope) || auth.scopes.has('admin'))
}

/** The top-level error for a request without a valid key (`auth` null) or without the scope. */
export function authError(ctx: GraphQLContext, auth: AuthInfo | null, scope: string): GraphQLError {
  return auth === null
    ? new GraphQLError('a valid API key is required (Authorization: Bearer tg_…)', {
        extensions: { code: 'UNAUTHENTICATED', requestId: ctx.requestId },
      })
    : new GraphQLError(`this API key lacks the scope for this field (${scope})`, {
        extensions: { code: 'FORBIDDEN', requestId: ctx.requestId },
      })
}

/**
 * The check a subscription makes before it starts: a missing or refused key is UNAUTHENTICATED, a key without
 * `scope` FORBIDDEN. Refusals are the caller's doing, so they are logged at info, without a stack.
 *
 * @example
 * const auth = await requireSubscriptionScope(ctx, 'payments:read', 'paymentsUpdated')
 */
export async function requireSubscriptionScope(
  ctx: GraphQLContext,
  scope: ApiKeyScope,
  field: string,
): Promise<AuthInfo> {
  const auth = await ctx.auth()
  ctx.resolvedAuth = auth
  if (auth && hasScope(auth, scope)) return auth
  const error = authError(ctx, auth, scope)
  ctx.app.log.info(
    { requestId: ctx.requestId, code: error.extensions.code, field, keyId: auth?.keyId },
    'subscription refused',
  )
  throw error
}

/**
 * The scope-auth plugin's check, made inline for the hottest mutation (the plugin's per-field machinery costs
 * measurably there); same rule, same errors.
 */
export async function requireScope(ctx: GraphQLContext, scope: ApiKeyScope): Promise<AuthInfo> {
  const auth = await ctx.auth()
  if (!auth || !hasScope(auth, scope)) throw authError(ctx, auth, scope)
  return auth
}
