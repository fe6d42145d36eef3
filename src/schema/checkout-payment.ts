import type { PaymentRow } from '../core/payments/queries.ts'
import { builder } from './builder.ts'
import { payerFields } from './payer-fields.ts'

/**
 * A payment as its payer may see it: what a checkout's client secret opens, whoever holds it (with or without an
 * API key, anyone's). It has no field of the merchant's own (order id, metadata, the secret itself, the status
 * history, transfers): those are on `Payment`, which only the owner's key reaches.
 */
export const CheckoutPaymentRef = builder.objectRef<PaymentRow>('CheckoutPayment').implement({
  description:
    'A payment as its payer sees it (what a client secret opens): status, amounts, address, expiry. The merchant-only fields are on Payment.',
  fields: (t) => payerFields(t),
})
