import {
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLSchema,
  Kind,
  parse,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql'
import type { Plugin } from 'graphql-yoga'
import type { AppContext } from '../context.ts'
import type { GraphQLContext } from './context.ts'
import { operationCost } from './cost.ts'
import { type CostBudget, createCostBudget } from './cost-budget.ts'

export type QueryLimits = {
  /** Deepest field nesting, fragments expanded. */
  maxDepth: number
  /** Most fields one operation may select, fragments expanded (aliases count). */
  maxFields: number
  /** Most lexical tokens in a document; stops huge documents before they are even parsed. */
  maxTokens: number
}

type Cost = { depth: number; fields: number }

/**
 * Depth and field count of a selection set with fragments expanded. Each fragment is measured once and
 * reused, so the work is linear in the document even when fragments fan out exponentially; a spread that
 * closes a cycle counts as nothing (graphql-js refuses cycles anyway).
 */
function cost(
  set: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  memo: Map<string, Cost>,
  visiting: Set<string>,
): Cost {
  let depth = 0
  let fields = 0
  for (const sel of set.selections) {
    let inner: Cost
    if (sel.kind === Kind.FIELD) {
      const sub = sel.selectionSet
        ? cost(sel.selectionSet, fragments, memo, visiting)
        : { depth: 0, fields: 0 }
      inner = { depth: sub.depth + 1, fields: sub.fields + 1 }
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      inner = cost(sel.selectionSet, fragments, memo, visiting)
    } else {
      const name = sel.name.value
      const fragment = fragments.get(name)
      if (!fragment || visiting.has(name)) continue
      let known = memo.get(name)
      if (!known) {
        visiting.add(name)
        known = cost(fragment.selectionSet, fragments, memo, visiting)
        visiting.delete(name)
        memo.set(name, known)
      }
      inner = known
    }
    depth = Math.max(depth, inner.depth)
    fields = Math.min(fields + inner.fields, Number.MAX_SAFE_INTEGER)
  }
  return { depth, fields }
}

/**
 * How deep an operation that only asks the schema about itself may nest: the standard introspection query (what
 * GraphiQL and code generators send) nests a type reference's `ofType` nine levels, 14 in all. Its field count
 * stays under `maxFields` like any query's.
 */
const introspectionMaxDepth = 15

/** Whether every root field of an operation is introspection (`__schema`, `__type`, `__typename`). */
const introspectionOnly = (set: SelectionSetNode) =>
  set.selections.every((sel) => sel.kind === Kind.FIELD && sel.name.value.startsWith('__'))

function limitsRule(limits: QueryLimits) {
  return (context: ValidationContext): ASTVisitor => {
    const doc = context.getDocument()
    const fragments = new Map<string, FragmentDefinitionNode>()
    for (const def of doc.definitions)
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def)
    const memo = new Map<string, Cost>()
    return {
      OperationDefinition(op) {
        const acc = cost(op.selectionSet, fragments, memo, new Set())
        const maxDepth = introspectionOnly(op.selectionSet)
          ? Math.max(limits.maxDepth, introspectionMaxDepth)
          : limits.maxDepth
        if (acc.depth > maxDepth)
          context.reportError(
            new GraphQLError(`query is nested deeper than ${maxDepth} levels`, {
              extensions: { code: 'QUERY_TOO_DEEP' },
            }),
          )
        if (acc.fields > limits.maxFields)
          context.reportError(
            new GraphQLError(`query selects more than ${limits.maxFields} fields`, {
              extensions: { code: 'QUERY_TOO_COMPLEX' },
            }),
          )
      },
    }
  }
}

function tooCostly(ctx: GraphQLContext, cost: number, maxCost: number): GraphQLError {
  return new GraphQLError(
    `query costs ${cost} points, more than the ${maxCost} one operation may cost: ask for smaller pages (first) or fewer fields under lists`,
    { extensions: { code: 'QUERY_TOO_COSTLY', cost, maxCost, requestId: ctx.requestId } },
  )
}

function overBudget(ctx: GraphQLContext, cost: number, budget: CostBudget, retryAfter: number): GraphQLError {
  return new GraphQLError(
    `this API key has spent its query budget (${budget.points} points per minute); retry after ${retryAfter} s`,
    {
      extensions: {
        code: 'RATE_LIMITED',
        limiter: 'cost',
        retryAfter,
        cost,
        budget: budget.points,
        requestId: ctx.requestId,
        http: { status: 429, headers: { 'retry-after': String(retryAfter) } },
      },
    },
  )
}

type OperationArgs = {
  schema: GraphQLSchema
  document: DocumentNode
  variableValues?: Record<string, unknown> | null
  operationName?: string | null
  contextValue: unknown
}

/**
 * Prices the operation about to run and refuses it (the errors to answer with) when it costs more than
 * GRAPHQL_MAX_COST, or more than what is left of its API key's GRAPHQL_COST_BUDGET for the minute. The price
 * comes from the document alone, so a refusal costs no database work; only an affordable operation looks its
 * key up. Requests without a valid key have no budget: they can read nothing but a checkout's one payment.
 */
async function refusalByCost(
  args: OperationArgs,
  budgetOf: (app: AppContext) => CostBudget,
): Promise<readonly GraphQLError[] | undefined> {
  const ctx = args.contextValue as GraphQLContext
  const price = operationCost({
    schema: args.schema,
    document: args.document,
    variables: args.variableValues,
    operationName: args.operationName,
    context: ctx,
  })
  if ('errors' in price) return price.errors
  const maxCost = ctx.app.env.GRAPHQL_MAX_COST
  if (price.cost > maxCost) {
    ctx.app.log.info({ requestId: ctx.requestId, cost: price.cost, maxCost }, 'GraphQL operation too costly')
    return [tooCostly(ctx, price.cost, maxCost)]
  }
  const auth = await ctx.auth()
  if (!auth) return undefined
  const budget = budgetOf(ctx.app)
  const refused = await budget.spend(auth.keyId, price.cost)
  if (!refused) return undefined
  ctx.app.log.info(
    { requestId: ctx.requestId, keyId: auth.keyId, cost: price.cost, spent: refused.spent },
    'API key over its GraphQL cost budget',
  )
  return [overBudget(ctx, price.cost, budget, refused.retryAfterSeconds)]
}

/**
 * Refuses documents that are too large to parse cheaply or too deep/wide to execute cheaply, and operations
 * that cost too much (GRAPHQL_MAX_COST) or more than their API key has left this minute (GRAPHQL_COST_BUDGET,
 * counted in Redis across API processes). Queries, mutations and subscriptions alike, over HTTP and graphql-ws;
 * the cost settings are read from the request's app context.
 *
 * @example
 * createYoga({ schema, plugins: [useQueryLimits({ maxDepth: 10, maxFields: 500, maxTokens: 2000 })] })
 */
export function useQueryLimits(limits: QueryLimits): Plugin {
  const rule = limitsRule(limits)
  // one budget per app context (per process): its counts live in Redis, shared with every other process
  const budgets = new WeakMap<AppContext, CostBudget>()
  const budgetOf = (app: AppContext) => {
    let budget = budgets.get(app)
    if (!budget) {
      budget = createCostBudget({
        redis: app.redis,
        prefix: app.env.REDIS_PREFIX,
        points: app.env.GRAPHQL_COST_BUDGET,
      })
      budgets.set(app, budget)
    }
    return budget
  }
  return {
    onParse({ setParseFn }) {
      setParseFn((source, options) => parse(source, { ...options, maxTokens: limits.maxTokens }))
    },
    onValidate({ addValidationRule }) {
      addValidationRule(rule)
    },
    async onExecute({ args, setResultAndStopExecution }) {
      const errors = await refusalByCost(args, budgetOf)
      if (errors) setResultAndStopExecution({ errors })
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const errors = await refusalByCost(args, budgetOf)
      if (errors) setResultAndStopExecution({ errors })
    },
  }
}
