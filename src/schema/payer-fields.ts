import { assetById } from '../core/chains.ts'
import { formatAmount } from '../core/money.ts'
import { fiatValue, receivedFiat } from '../core/payments/pricing.ts'
import type { PaymentRow } from '../core/payments/queries.ts'
import {
  amountPending,
  amountRemaining,
  arrivedLate,
  droppedDeposit,
  overpaidAmount,
  paymentConfirmations,
  paymentUriOf,
} from '../core/payments/views.ts'
import { paymentStatuses } from '../db/schema/index.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { readCost } from './cost.ts'
import { paymentTransfers } from './loaders.ts'

export const PaymentStatusEnum = builder.enumType('PaymentStatus', { values: paymentStatuses })

export const PriceRef = builder.objectRef<{ amount: string; currency: string }>('Price').implement({
  description: 'An amount in a fiat currency',
  fields: (t) => ({ amount: t.exposeString('amount'), currency: t.exposeString('currency') }),
})

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never

/**
 * The fields of a payment its payer may see (status, amounts, address, expiry): all of `CheckoutPayment`, and
 * the part `Payment` shares with it, defined once so the two cannot drift apart.
 *
 * @example
 * builder.objectRef<PaymentRow>('CheckoutPayment').implement({ fields: (t) => payerFields(t) })
 */
export function payerFields(t: PothosSchemaTypes.ObjectFieldBuilder<Types, PaymentRow>) {
  const amount = (pick: (p: PaymentRow) => bigint, description: string) =>
    t.string({
      description: `${description}, a decimal string in whole units of the asset`,
      resolve: (p, _args, ctx) => formatAmount(pick(p), assetById(ctx.app.chains, p.chain, p.asset).decimals),
    })
  const fiat = (pick: (p: PaymentRow) => bigint, description: string) =>
    t.string({
      nullable: true,
      description: `${description}, in the price currency at the payment's rate (rounded down; null when priced in the asset)`,
      resolve: (p, _args, ctx) => fiatValue(p, pick(p), assetById(ctx.app.chains, p.chain, p.asset).decimals),
    })
  return {
    id: t.exposeID('id'),
    status: t.field({ type: PaymentStatusEnum, resolve: (p) => p.status }),
    chain: t.exposeString('chain'),
    asset: t.field({
      type: AssetRef,
      resolve: (p, _a, ctx) => assetById(ctx.app.chains, p.chain, p.asset),
    }),
    amountDue: amount((p) => p.amountDue, 'Amount requested'),
    amountReceived: amount((p) => p.amountReceived, 'Sum of the deposits seen in blocks'),
    droppedDeposit: t.string({
      nullable: true,
      description:
        'Why the latest deposit the mempool showed left it unmined: replaced (an RBF bump), double_spent (its inputs paid elsewhere) or dropped; null when none did',
      complexity: readCost,
      resolve: async (p, _a, ctx) => droppedDeposit(await paymentTransfers(ctx).load(p)),
    }),
    amountPending: t.string({
      description:
        'Sum of the deposits the node’s mempool shows, broadcast but not in a block yet (they move the status, not amountReceived; never credited before their confirmations unless none are required), a decimal string in whole units of the asset',
      complexity: readCost,
      resolve: async (p, _a, ctx) =>
        formatAmount(
          amountPending(await paymentTransfers(ctx).load(p)),
          assetById(ctx.app.chains, p.chain, p.asset).decimals,
        ),
    }),
    amountRemaining: amount(amountRemaining, 'What is still to pay'),
    amountConfirmed: amount((p) => p.amountConfirmed, 'Sum of the deposits at the required depth'),
    overpaidAmount: amount(overpaidAmount, 'What arrived beyond the amount due'),
    confirmations: t.int({
      description: 'Depth of the least-confirmed deposit (0 before any), capped at confirmationsRequired',
      complexity: readCost,
      resolve: async (p, _a, ctx) =>
        paymentConfirmations(await paymentTransfers(ctx).load(p), p.confirmationsRequired),
    }),
    confirmationsRequired: t.exposeInt('confirmationsRequired'),
    late: t.boolean({
      description: 'Some funds arrived after the deadline (they are credited all the same)',
      complexity: readCost,
      resolve: async (p, _a, ctx) => arrivedLate(await paymentTransfers(ctx).load(p)),
    }),
    address: t.exposeString('address', { description: 'The deposit address, used by this payment only' }),
    paymentUri: t.string({
      description:
        'Wallet URI for the remaining amount (EIP-681 on EVM chains, BIP21 on Bitcoin, tron: on Tron)',
      resolve: (p, _a, ctx) => paymentUriOf(ctx.app.chains, p),
    }),
    price: t.field({
      type: PriceRef,
      nullable: true,
      description: 'The price in a currency, for a payment priced in one (null when priced in the asset)',
      resolve: (p) =>
        p.priceAmount === null || p.priceCurrency === null
          ? null
          : { amount: p.priceAmount, currency: p.priceCurrency },
    }),
    rate: t.string({
      nullable: true,
      description:
        'The rate the amount due was quoted at: what one whole unit of the asset costs in the price currency',
      resolve: (p) => p.rate,
    }),
    rateSources: t.field({
      type: 'JSON',
      nullable: true,
      description:
        'How the rate was made: the rule’s method (fallback, median, pinned, derived) and each source’s own rate and time',
      resolve: (p) => p.rateSources ?? null,
    }),
    rateLockedUntil: t.field({
      type: 'DateTime',
      nullable: true,
      description:
        'Until when the quoted amount holds; unpaid after it, the amount is quoted again at the rate then',
      resolve: (p) => p.rateLockedUntil,
    }),
    amountReceivedFiat: t.string({
      nullable: true,
      description:
        'Sum of the deposits seen, in the price currency: each part at the rate it arrived under (rounded down; null when priced in the asset)',
      resolve: (p, _args, ctx) => receivedFiat(p, assetById(ctx.app.chains, p.chain, p.asset).decimals),
    }),
    amountRemainingFiat: fiat(amountRemaining, 'What is still to pay'),
    overpaidFiat: fiat(overpaidAmount, 'What arrived beyond the amount due'),
    expiresAt: t.field({ type: 'DateTime', resolve: (p) => p.expiresAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (p) => p.updatedAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.completedAt }),
  }
}
