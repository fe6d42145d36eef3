import { checkoutLink } from '../checkout/link.ts'
import { assetById } from '../core/chains.ts'
import { formatAmount } from '../core/money.ts'
import type { InvoiceRow } from '../core/payments/invoice-create.ts'
import { getInvoice, invoicePayments } from '../core/payments/invoice-method.ts'
import { owedInAsset, storedOwed } from '../core/payments/invoice-status.ts'
import { currencyDecimals } from '../core/payments/pricing.ts'
import { formatDecimal, type Rational } from '../core/pricing/decimal.ts'
import type { InvoiceMethodQuote } from '../db/schema/index.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { requireAuth } from './context.ts'
import { readListCost } from './cost.ts'
import { PaymentStatusEnum, PriceRef } from './payer-fields.ts'
import { PaymentRef } from './payments.ts'

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never

type Method = { quote: InvoiceMethodQuote; owed: Rational }

export const InvoiceMethodRef = builder.objectRef<Method>('InvoiceMethod').implement({
  description:
    'A way to pay an invoice: an accepted asset and what is still owed in it at the invoice’s locked rate. choosePaymentMethod turns it into a payment with its own address.',
  fields: (t) => ({
    chain: t.string({ resolve: (m) => m.quote.chain }),
    asset: t.field({
      type: AssetRef,
      resolve: (m, _a, ctx) => assetById(ctx.app.chains, m.quote.chain, m.quote.asset),
    }),
    amountDue: t.string({
      description:
        'What is still owed, in this asset at the rate, a decimal string in whole units (rounded up)',
      resolve: (m) => formatAmount(owedInAsset(m.owed, m.quote), m.quote.decimals),
    }),
    rate: t.string({
      description: 'What one whole unit of the asset costs in the price currency',
      resolve: (m) => m.quote.rate,
    }),
    rateSources: t.field({
      type: 'JSON',
      description: 'How the rate was made: the rule’s method and each source’s own rate and time',
      resolve: (m) => m.quote.rateSources,
    }),
    rateAt: t.field({ type: 'DateTime', resolve: (m) => new Date(m.quote.rateAt) }),
  }),
})

/**
 * The fields of an invoice its buyer may see (price, status, what arrived, the methods): all of `CheckoutInvoice`
 * and the part `Invoice` shares with it.
 */
function buyerFields(t: PothosSchemaTypes.ObjectFieldBuilder<Types, InvoiceRow>) {
  return {
    id: t.exposeID('id'),
    status: t.field({ type: PaymentStatusEnum, resolve: (i) => i.status }),
    price: t.field({
      type: PriceRef,
      resolve: (i) => ({ amount: i.priceAmount, currency: i.priceCurrency }),
    }),
    priceTolerance: t.string({
      description: 'Shortfall in the price currency still accepted as paid in full',
      resolve: (i) => i.priceTolerance,
    }),
    amountReceivedFiat: t.string({
      description:
        'What arrived through all methods, in the price currency, each part at its rate (rounded down)',
      resolve: (i) => i.amountReceivedFiat,
    }),
    amountConfirmedFiat: t.string({
      description: 'What of it is confirmed and allowed by screening (rounded down)',
      resolve: (i) => i.amountConfirmedFiat,
    }),
    amountRemainingFiat: t.string({
      description: 'What is still to pay, in the price currency (rounded up)',
      resolve: (i) => formatDecimal(storedOwed(i), currencyDecimals(i.priceCurrency), 'ceil'),
    }),
    methods: t.field({
      type: [InvoiceMethodRef],
      description: 'The accepted assets, each with what is still owed in it',
      resolve: (i) => i.methods.map((quote) => ({ quote, owed: storedOwed(i) })),
    }),
    rateLockedUntil: t.field({
      type: 'DateTime',
      description: 'Until when the methods’ rates hold; unpaid after it, they are quoted again',
      resolve: (i) => i.rateLockedUntil,
    }),
    expiresAt: t.field({ type: 'DateTime', resolve: (i) => i.expiresAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (i) => i.completedAt }),
  }
}

export const CheckoutInvoiceRef = builder.objectRef<InvoiceRow>('CheckoutInvoice').implement({
  description:
    'An invoice as its buyer sees it (what its client secret opens). The merchant-only fields are on Invoice.',
  fields: (t) => buyerFields(t),
})

export const InvoiceRef = builder.objectRef<InvoiceRow>('Invoice').implement({
  description:
    'A price in a fiat currency the buyer may pay in any accepted asset. Each asset the buyer chooses becomes a payment of the invoice; the invoice adds what arrived through all of them, in the price currency.',
  fields: (t) => ({
    ...buyerFields(t),
    payments: t.field({
      type: [PaymentRef],
      description: 'The methods the buyer chose, each a payment with its own address, oldest first',
      complexity: readListCost,
      resolve: (i, _a, ctx) => invoicePayments(ctx.app, i.id),
    }),
    orderId: t.string({ nullable: true, resolve: (i) => i.orderId }),
    metadata: t.field({ type: 'JSON', nullable: true, resolve: (i) => i.metadata ?? null }),
    clientSecret: t.exposeString('clientSecret', {
      description:
        'Give this to a checkout frontend: it can read this invoice, choose its method, and nothing else',
    }),
    checkoutUrl: t.string({
      description: 'The hosted checkout page for this invoice (the buyer picks an asset there)',
      resolve: (i, _a, ctx) => checkoutLink(ctx.app.env, i),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (i) => i.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (i) => i.updatedAt }),
  }),
})

builder.objectField(PaymentRef, 'invoice', (t) =>
  t.field({
    type: InvoiceRef,
    nullable: true,
    description: 'The invoice this payment is a method of (null for a payment of its own)',
    resolve: async (p, _a, ctx) =>
      p.invoiceId ? ((await getInvoice(ctx.app, { merchantId: p.merchantId }, p.invoiceId)) ?? null) : null,
  }),
)

builder.queryField('invoice', (t) =>
  t.field({
    type: InvoiceRef,
    nullable: true,
    description: "One of your invoices; null for an unknown id (or another merchant's)",
    authScopes: { scope: 'payments:read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireAuth(ctx)
      return (await getInvoice(ctx.app, { merchantId: auth.merchantId }, String(id))) ?? null
    },
  }),
)

builder.queryField('checkoutInvoice', (t) =>
  t.field({
    type: CheckoutInvoiceRef,
    nullable: true,
    description:
      'An invoice for a checkout frontend holding its clientSecret (no API key needed); null when the id or the secret does not match',
    args: { id: t.arg.id({ required: true }), clientSecret: t.arg.string({ required: true }) },
    resolve: async (_root, { id, clientSecret }, ctx) => {
      if (clientSecret.length === 0 || clientSecret.length > 200) return null
      return (await getInvoice(ctx.app, { clientSecret }, String(id))) ?? null
    },
  }),
)
