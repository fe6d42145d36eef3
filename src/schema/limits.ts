import {
  type ASTVisitor,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  parse,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql'
import type { Plugin } from 'graphql-yoga'

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
        if (acc.depth > limits.maxDepth)
          context.reportError(
            new GraphQLError(`query is nested deeper than ${limits.maxDepth} levels`, {
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

/**
 * Refuses documents that are too large to parse cheaply or too deep/wide to execute cheaply.
 *
 * @example
 * createYoga({ schema, plugins: [useQueryLimits({ maxDepth: 10, maxFields: 500, maxTokens: 2000 })] })
 */
export function useQueryLimits(limits: QueryLimits): Plugin {
  const rule = limitsRule(limits)
  return {
    onParse({ setParseFn }) {
      setParseFn((source, options) => parse(source, { ...options, maxTokens: limits.maxTokens }))
    },
    onValidate({ addValidationRule }) {
      addValidationRule(rule)
    },
  }
}
