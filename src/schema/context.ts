import type { AppContext } from '../context.ts'
import type { AuthInfo } from '../core/api-keys.ts'

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
