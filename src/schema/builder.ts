import SchemaBuilder from '@pothos/core'
import ErrorsPlugin from '@pothos/plugin-errors'
import RelayPlugin from '@pothos/plugin-relay'
import ScopeAuthPlugin from '@pothos/plugin-scope-auth'
import { GraphQLError } from 'graphql'
import type { ApiKeyScope } from '../core/api-keys.ts'
import type { GraphQLContext } from './context.ts'

export const builder = new SchemaBuilder<{
  Context: GraphQLContext
  AuthScopes: { authenticated: boolean; scope: ApiKeyScope }
  Scalars: {
    DateTime: { Input: Date; Output: Date }
    JSON: { Input: unknown; Output: unknown }
  }
  DefaultFieldNullability: false
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: async (ctx) => {
      const auth = await ctx.auth()
      ctx.resolvedAuth = auth
      return {
        authenticated: auth !== null,
        scope: (scope) => auth !== null && (auth.scopes.has(scope) || auth.scopes.has('admin')),
      }
    },
    unauthorizedError: (_parent, ctx, _info, result) =>
      ctx.resolvedAuth === null
        ? new GraphQLError('a valid API key is required (Authorization: Bearer tg_…)', {
            extensions: { code: 'UNAUTHENTICATED', requestId: ctx.requestId },
          })
        : new GraphQLError(`this API key lacks the scope for this field (${result.message})`, {
            extensions: { code: 'FORBIDDEN', requestId: ctx.requestId },
          }),
  },
  relay: { clientMutationId: 'omit', cursorType: 'String' },
  errors: { defaultTypes: [] },
})

builder.queryType({})
builder.mutationType({})
