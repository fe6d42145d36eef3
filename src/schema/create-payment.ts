import { createErrorProxy } from '@pothos/plugin-errors'
import { checkoutLink } from '../checkout/link.ts'
import { invalidInput, TollgateError } from '../core/errors.ts'
import { createPayment } from '../core/payments/create.ts'
import { createInvoice, type InvoiceRow } from '../core/payments/invoice-create.ts'
import { chooseInvoiceMethod } from '../core/payments/invoice-method.ts'
import type { PaymentRow } from '../core/payments/queries.ts'
import { builder } from './builder.ts'
import { CheckoutPaymentRef } from './checkout-payment.ts'
import { requireScope } from './context.ts'
import { UserErrorRef, userErrors } from './errors.ts'
import { InvoiceRef } from './invoices.ts'
import { PaymentRef } from './payments.ts'

const PriceInput = builder.inputType('PriceInput', {
  fields: (t) => ({
    amount: t.string({
      required: true,
      description: 'Decimal string, at most the currency’s minor units, e.g. "25.00"',
    }),
    currency: t.string({ required: true, description: 'ISO 4217 code, e.g. USD' }),
  }),
})

const AcceptedAssetInput = builder.inputType('AcceptedAssetInput', {
  fields: (t) => ({
    chain: t.string({ required: true, description: 'A chain name from `chains`' }),
    asset: t.string({ required: true, description: 'Asset symbol (e.g. USDT) or CAIP-19 id' }),
  }),
})

const CreatePaymentInput = builder.inputType('CreatePaymentInput', {
  fields: (t) => ({
    chain: t.string({
      description: 'A chain name from `chains` (leave chain and asset out, with a price, for an invoice)',
    }),
    asset: t.string({ description: 'Asset symbol (e.g. USDC) or CAIP-19 id' }),
    amount: t.string({
      description: 'Decimal string in whole units of the asset, e.g. "12.5" (or give price instead)',
    }),
    price: t.field({
      type: PriceInput,
      description:
        'The amount in a currency (e.g. 25.00 USD), quoted in the asset at the current rate and locked. Without chain and asset: an invoice the buyer pays in any accepted asset',
    }),
    accept: t.field({
      type: [AcceptedAssetInput],
      description:
        'For an invoice: the assets the buyer may pay in (default: every configured asset with a fresh rate on a ready chain)',
    }),
    priceTolerance: t.string({
      description:
        'With price: a shortfall in the price currency still accepted as paid in full, e.g. "0.50"',
    }),
    expiresIn: t.int({ description: 'Seconds until the payment expires' }),
    orderId: t.string({ description: 'Your reference, up to 128 printable ASCII characters' }),
    metadata: t.field({ type: 'JSON', description: 'A JSON object of up to 4 KiB, returned as given' }),
    idempotencyKey: t.string({
      description: 'Retry-safe key: the same key and parameters return the same payment',
    }),
  }),
})

type PaymentCreated = { kind: 'payment'; payment: PaymentRow; replayed: boolean }
type InvoiceCreated = { kind: 'invoice'; invoice: InvoiceRow; replayed: boolean }

const CreatePaymentPayload = builder.objectRef<PaymentCreated>('CreatePaymentPayload').implement({
  fields: (t) => ({
    payment: t.field({ type: PaymentRef, resolve: (r) => r.payment }),
    replayed: t.exposeBoolean('replayed', {
      description: 'True when an earlier call with the same idempotency key created this payment',
    }),
  }),
})

const CreateInvoicePayload = builder.objectRef<InvoiceCreated>('CreateInvoicePayload').implement({
  description: 'What createPayment answers for a price without chain and asset: an invoice',
  fields: (t) => ({
    invoice: t.field({ type: InvoiceRef, resolve: (r) => r.invoice }),
    replayed: t.exposeBoolean('replayed', {
      description: 'True when an earlier call with the same idempotency key created this invoice',
    }),
  }),
})

const CreatePaymentResult = builder.unionType('CreatePaymentResult', {
  types: [CreatePaymentPayload, CreateInvoicePayload, UserErrorRef],
  // the error arrives wrapped (see below): not an instance of its class while wrapped, and without `replayed`
  resolveType: (r) =>
    !('replayed' in r) ? UserErrorRef : r.kind === 'invoice' ? CreateInvoicePayload : CreatePaymentPayload,
})

builder.mutationField('createPayment', (t) =>
  t.field({
    type: CreatePaymentResult,
    description:
      'Needs the payments:write scope. With chain and asset: a payment in that asset. With a price and neither: an invoice (CreateInvoicePayload) the buyer pays in any accepted asset',
    args: { input: t.arg({ type: CreatePaymentInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'payments:write')
      try {
        const { chain, asset, accept, ...rest } = input
        if (chain == null && asset == null && input.price != null) {
          if (input.amount != null) throw invalidInput('amount', 'an invoice takes a price, not an amount')
          const created = await createInvoice(ctx.app, auth.merchantId, {
            ...rest,
            price: input.price,
            accept,
          })
          return { kind: 'invoice' as const, ...created }
        }
        if (accept != null)
          throw invalidInput('accept', 'accept goes with an invoice (a price without chain and asset)')
        if (chain == null)
          throw invalidInput('chain', 'chain is required (or give a price alone for an invoice)')
        if (asset == null)
          throw invalidInput('asset', 'asset is required (or give a price alone for an invoice)')
        return {
          kind: 'payment' as const,
          ...(await createPayment(ctx.app, auth.merchantId, { ...rest, chain, asset })),
        }
      } catch (err) {
        // a returned error would be raised by graphql-js: wrapped as the errors plugin wraps its own results
        if (err instanceof TollgateError)
          return createErrorProxy(err, UserErrorRef, { wrapped: true }) as unknown as TollgateError
        throw err
      }
    },
  }),
)

const ChoosePaymentMethodInput = builder.inputType('ChoosePaymentMethodInput', {
  fields: (t) => ({
    invoiceId: t.id({ required: true }),
    chain: t.string({ required: true, description: 'A chain the invoice accepts' }),
    asset: t.string({ required: true, description: 'An asset the invoice accepts, by symbol or CAIP-19 id' }),
    clientSecret: t.string({
      description:
        'The invoice’s client secret (a checkout frontend); without it, an API key with payments:write',
    }),
  }),
})

const ChosenMethod = builder
  .objectRef<{ payment: PaymentRow; checkoutUrl: string }>('ChosenPaymentMethod')
  .implement({
    description: 'The payment a chosen method became: its address, amount and rate',
    fields: (t) => ({
      payment: t.field({ type: CheckoutPaymentRef, resolve: (r) => r.payment }),
      clientSecret: t.string({
        description: 'The payment’s own client secret (for paymentUpdated)',
        resolve: (r) => r.payment.clientSecret,
      }),
      checkoutUrl: t.exposeString('checkoutUrl', { description: 'The hosted checkout page of this payment' }),
    }),
  })

builder.mutationField('choosePaymentMethod', (t) =>
  t.field({
    type: ChosenMethod,
    description:
      'The buyer picks how to pay an invoice: the asset becomes a payment of the invoice with its own address, for what is still owed at the locked rate. Choosing it again answers the same payment, quoted for what is left. Takes the invoice’s client secret, or an API key with payments:write',
    errors: userErrors('ChoosePaymentMethodResult'),
    args: { input: t.arg({ type: ChoosePaymentMethodInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const access =
        input.clientSecret != null
          ? { clientSecret: input.clientSecret.slice(0, 300) }
          : { merchantId: (await requireScope(ctx, 'payments:write')).merchantId }
      const { payment, changes } = await chooseInvoiceMethod(ctx.app, access, {
        invoiceId: String(input.invoiceId),
        chain: input.chain,
        asset: input.asset,
      })
      if (changes.length > 0) ctx.app.bus.publish(changes)
      return { payment, checkoutUrl: checkoutLink(ctx.app.env, payment) }
    },
  }),
)
