import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql'
import type { Plugin } from 'graphql-yoga'

const suggestion = /\s*Did you mean [^?]*\?/g

/** The error without graphql-js's "Did you mean …?" hint (which names fields, types and enum values). */
function withoutSuggestion(error: GraphQLError): GraphQLError {
  if (!error.message.includes('Did you mean')) return error
  return new GraphQLError(error.message.replace(suggestion, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  })
}

function stripAll<T extends { errors?: ReadonlyArray<GraphQLError> }>(result: T): T {
  if (!result.errors?.some((e) => e.message.includes('Did you mean'))) return result
  return { ...result, errors: result.errors.map(withoutSuggestion) }
}

/**
 * What the API tells a caller about its schema. With `allowed` false (production unless
 * `GRAPHQL_INTROSPECTION=true`), `__schema` and `__type` are refused in validation and error messages lose
 * graphql-js's "Did you mean …?" hints, which would otherwise spell the schema out one typo at a time; `__typename`
 * stays (clients rely on it). The schema is public in the repository; this only stops serving it to anyone who asks.
 *
 * @example
 * createYoga({ schema, plugins: [useSchemaDisclosure({ allowed: env.TOLLGATE_ENV !== 'production' })] })
 */
export function useSchemaDisclosure(options: { allowed: boolean }): Plugin {
  if (options.allowed) return {}
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule)
      return ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map((e) => (e instanceof GraphQLError ? withoutSuggestion(e) : e)))
      }
    },
    // variables are coerced at execution: an unknown enum value there comes with a hint too
    onExecute: () => ({
      onExecuteDone: ({ result, setResult }) => {
        if (!(Symbol.asyncIterator in result)) setResult(stripAll(result))
      },
    }),
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (!(Symbol.asyncIterator in result)) setResult(stripAll(result))
      },
    }),
  }
}
