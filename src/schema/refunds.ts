import { refundLink } from '../checkout/link.ts'
import { getMerchant, setRefundFee } from '../core/access/merchants.ts'
import { assetById } from '../core/chains.ts'
import { invalidInput, invariantBroken } from '../core/errors.ts'
import { formatAmount } from '../core/money.ts'
import { getPayment, type PaymentRow } from '../core/payments/queries.ts'
import { paymentException, type refundableOf } from '../core/payments/refundable.ts'
import { acceptPayment, cancelPayment } from '../core/payments/resolution.ts'
import {
  cancelRefund,
  getRefund,
  listRefunds,
  refundAmountSent,
  refundPayment,
} from '../core/payouts/refunds.ts'
import { getWithdrawal } from '../core/payouts/withdrawals.ts'
import { type RefundRow, refundSources, refundStatuses } from '../db/schema/index.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { afterId, toConnection } from './connection.ts'
import { type GraphQLContext, requireAuth, requireScope } from './context.ts'
import { connectionCost, defaultPageSize, readCost, readListCost } from './cost.ts'
import { userErrors } from './errors.ts'
import { paymentRefundables } from './loaders.ts'
import { PaymentRef } from './payments.ts'
import { publishingChanges, WithdrawalRef } from './withdrawals.ts'

const RefundStatusEnum = builder.enumType('RefundStatus', {
  values: refundStatuses,
  description:
    'AWAITING_ADDRESS: its link waits for the buyer’s address; PENDING: its payout is screening, awaiting approval or queued; SENT: broadcast; CONFIRMED; FAILED: its payout failed or was rejected (the amount is refundable again); CANCELED by the merchant',
})
const RefundSourceEnum = builder.enumType('RefundSource', {
  values: refundSources,
  description:
    'BALANCE: the merchant’s balance (what the payment credited); UNCREDITED: the payment’s own funds that were never credited (underpaid, canceled, rejected)',
})
const RefundFeeEnum = builder.enumType('RefundFee', {
  values: ['MERCHANT', 'DEDUCTED'] as const,
  description:
    'Who bears a refund’s network fee: MERCHANT (the buyer receives the whole refund; the fee is paid like a withdrawal’s) or DEDUCTED (taken out of the refund, for refunds of a chain’s native asset; token refunds are sent whole)',
})
const PaymentExceptionEnum = builder.enumType('PaymentException', {
  values: ['UNDERPAID', 'OVERPAID', 'PAID_AFTER_CANCEL', 'PAID_AFTER_REFUND', 'REJECTED'] as const,
})
const PaymentResolutionEnum = builder.enumType('PaymentResolution', {
  values: ['ACCEPTED', 'REFUNDED'] as const,
})
const ResolveActionEnum = builder.enumType('ResolveAction', {
  values: ['ACCEPT', 'REFUND'] as const,
  description:
    'ACCEPT: what arrived is paid in full (completed and credited once confirmed); REFUND: its uncredited funds go back to the buyer',
})

export const RefundRef = builder.objectRef<RefundRow>('Refund').implement({
  description: 'Money returned to a payment’s buyer, paid by a withdrawal from the treasury.',
  fields: (t) => {
    const decimals = (r: RefundRow, ctx: GraphQLContext) =>
      assetById(ctx.app.chains, r.chain, r.asset).decimals
    return {
      id: t.exposeID('id'),
      status: t.field({ type: RefundStatusEnum, resolve: (r) => r.status }),
      payment: t.field({
        type: PaymentRef,
        complexity: readCost,
        resolve: async (r, _a, ctx) => {
          const p = await getPayment(ctx.app, r.merchantId, r.paymentId)
          if (!p) throw invariantBroken('REFUND_WITHOUT_PAYMENT', 'a refund’s payment is missing')
          return p
        },
      }),
      chain: t.exposeString('chain'),
      asset: t.field({
        type: AssetRef,
        resolve: (r, _a, ctx) => assetById(ctx.app.chains, r.chain, r.asset),
      }),
      amount: t.string({
        description: 'What the refund returns, a decimal string in whole units',
        resolve: (r, _a, ctx) => formatAmount(r.amount, decimals(r, ctx)),
      }),
      amountSent: t.string({
        nullable: true,
        complexity: readCost,
        description:
          'What the buyer receives (less the network fee when it is DEDUCTED), once its payout is built',
        resolve: async (r, _a, ctx) => {
          const sent = await refundAmountSent(ctx.app, r)
          return sent === null ? null : formatAmount(sent, decimals(r, ctx))
        },
      }),
      source: t.field({ type: RefundSourceEnum, resolve: (r) => r.source }),
      overpayment: t.exposeBoolean('overpayment', {
        description: 'It returns what was paid above the amount due',
      }),
      feePaidBy: t.string({
        description: 'MERCHANT or BUYER (the fee came out of the refund)',
        resolve: (r) => r.feePaidBy,
      }),
      to: t.string({
        nullable: true,
        description: 'The buyer’s address (null while the refund link waits for it)',
        resolve: (r) => r.toAddress,
      }),
      refundUrl: t.string({
        nullable: true,
        description: 'The page where the buyer enters their address (send it to them); usable once',
        resolve: (r, _a, ctx) => (r.status === 'AWAITING_ADDRESS' ? refundLink(ctx.app.env, r) : null),
      }),
      withdrawal: t.field({
        type: WithdrawalRef,
        nullable: true,
        complexity: readCost,
        description: 'The payout that pays it, once the address is known',
        resolve: async (r, _a, ctx) =>
          r.withdrawalId ? ((await getWithdrawal(ctx.app, r.merchantId, r.withdrawalId)) ?? null) : null,
      }),
      reason: t.string({ nullable: true, resolve: (r) => r.reason }),
      failureReason: t.string({ nullable: true, resolve: (r) => r.failureReason }),
      idempotencyKey: t.exposeString('idempotencyKey'),
      createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
    }
  },
})

type RefundableView = Awaited<ReturnType<typeof refundableOf>> & { payment: PaymentRow }

const RefundableRef = builder.objectRef<RefundableView>('Refundable').implement({
  description: 'What a payment may still return to its buyer, decimal strings in whole units of its asset',
  fields: (t) => {
    const amount = (pick: (r: RefundableView) => bigint, description: string) =>
      t.string({
        description,
        resolve: (r, _a, ctx) =>
          formatAmount(pick(r), assetById(ctx.app.chains, r.payment.chain, r.payment.asset).decimals),
      })
    return {
      uncredited: amount(
        (r) => r.uncredited,
        'Confirmed funds never credited (underpaid, canceled, rejected deposits), less refunds of them',
      ),
      credited: amount(
        (r) => r.credited,
        'What the payment credited the merchant, less refunds from the balance',
      ),
      overpaid: amount(
        (r) => r.overpaid,
        'Of the credit, what was paid above the amount due and not refunded',
      ),
    }
  },
})

builder.objectFields(PaymentRef, (t) => ({
  resolution: t.field({
    type: PaymentResolutionEnum,
    nullable: true,
    authScopes: { authenticated: true },
    description: 'How the merchant closed an exception (null: no decision)',
    resolve: (p) => p.resolution,
  }),
  refundable: t.field({
    type: RefundableRef,
    authScopes: { authenticated: true },
    complexity: readCost,
    resolve: async (p, _a, ctx) => ({ ...(await paymentRefundables(ctx).load(p)), payment: p }),
  }),
  exception: t.field({
    type: PaymentExceptionEnum,
    nullable: true,
    authScopes: { authenticated: true },
    complexity: readCost,
    description:
      'Why the payment needs the merchant’s decision (refundPayment, resolvePayment); null when it needs none',
    resolve: async (p, _a, ctx) => paymentException(p, await paymentRefundables(ctx).load(p)),
  }),
  refunds: t.field({
    type: [RefundRef],
    authScopes: { authenticated: true },
    complexity: readListCost,
    description: 'Its refunds, newest first (at most 100)',
    resolve: async (p, _a, ctx) =>
      (await listRefunds(ctx.app, p.merchantId, { first: 100, paymentId: p.id })).rows,
  }),
}))

builder.objectField(WithdrawalRef, 'refund', (t) =>
  t.field({
    type: RefundRef,
    nullable: true,
    complexity: readCost,
    description:
      'The refund this withdrawal pays (null for your own withdrawals): withdrawalUpdated and withdrawalsUpdated carry refunds live',
    resolve: async (w, _a, ctx) =>
      w.refundId ? ((await getRefund(ctx.app, w.merchantId, w.refundId)) ?? null) : null,
  }),
)

builder.queryField('refund', (t) =>
  t.field({
    type: RefundRef,
    nullable: true,
    description: "One of your refunds; null for an unknown id (or another merchant's)",
    authScopes: { scope: 'payments:read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireAuth(ctx)
      return (await getRefund(ctx.app, auth.merchantId, String(id))) ?? null
    },
  }),
)

builder.queryField('refunds', (t) =>
  t.connection({
    type: RefundRef,
    description: 'Your refunds, newest first',
    authScopes: { scope: 'payments:read' },
    args: { paymentId: t.arg.id() },
    complexity: connectionCost,
    resolve: async (_root, args, ctx) => {
      const auth = await requireAuth(ctx)
      const after = afterId(args, 'rf')
      const first = args.first ?? defaultPageSize
      const paymentId = args.paymentId == null ? null : String(args.paymentId)
      return toConnection(await listRefunds(ctx.app, auth.merchantId, { first, after, paymentId }), after)
    },
  }),
)

const RefundPaymentInput = builder.inputType('RefundPaymentInput', {
  fields: (t) => ({
    paymentId: t.id({ required: true }),
    amount: t.string({
      description:
        'Decimal string in whole units of the payment’s asset; omitted: all that is refundable from the source',
    }),
    overpayment: t.boolean({ description: 'Refund what was paid above the amount due (leave amount out)' }),
    to: t.string({
      description:
        'The buyer’s address on the payment’s chain; omitted: the refund gets a link (refundUrl) for the buyer',
    }),
    source: t.field({
      type: RefundSourceEnum,
      description: 'Default: UNCREDITED unless the payment is COMPLETED, then BALANCE',
    }),
    reason: t.string({ description: 'Why (at most 500 characters), kept in the audit log' }),
    idempotencyKey: t.string({
      required: true,
      description: 'Required: the same key and parameters return the same refund, never a second one',
    }),
  }),
})

const RefundPayload = builder
  .objectRef<{ refund: RefundRow; replayed: boolean }>('RefundPaymentPayload')
  .implement({
    fields: (t) => ({
      refund: t.field({ type: RefundRef, resolve: (r) => r.refund }),
      replayed: t.exposeBoolean('replayed'),
    }),
  })

/** Runs a refund or resolution, then tells live readers of the withdrawals and payments it moved. */
async function publishing<T extends { changes: Parameters<GraphQLContext['app']['bus']['publish']>[0] }>(
  ctx: GraphQLContext,
  run: () => Promise<T>,
): Promise<T> {
  const result = await publishingChanges(ctx, run)
  if (result.changes.length > 0) ctx.app.bus.publish(result.changes)
  return result
}

builder.mutationField('refundPayment', (t) =>
  t.field({
    type: RefundPayload,
    description:
      'Returns money to a payment’s buyer (needs withdrawals:write): from your balance or the payment’s uncredited funds, to an address or through a refund link. Refused: more than is refundable (AMOUNT_NOT_REFUNDABLE), nothing left (NOTHING_TO_REFUND), an address of another chain (INVALID_ADDRESS). Audited',
    errors: userErrors('RefundPaymentResult'),
    args: { input: t.arg({ type: RefundPaymentInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'withdrawals:write')
      return publishing(ctx, () =>
        refundPayment(
          ctx.app,
          auth.merchantId,
          { ...input, paymentId: String(input.paymentId) },
          { keyId: auth.keyId, requestId: ctx.requestId },
        ),
      )
    },
  }),
)

builder.mutationField('cancelRefund', (t) =>
  t.field({
    type: RefundRef,
    description:
      'Cancels a refund not yet picked for sending (an unused link, or a payout still queued or awaiting approval); what it held is refundable again (needs withdrawals:write). Audited',
    errors: userErrors('CancelRefundResult'),
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireScope(ctx, 'withdrawals:write')
      const { refund } = await publishing(ctx, async () => ({
        refund: await cancelRefund(ctx.app, auth.merchantId, String(id), {
          keyId: auth.keyId,
          requestId: ctx.requestId,
        }),
        changes: [],
      }))
      return refund
    },
  }),
)

builder.mutationField('cancelPayment', (t) =>
  t.field({
    type: PaymentRef,
    description:
      'Cancels a PENDING payment nothing was sent to (needs payments:write). Funds sent anyway make it an exception (PAID_AFTER_CANCEL) to refund or accept. Audited',
    errors: userErrors('CancelPaymentResult'),
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireScope(ctx, 'payments:write')
      const { payment } = await publishing(ctx, () =>
        cancelPayment(ctx.app, auth.merchantId, String(id), { keyId: auth.keyId, requestId: ctx.requestId }),
      )
      return payment
    },
  }),
)

const ResolvePaymentInput = builder.inputType('ResolvePaymentInput', {
  fields: (t) => ({
    paymentId: t.id({ required: true }),
    action: t.field({ type: ResolveActionEnum, required: true }),
    to: t.string({ description: 'REFUND: the buyer’s address; omitted: a refund link' }),
    reason: t.string({ description: 'REFUND: why (at most 500 characters)' }),
    idempotencyKey: t.string({ description: 'Required for REFUND (as for refundPayment)' }),
  }),
})

const ResolvePaymentPayload = builder
  .objectRef<{ payment: PaymentRow; refund: RefundRow | null }>('ResolvePaymentPayload')
  .implement({
    fields: (t) => ({
      payment: t.field({ type: PaymentRef, resolve: (r) => r.payment }),
      refund: t.field({ type: RefundRef, nullable: true, resolve: (r) => r.refund }),
    }),
  })

builder.mutationField('resolvePayment', (t) =>
  t.field({
    type: ResolvePaymentPayload,
    description:
      'Decides an exception: ACCEPT an underpaid, late, canceled-but-paid or rejected payment as paid (needs payments:write; credits what arrived), or REFUND its uncredited funds (needs withdrawals:write). Audited',
    errors: userErrors('ResolvePaymentResult'),
    args: { input: t.arg({ type: ResolvePaymentInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const paymentId = String(input.paymentId)
      const actor = (keyId: string) => ({ keyId, requestId: ctx.requestId })
      if (input.action === 'ACCEPT') {
        const auth = await requireScope(ctx, 'payments:write')
        const { payment } = await publishing(ctx, () =>
          acceptPayment(ctx.app, auth.merchantId, paymentId, actor(auth.keyId)),
        )
        return { payment, refund: null }
      }
      const auth = await requireScope(ctx, 'withdrawals:write')
      if (input.idempotencyKey == null)
        throw invalidInput('idempotencyKey', 'a REFUND needs an idempotencyKey')
      const { refund } = await publishing(ctx, () =>
        refundPayment(
          ctx.app,
          auth.merchantId,
          {
            paymentId,
            to: input.to,
            reason: input.reason,
            source: 'UNCREDITED',
            idempotencyKey: input.idempotencyKey as string,
          },
          actor(auth.keyId),
        ),
      )
      const payment = await getPayment(ctx.app, auth.merchantId, paymentId)
      if (!payment) throw invariantBroken('PAYMENT_VANISHED', 'a payment vanished while it was refunded')
      return { payment, refund }
    },
  }),
)

builder.queryField('refundFee', (t) =>
  t.field({
    type: RefundFeeEnum,
    description: 'Who bears your refunds’ network fee',
    authScopes: { scope: 'payments:read' },
    resolve: async (_root, _a, ctx) => {
      const auth = await requireAuth(ctx)
      return (await getMerchant(ctx.app, auth.merchantId))?.refundFee ?? 'MERCHANT'
    },
  }),
)

const RefundFeeSettingRef = builder
  .objectRef<{ refundFee: 'MERCHANT' | 'DEDUCTED' }>('RefundFeeSetting')
  .implement({
    fields: (t) => ({ refundFee: t.field({ type: RefundFeeEnum, resolve: (r) => r.refundFee }) }),
  })

builder.mutationField('setRefundFee', (t) =>
  t.field({
    type: RefundFeeSettingRef,
    description: 'Sets who bears the network fee of refunds created from now on (needs admin). Audited',
    errors: userErrors('SetRefundFeeResult'),
    args: { refundFee: t.arg({ type: RefundFeeEnum, required: true }) },
    resolve: async (_root, { refundFee }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      await setRefundFee(ctx.app, auth.merchantId, refundFee, { keyId: auth.keyId, requestId: ctx.requestId })
      return { refundFee }
    },
  }),
)
