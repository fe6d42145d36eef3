import SchemaBuilder from '@pothos/core'
import ComplexityPlugin from '@pothos/plugin-complexity'
import ErrorsPlugin from '@pothos/plugin-errors'
import RelayPlugin from '@pothos/plugin-relay'
import ScopeAuthPlugin from '@pothos/plugin-scope-auth'
import type { ApiKeyScope } from '../core/access/api-keys.ts'
import { authError, type GraphQLContext, hasScope } from './context.ts'
import { assumedListSize, relayCostOptions } from './cost.ts'

export const builder = new SchemaBuilder<{
  Context: GraphQLContext
  AuthScopes: { authenticated: boolean; scope: ApiKeyScope }
  Scalars: {
    DateTime: { Input: Date; Output: Date }
    JSON: { Input: unknown; Output: unknown }
  }
  DefaultFieldNullability: false
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, RelayPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: async (ctx) => {
      const auth = await ctx.auth()
      ctx.resolvedAuth = auth
      return {
        authenticated: auth !== null,
        scope: (scope) => hasScope(auth, scope),
      }
    },
    unauthorizedError: (_parent, ctx, _info, result) =>
      authError(ctx, ctx.resolvedAuth ?? null, result.message),
  },
  relay: { clientMutationId: 'omit', cursorType: 'String', ...relayCostOptions },
  errors: { defaultTypes: [] },
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: assumedListSize,
    // the fields carry their prices; the limit is enforced once per operation, before anything runs, by
    // useQueryLimits (limits.ts), not by the plugin at each root field
    disabled: true,
  },
})

builder.queryType({})
builder.mutationType({})
