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
 * The scope-auth plugin's check, made inline for the hottest mutation (the plugin's per-field machinery costs
 * measurably there); same rule, same errors.
 */
export async function requireScope(ctx: GraphQLContext, scope: ApiKeyScope): Promise<AuthInfo> {
  const auth = await ctx.auth()
  if (!auth || !hasScope(auth, scope)) throw authError(ctx, auth, scope)
  return auth
}
