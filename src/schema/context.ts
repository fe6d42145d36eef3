import { GraphQLError } from 'graphql'
import type { AppContext } from '../context.ts'
import type { ApiKeyScope, AuthInfo } from '../core/api-keys.ts'

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
  if (!auth) throw new Error('resolver reached without authentication')
  return auth
}

/**
 * The same check the scope-auth plugin makes, done inline for the hottest mutation (the plugin's per-field
 * machinery costs measurably there): same error codes, same messages.
 */
export async function requireScope(ctx: GraphQLContext, scope: ApiKeyScope): Promise<AuthInfo> {
  const auth = await ctx.auth()
  if (!auth)
    throw new GraphQLError('a valid API key is required (Authorization: Bearer tg_…)', {
      extensions: { code: 'UNAUTHENTICATED', requestId: ctx.requestId },
    })
  if (!auth.scopes.has(scope) && !auth.scopes.has('admin'))
    throw new GraphQLError(`this API key lacks the scope for this field (${scope})`, {
      extensions: { code: 'FORBIDDEN', requestId: ctx.requestId },
    })
  return auth
}
