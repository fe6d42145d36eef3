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

type Walk = { depth: number; fields: number }

/** Walks a selection set, expanding fragments (each at most once per path, so cycles end). */
function measure(
  set: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  depth: number,
  seen: Set<string>,
  budget: QueryLimits,
  acc: Walk,
): void {
  for (const sel of set.selections) {
    if (acc.fields > budget.maxFields || acc.depth > budget.maxDepth) return
    if (sel.kind === Kind.FIELD) {
      acc.fields++
      acc.depth = Math.max(acc.depth, depth + 1)
      if (sel.selectionSet) measure(sel.selectionSet, fragments, depth + 1, seen, budget, acc)
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      measure(sel.selectionSet, fragments, depth, seen, budget, acc)
    } else {
      const name = sel.name.value
      const fragment = fragments.get(name)
      if (!fragment || seen.has(name)) continue
      measure(fragment.selectionSet, fragments, depth, new Set(seen).add(name), budget, acc)
    }
  }
}

function limitsRule(limits: QueryLimits) {
  return (context: ValidationContext): ASTVisitor => {
    const doc = context.getDocument()
    const fragments = new Map<string, FragmentDefinitionNode>()
    for (const def of doc.definitions)
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def)
    return {
      OperationDefinition(op) {
        const acc: Walk = { depth: 0, fields: 0 }
        measure(op.selectionSet, fragments, 0, new Set(), limits, acc)
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
