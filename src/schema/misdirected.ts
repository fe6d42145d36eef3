import { recoverMisdirected } from '../core/payouts/misdirected-recovery.ts'
import type { sweeps } from '../db/schema/index.ts'
import { builder } from './builder.ts'
import { requireScope } from './context.ts'
import { userErrors } from './errors.ts'

const RecoverMisdirectedInput = builder.inputType('RecoverMisdirectedDepositInput', {
  fields: (t) => ({
    paymentId: t.id({ required: true, description: 'The payment whose address the deposit reached' }),
    chain: t.string({ required: true, description: 'The chain the deposit arrived on (not the payment’s)' }),
    asset: t.string({ required: true, description: 'Asset symbol or CAIP-19 id on that chain' }),
  }),
})

const RecoveryRef = builder.objectRef<typeof sweeps.$inferSelect>('MisdirectedRecovery').implement({
  description: "A sweep of a payment address's balance on another chain to that chain's treasury",
  fields: (t) => ({
    id: t.exposeID('id'),
    paymentId: t.id({ resolve: (s) => s.paymentId as string }),
    chain: t.exposeString('chain'),
    asset: t.exposeString('asset', { description: 'Asset id (CAIP-19)' }),
    status: t.string({
      description: 'pending, funding, sweeping, defunding, done or skipped (as any sweep)',
      resolve: (s) => s.status,
    }),
    skipReason: t.string({ nullable: true, resolve: (s) => s.skipReason }),
  }),
})

builder.mutationField('recoverMisdirectedDeposit', (t) =>
  t.field({
    type: RecoveryRef,
    description:
      "Moves confirmed misdirected deposits (sent on another network to a payment's address) to that network's treasury, by a sweep (needs admin). The amount stays owed under gateway:misdirected; audited",
    errors: userErrors('RecoverMisdirectedDepositResult'),
    args: { input: t.arg({ type: RecoverMisdirectedInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      return recoverMisdirected(
        ctx.app,
        auth.merchantId,
        { paymentId: String(input.paymentId), chain: input.chain, asset: input.asset },
        { keyId: auth.keyId, requestId: ctx.requestId },
      )
    },
  }),
)
