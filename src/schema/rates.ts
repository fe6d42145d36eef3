import { invalidInput } from '../core/errors.ts'
import type { BookRate } from '../core/pricing/book.ts'
import { parsePairKey } from '../core/pricing/rules.ts'
import { builder } from './builder.ts'
import { readListCost } from './cost.ts'

const RateSourceRef = builder
  .objectRef<{ provider: string; rate: string; at: string }>('RateSource')
  .implement({
    fields: (t) => ({
      provider: t.exposeString('provider'),
      rate: t.exposeString('rate'),
      at: t.field({ type: 'DateTime', resolve: (s) => new Date(s.at) }),
    }),
  })

const RateRef = builder.objectRef<BookRate & { fresh: boolean }>('Rate').implement({
  description: 'What one base costs in quote, as the gateway prices payments with it now',
  fields: (t) => ({
    pair: t.exposeString('pair', { description: 'BASE/QUOTE, e.g. BTC/USD' }),
    rate: t.exposeString('rate', { description: 'A plain decimal string, the spread taken off' }),
    method: t.exposeString('method', { description: 'fallback, median, pinned or derived' }),
    at: t.field({
      type: 'DateTime',
      description: 'The time of the oldest source it rests on',
      resolve: (r) => r.at,
    }),
    fresh: t.exposeBoolean('fresh', {
      description:
        'Within its maximum age: payments can be priced with it (else they are refused, RATE_UNAVAILABLE)',
    }),
    sources: t.field({ type: [RateSourceRef], resolve: (r) => r.sources }),
  }),
})

builder.queryField('rates', (t) =>
  t.field({
    type: [RateRef],
    description: 'The current rates of the pairs asked (BASE/QUOTE, e.g. BTC/USD), or of every pair with one',
    args: { pairs: t.arg.stringList({ description: 'At most 50 pairs' }) },
    complexity: readListCost,
    resolve: (_root, { pairs }, ctx) => {
      if (pairs && (pairs.length > 50 || pairs.some((p) => !parsePairKey(p))))
        throw invalidInput('pairs', 'pairs are at most 50 BASE/QUOTE keys such as BTC/USD')
      const all = ctx.app.rateBook?.all() ?? []
      return pairs ? all.filter((r) => pairs.includes(r.pair)) : all
    },
  }),
)
