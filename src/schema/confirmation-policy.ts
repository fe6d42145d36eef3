import { formatAmount } from '../core/money.ts'
import {
  type ConfirmationPolicyView,
  confirmationPolicies,
  setConfirmationChoice,
} from '../core/payments/confirmation-policy.ts'
import { exactDecimal, rational } from '../core/pricing/decimal.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { requireAuth, requireScope } from './context.ts'
import { userErrors } from './errors.ts'

type TierView = { below: string; confirmations: number }

const ConfirmationTierRef = builder.objectRef<TierView>('ConfirmationTier').implement({
  description: 'One step of a confirmation ladder: an amount below `below` needs `confirmations`',
  fields: (t) => ({
    below: t.exposeString('below', {
      description: 'Exclusive upper amount of the step, in the asset (or in the ladder’s currency)',
    }),
    confirmations: t.exposeInt('confirmations'),
  }),
})

const ConfirmationBoundsRef = builder
  .objectRef<{ min: number; max: number }>('ConfirmationBounds')
  .implement({
    description: 'The confirmations a merchant’s own choice may ask, inclusive (set by the operator)',
    fields: (t) => ({ min: t.exposeInt('min'), max: t.exposeInt('max') }),
  })

const ConfirmationPolicySourceEnum = builder.enumType('ConfirmationPolicySource', {
  values: { OPERATOR: { value: 'operator' }, MERCHANT: { value: 'merchant' } } as const,
})

const ConfirmationPolicyRef = builder.objectRef<ConfirmationPolicyView>('ConfirmationPolicy').implement({
  description:
    'How many confirmations a new payment of one asset of a chain needs, by its amount: the first step whose `below` is above the amount, else `above`. Payments keep the confirmations they were created with',
  fields: (t) => ({
    chain: t.exposeString('chain'),
    asset: t.field({ type: AssetRef, resolve: (p) => p.asset }),
    source: t.field({
      type: ConfirmationPolicySourceEnum,
      description: 'OPERATOR: the gateway’s ladder; MERCHANT: your choice, within the operator’s bounds',
      resolve: (p) => p.source,
    }),
    tiers: t.field({
      type: [ConfirmationTierRef],
      resolve: (p) =>
        p.ladder.tiers.map((tier) => ({
          below:
            p.ladder.currency === null
              ? formatAmount(tier.below.num, p.asset.decimals)
              : exactDecimal(rational(tier.below.num, tier.below.den)),
          confirmations: tier.confirmations,
        })),
    }),
    above: t.int({
      description: 'Confirmations for amounts at or above the last step (every amount without steps)',
      resolve: (p) => p.ladder.above,
    }),
    currency: t.string({
      nullable: true,
      description:
        'What the steps’ amounts are in: null, the asset; else a currency (a price in it is compared as given, other amounts at the current rate; without a fresh rate a payment needs `above`)',
      resolve: (p) => p.ladder.currency,
    }),
    bounds: t.field({ type: ConfirmationBoundsRef, resolve: (p) => p.ladder.bounds }),
  }),
})

builder.queryField('confirmationPolicies', (t) =>
  t.field({
    type: [ConfirmationPolicyRef],
    description: 'The confirmation ladder of every chain and asset for your payments',
    authScopes: { scope: 'payments:read' },
    resolve: async (_root, _args, ctx) => {
      const auth = await requireAuth(ctx)
      return confirmationPolicies(ctx.app, auth.merchantId)
    },
  }),
)

const ConfirmationTierInput = builder.inputType('ConfirmationTierInput', {
  fields: (t) => ({
    below: t.string({ required: true, description: 'Exclusive upper amount, a decimal string' }),
    confirmations: t.int({ required: true }),
  }),
})

const SetConfirmationPolicyInput = builder.inputType('SetConfirmationPolicyInput', {
  fields: (t) => ({
    chain: t.string({ required: true }),
    asset: t.string({ required: true, description: 'Asset symbol or CAIP-19 id' }),
    confirmations: t.int({
      description: 'A fixed count for every amount (a speed: 0, 1, 2, 6 on Bitcoin). Give this or tiers',
    }),
    tiers: t.field({
      type: [ConfirmationTierInput],
      description: 'Your own ladder, `below` ascending (at most 20 steps); needs above',
    }),
    above: t.int({ description: 'Confirmations at or above the last step' }),
    currency: t.string({
      description: 'The steps’ amounts in this currency (ISO 4217) instead of the asset',
    }),
  }),
})

const ConfirmationPolicyTargetInput = builder.inputType('ConfirmationPolicyTargetInput', {
  fields: (t) => ({
    chain: t.string({ required: true }),
    asset: t.string({ required: true, description: 'Asset symbol or CAIP-19 id' }),
  }),
})

builder.mutationField('setConfirmationPolicy', (t) =>
  t.field({
    type: ConfirmationPolicyRef,
    description:
      'Sets how many confirmations your new payments of one asset need (needs admin; audited): a fixed count or your own ladder, every value within the operator’s bounds (else CONFIRMATIONS_OUT_OF_BOUNDS, nothing stored). Existing payments keep theirs',
    errors: userErrors('SetConfirmationPolicyResult'),
    args: { input: t.arg({ type: SetConfirmationPolicyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      const { chain, asset, ...choice } = input
      return setConfirmationChoice(ctx.app, auth.merchantId, { chain, asset }, choice, {
        keyId: auth.keyId,
        requestId: ctx.requestId,
      })
    },
  }),
)

builder.mutationField('clearConfirmationPolicy', (t) =>
  t.field({
    type: ConfirmationPolicyRef,
    description:
      'Drops your confirmation choice for one asset: new payments follow the operator’s ladder (needs admin; audited)',
    errors: userErrors('ClearConfirmationPolicyResult'),
    args: { input: t.arg({ type: ConfirmationPolicyTargetInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      return setConfirmationChoice(ctx.app, auth.merchantId, input, null, {
        keyId: auth.keyId,
        requestId: ctx.requestId,
      })
    },
  }),
)
