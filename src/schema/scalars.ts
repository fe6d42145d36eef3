import { GraphQLError, Kind } from 'graphql'
import { builder } from './builder.ts'

builder.scalarType('DateTime', {
  description: 'An ISO-8601 instant in UTC, e.g. 2026-01-31T12:00:00.000Z',
  serialize: (value) => (value as Date).toISOString(),
  parseValue: (value) => {
    const date = typeof value === 'string' ? new Date(value) : undefined
    if (!date || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 string')
    return date
  },
})

builder.scalarType('JSON', {
  description: 'Arbitrary JSON. Where an object is expected, the field says so.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: function parse(ast): unknown {
    switch (ast.kind) {
      case Kind.STRING:
      case Kind.BOOLEAN:
        return ast.value
      case Kind.INT:
      case Kind.FLOAT:
        return Number(ast.value)
      case Kind.NULL:
        return null
      case Kind.LIST:
        return ast.values.map((v) => parse(v))
      case Kind.OBJECT:
        return Object.fromEntries(ast.fields.map((f) => [f.name.value, parse(f.value)]))
      default:
        throw new GraphQLError(
          'variables are not supported inside JSON literals; pass the whole value as a variable',
        )
    }
  },
})
