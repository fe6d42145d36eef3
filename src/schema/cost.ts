import { createComplexityRule } from '@pothos/plugin-complexity'
import { type DocumentNode, type GraphQLError, type GraphQLSchema, validate } from 'graphql'

// The cost model. An operation costs the sum of its fields, each field once per time it is resolved: a field
// under a list counts once per item the list may hold. A connection holds `first` items (the page size when
// absent); a list no argument bounds is taken to hold `assumedListSize`. The @pothos/plugin-complexity
// options below annotate the schema's fields; `operationCost` prices a document with them.

/** The page a connection returns when `first` is not given (the core's list functions use the same). */
export const defaultPageSize = 20

/** How many items a list with no bounding argument is priced at (a payment's transfers, its events…). */
export const assumedListSize = 10

/** Points for a field that reads the database for its parent (batched per request, but still a read). */
export const readCost = 2

/**
 * The price of a connection field: its page query, times the page size for everything selected under it.
 * A `first` out of range is priced as one item (the resolver refuses it before reading anything) — except
 * that a huge `first` is priced at its word, so it is refused as too costly before it is even looked at.
 *
 * @example
 * t.connection({ type: PaymentRef, complexity: connectionCost, resolve: … })
 */
export function connectionCost(args: { first?: number | null }) {
  const first = args.first ?? defaultPageSize
  return { field: readCost, multiplier: Math.max(first, 1) }
}

/** The price of a list of rows read for each parent (a payment's transfers or events). */
export const readListCost = { field: readCost, multiplier: assumedListSize }

/**
 * Options for the relay plugin: a connection's `edges` repeat once per item (the connection's multiplier
 * already counts the page), and `pageInfo` is derived from the page read, so it costs nothing.
 */
export const relayCostOptions = {
  edgesFieldOptions: { complexity: { field: 1, multiplier: 1 } },
  pageInfoFieldOptions: { complexity: 0 },
  hasNextPageFieldOptions: { complexity: 0 },
  hasPreviousPageFieldOptions: { complexity: 0 },
  startCursorFieldOptions: { complexity: 0 },
  endCursorFieldOptions: { complexity: 0 },
} as const

export type OperationPrice = { cost: number } | { errors: readonly GraphQLError[] }

/**
 * The cost of the operation a request will run (the one `operationName` picks, or the costliest when the
 * document has several and no name), from the document and its variables alone: nothing is resolved. A
 * document that cannot be priced (variables that do not fit) gives the errors that say why.
 *
 * @example
 * const price = operationCost({ schema, document, variables: {}, context })
 * if ('cost' in price && price.cost > 20_000) refuse()
 */
export function operationCost(request: {
  schema: GraphQLSchema
  document: DocumentNode
  variables: Record<string, unknown> | null | undefined
  operationName?: string | null
  context: object
}): OperationPrice {
  let cost = 0
  const errors = validate(request.schema, request.document, [
    createComplexityRule({
      context: request.context,
      variableValues: request.variables ?? {},
      operationName: request.operationName,
      // measured only: the limit is enforced by the caller, which also charges the key's budget
      validate: (result) => {
        cost = Math.max(cost, result.complexity)
      },
    }),
  ])
  return errors.length > 0 ? { errors } : { cost }
}
