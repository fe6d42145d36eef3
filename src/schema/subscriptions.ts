import { checkCustomerId } from '../core/deposits/addresses.ts'
import { type DepositView, depositViews, findCustomer } from '../core/deposits/queries.ts'
import { notFound } from '../core/errors.ts'
import { getPayment, type PaymentRow } from '../core/payments/queries.ts'
import { getPaymentForCheckout } from '../core/payments/views.ts'
import type { WithdrawalRow } from '../core/payouts/withdrawal-transitions.ts'
import { getWithdrawal } from '../core/payouts/withdrawals.ts'
import type { DepositSignal, PaymentSignal, WithdrawalSignal } from '../pubsub.ts'
import { builder } from './builder.ts'
import { CheckoutPaymentRef } from './checkout-payment.ts'
import { type GraphQLContext, requireSubscriptionScope } from './context.ts'
import { DepositRef } from './deposits.ts'
import { keyGuard, takeSubscriptionSlot } from './live-auth.ts'
import { liveStream, liveValue } from './live-stream.ts'
import { PaymentRef } from './payments.ts'
import { WithdrawalRef } from './withdrawals.ts'

builder.subscriptionType({})

// A signal only says "look again": what a subscriber is sent is always read from the database, so a lost or
// duplicated signal cannot show a wrong status.

/**
 * A stream of every change of the key's merchant's rows of one kind (payments, withdrawals): `payments:read`, a
 * subscription slot, the key watched (revoked or expired: UNAUTHENTICATED), nothing before the first signal, then
 * each signalled row as `read` finds it.
 */
async function merchantChanges<T>(
  ctx: GraphQLContext,
  field: string,
  topic: (merchantId: string) => AsyncIterable<unknown>,
  read: (merchantId: string, signal: unknown) => Promise<T | null | undefined>,
) {
  const auth = await requireSubscriptionScope(ctx, 'payments:read', field)
  const release = takeSubscriptionSlot(ctx)
  const guard = keyGuard(ctx, auth, 'payments:read')
  return liveStream<T>({
    signals: topic(auth.merchantId),
    release,
    recheck: guard.recheck,
    watch: guard.watch,
    // nothing to send before the first change
    read: async (signal) => (signal === undefined ? undefined : await read(auth.merchantId, signal)),
  })
}

builder.subscriptionField('paymentUpdated', (t) =>
  t.field({
    type: CheckoutPaymentRef,
    description:
      'One payment as its payer sees it, for a checkout page holding its clientSecret: the current state, then every change. The secret opens the checkout fields only, whoever asks; the merchant-only fields come with paymentsUpdated or the payment query.',
    args: { id: t.arg.id({ required: true }), clientSecret: t.arg.string({ required: true }) },
    subscribe: async (_root, { id, clientSecret }, ctx) => {
      const paymentId = String(id)
      if (clientSecret.length === 0 || clientSecret.length > 200 || paymentId.length > 100)
        throw notFound('payment')
      if (!(await getPaymentForCheckout(ctx.app, paymentId, clientSecret))) throw notFound('payment')
      const release = takeSubscriptionSlot(ctx)
      let last: PaymentRow | undefined
      return liveStream<PaymentRow>({
        signals: ctx.app.bus.payment(paymentId),
        release,
        read: async () => {
          const current = await getPaymentForCheckout(ctx.app, paymentId, clientSecret)
          if (!current) return null
          if (
            last &&
            current.eventSeq === last.eventSeq &&
            current.updatedAt.getTime() === last.updatedAt.getTime()
          )
            return undefined
          last = current
          return current
        },
      })
    },
    resolve: liveValue,
  }),
)

builder.subscriptionField('paymentsUpdated', (t) =>
  t.field({
    type: PaymentRef,
    description:
      "Every change of any of the API key's merchant's payments (needs payments:read). The stream ends, with UNAUTHENTICATED, as soon as the key is revoked or expires.",
    subscribe: (_root, _args, ctx) =>
      merchantChanges<PaymentRow>(ctx, 'paymentsUpdated', ctx.app.bus.merchant, (merchantId, signal) =>
        getPayment(ctx.app, merchantId, (signal as PaymentSignal).paymentId),
      ),
    resolve: liveValue,
  }),
)

builder.subscriptionField('withdrawalUpdated', (t) =>
  t.field({
    type: WithdrawalRef,
    description:
      "One of the API key's merchant's withdrawals (needs payments:read, as the withdrawal query): the current state, then the state after each change (steps made in one payout pass arrive as the latest; its events hold every step). Another merchant's id is NOT_FOUND. The stream ends, with UNAUTHENTICATED, as soon as the key is revoked or expires.",
    args: { id: t.arg.id({ required: true }) },
    subscribe: async (_root, { id }, ctx) => {
      const withdrawalId = String(id)
      const auth = await requireSubscriptionScope(ctx, 'payments:read', 'withdrawalUpdated')
      if (withdrawalId.length > 100 || !(await getWithdrawal(ctx.app, auth.merchantId, withdrawalId)))
        throw notFound('withdrawal')
      const release = takeSubscriptionSlot(ctx)
      const guard = keyGuard(ctx, auth, 'payments:read')
      let last: WithdrawalRow | undefined
      return liveStream<WithdrawalRow>({
        signals: ctx.app.bus.withdrawal(withdrawalId),
        release,
        recheck: guard.recheck,
        watch: guard.watch,
        read: async () => {
          const current = await getWithdrawal(ctx.app, auth.merchantId, withdrawalId)
          if (!current) return null
          // every change signalled writes an event: a signal repeated (or of a change rolled back) sends nothing
          if (last && current.eventSeq === last.eventSeq) return undefined
          last = current
          return current
        },
      })
    },
    resolve: liveValue,
  }),
)

builder.subscriptionField('withdrawalsUpdated', (t) =>
  t.field({
    type: WithdrawalRef,
    description:
      "Every change of any of the API key's merchant's withdrawals (needs payments:read, as the withdrawals query), as the withdrawal's state after it (steps made in one payout pass arrive as the latest; its events hold every step). The stream ends, with UNAUTHENTICATED, as soon as the key is revoked or expires.",
    subscribe: (_root, _args, ctx) =>
      merchantChanges<WithdrawalRow>(
        ctx,
        'withdrawalsUpdated',
        ctx.app.bus.merchantWithdrawals,
        (merchantId, signal) => getWithdrawal(ctx.app, merchantId, (signal as WithdrawalSignal).withdrawalId),
      ),
    resolve: liveValue,
  }),
)

builder.subscriptionField('depositsUpdated', (t) =>
  t.field({
    type: DepositRef,
    description:
      "Every change of the API key's merchant's customer deposits (needs payments:read, as the deposits query), or of one customer's (your own id), as the deposit after it. The stream ends, with UNAUTHENTICATED, as soon as the key is revoked or expires.",
    args: { customerId: t.arg.string() },
    subscribe: async (_root, { customerId }, ctx) => {
      await requireSubscriptionScope(ctx, 'payments:read', 'depositsUpdated')
      const externalId = customerId == null ? undefined : checkCustomerId(customerId)
      // the customer may not exist yet when the stream starts: looked up until it does
      let customerOf: string | undefined
      return merchantChanges<DepositView>(
        ctx,
        'depositsUpdated',
        ctx.app.bus.merchantDeposits,
        async (merchantId, signal) => {
          const { depositId, customerId: internalId } = signal as DepositSignal
          if (externalId !== undefined) {
            customerOf ??= (await findCustomer(ctx.app, merchantId, externalId))?.id
            if (internalId !== customerOf) return undefined
          }
          const [view] = await depositViews(ctx.app, [depositId])
          return view?.merchantId === merchantId ? view : undefined
        },
      )
    },
    resolve: liveValue,
  }),
)
