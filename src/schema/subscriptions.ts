import { TollgateError } from '../core/errors.ts'
import { getPayment, type PaymentRow } from '../core/payments/queries.ts'
import { getPaymentForCheckout } from '../core/payments/views.ts'
import { builder } from './builder.ts'
import { requireAuth } from './context.ts'
import { PaymentRef } from './payments.ts'

builder.subscriptionType({})

/**
 * Yields the current state first, then the payment as it is after each signal. A signal only says "look
 * again"; the state always comes from the database, so a lost or duplicated signal cannot show a wrong status.
 */
async function* follow(
  signals: AsyncIterable<unknown>,
  load: () => Promise<PaymentRow | undefined>,
): AsyncGenerator<PaymentRow> {
  const iterator = signals[Symbol.asyncIterator]()
  // listen before the first read, so a change committed in between is not missed
  let pending = iterator.next()
  try {
    let last = await load()
    if (!last) return
    yield last
    for (;;) {
      const next = await pending
      if (next.done) return
      pending = iterator.next()
      const current = await load()
      if (!current) return
      if (current.eventSeq === last.eventSeq && current.updatedAt.getTime() === last.updatedAt.getTime())
        continue
      last = current
      yield current
    }
  } finally {
    await iterator.return?.()
  }
}

builder.subscriptionField('paymentUpdated', (t) =>
  t.field({
    type: PaymentRef,
    description:
      'One payment, for a checkout page holding its clientSecret: the current state, then every change',
    args: { id: t.arg.id({ required: true }), clientSecret: t.arg.string({ required: true }) },
    subscribe: async (_root, { id, clientSecret }, ctx) => {
      const paymentId = String(id)
      if (!(await getPaymentForCheckout(ctx.app, paymentId, clientSecret)))
        throw new TollgateError('NOT_FOUND', 'payment not found')
      return follow(ctx.app.bus.payment(paymentId), () =>
        getPaymentForCheckout(ctx.app, paymentId, clientSecret),
      )
    },
    resolve: (payment) => payment,
  }),
)

builder.subscriptionField('paymentsUpdated', (t) =>
  t.field({
    type: PaymentRef,
    description: "Every change of any of the API key's merchant's payments",
    authScopes: { scope: 'payments:read' },
    subscribe: async (_root, _args, ctx) => {
      const auth = await requireAuth(ctx)
      const signals = ctx.app.bus.merchant(auth.merchantId)
      return (async function* () {
        for await (const signal of signals) {
          const payment = await getPayment(
            ctx.app,
            auth.merchantId,
            (signal as { paymentId: string }).paymentId,
          )
          if (payment) yield payment
        }
      })()
    },
    resolve: (payment) => payment,
  }),
)
