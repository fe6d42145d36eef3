import { describe, expect, test } from 'bun:test'
import { parse } from 'graphql'
import { defaultPageSize, operationCost } from './cost.ts'
import { schema } from './index.ts'

// The cost model pinned by examples: what a document costs is part of the API's contract (clients size their
// pages by it), so a change to these numbers should be a decision, not an accident.

const cost = (query: string, variables: Record<string, unknown> = {}, operationName?: string) =>
  operationCost({ schema, document: parse(query), variables, operationName, context: {} })

describe('operationCost', () => {
  test('default: a connection costs its page query (2) plus first × what each item selects (edges 1, node 1, each field 1)', () => {
    expect(cost('{ payments(first: 100) { edges { node { id status } } } }')).toEqual({ cost: 2 + 100 * 4 })
  })

  test('default: without first, a connection is priced at the default page', () => {
    expect(cost('{ payments { edges { node { id } } } }')).toEqual({ cost: 2 + defaultPageSize * 3 })
  })

  test('default: pageInfo and cursors beside the page cost what their fields cost, pageInfo nothing', () => {
    expect(cost('{ payments(first: 10) { pageInfo { hasNextPage endCursor } } }')).toEqual({ cost: 2 })
    expect(cost('{ payments(first: 10) { edges { cursor } } }')).toEqual({ cost: 2 + 10 * 2 })
  })

  test('default: a field that reads per payment costs 2; a list read per payment 2 + 10 × its selection', () => {
    expect(cost('{ payment(id: "p") { confirmations late } }')).toEqual({ cost: 1 + 2 + 2 })
    expect(cost('{ payment(id: "p") { transfers { txHash amount } events { seq } } }')).toEqual({
      cost: 1 + (2 + 10 * 2) + (2 + 10 * 1),
    })
  })

  test('default: aliases each count, and a fragment costs what it selects wherever it is spread', () => {
    const page = 'payments(first: 10) { edges { node { id } } }'
    expect(cost(`{ a: ${page} b: ${page} }`)).toEqual({ cost: 2 * (2 + 10 * 3) })
    expect(cost(`{ ...Q ...Q } fragment Q on Query { ${page} }`)).toEqual({ cost: 2 * (2 + 10 * 3) })
  })

  test('default: first from a variable or its default is priced at its value', () => {
    const query = 'query ($n: Int = 50) { payments(first: $n) { edges { node { id } } } }'
    expect(cost(query)).toEqual({ cost: 2 + 50 * 3 })
    expect(cost(query, { n: 7 })).toEqual({ cost: 2 + 7 * 3 })
  })

  test('behavior: a first below 1 is priced as one item (the resolver refuses it before reading)', () => {
    expect(cost('{ payments(first: -5) { edges { node { id } } } }')).toEqual({ cost: 2 + 3 })
  })

  test('behavior: only the operation asked for is priced; without a name, the costliest', () => {
    const doc = 'query Small { me { id } } query Big { payments(first: 100) { edges { node { id } } } }'
    expect(cost(doc, {}, 'Small')).toEqual({ cost: 2 })
    expect(cost(doc)).toEqual({ cost: 2 + 100 * 3 })
  })

  test('error: variables that do not fit give the errors that say why, not a price', () => {
    const price = cost('query ($n: Int) { payments(first: $n) { edges { node { id } } } }', { n: 'ten' })
    expect('errors' in price && price.errors[0]?.message).toContain('$n')
  })
})
