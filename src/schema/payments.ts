import { explorerLink } from '@tollgate/sdk/explorer'
import { checkoutLink } from '../checkout/link.ts'
import { getPayment, listPayments, type PaymentEventRow, type PaymentRow } from '../core/payments/queries.ts'
import type { TransferView } from '../core/payments/views.ts'
import { builder } from './builder.ts'
import { afterId, toConnection } from './connection.ts'
import { requireAuth } from './context.ts'
import { connectionCost, defaultPageSize, readListCost } from './cost.ts'
import { paymentEvents, paymentTransfers } from './loaders.ts'
import { PaymentStatusEnum, payerFields } from './payer-fields.ts'

const PaymentEventRef = builder.objectRef<PaymentEventRow>('PaymentEvent').implement({
  fields: (t) => ({
    seq: t.exposeInt('seq', { description: 'Per-payment sequence number, from 1' }),
    type: t.exposeString('type', { description: 'e.g. payment.created, payment.completed' }),
    fromStatus: t.field({ type: PaymentStatusEnum, nullable: true, resolve: (e) => e.fromStatus }),
    toStatus: t.field({ type: PaymentStatusEnum, resolve: (e) => e.toStatus }),
    data: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.data ?? null }),
    createdAt: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
})

const TransferRef = builder.objectRef<TransferView & { decimals?: number }>('Transfer').implement({
  description: 'An on-chain deposit into the payment address',
  fields: (t) => ({
    chain: t.exposeString('chain', {
      description: "The chain it arrived on: the payment's, or another one for a misdirected deposit",
    }),
    asset: t.exposeString('asset', { description: 'Asset id (CAIP-19) of what arrived' }),
    misdirected: t.exposeBoolean('misdirected', {
      description:
        "Sent on another network than the payment's to the same address: recorded, never counted toward the payment; the operator can recover it (recoverMisdirectedDeposit)",
    }),
    txHash: t.exposeString('txHash'),
    index: t.exposeInt('index', {
      description:
        'Log index (tokens), output index (UTXO chains), -1 for a native value transfer, below -1 for native value moved by contracts (EVM: -2 - k for the k-th value-moving call frame; found by balances, txHash is the block hash)',
    }),
    amount: t.string({ description: 'Base units', resolve: (x) => x.amount.toString() }),
    blockHeight: t.string({ nullable: true, resolve: (x) => x.blockHeight?.toString() ?? null }),
    status: t.string({
      description:
        'pending (in the mempool, no block yet), seen (in a block), confirmed (at its depth), orphaned (removed by a reorg) or dropped (left the mempool unmined: see fate)',
      resolve: (x) => x.status,
    }),
    confirmations: t.exposeInt('confirmations'),
    fate: t.string({
      nullable: true,
      description:
        'Why a pending deposit was dropped: replaced (an RBF bump paying the same address), double_spent (its inputs paid elsewhere) or dropped (it left the mempool)',
      resolve: (x) => x.fate,
    }),
    fateBy: t.string({
      nullable: true,
      description: 'The transaction that replaced or double-spent it, where the node showed it',
      resolve: (x) => x.fateBy,
    }),
    late: t.exposeBoolean('late'),
    explorerUrl: t.string({
      nullable: true,
      description:
        "The transaction on the block explorer the operator configured for the transfer's chain (http or https only; null without one)",
      resolve: (x, _a, ctx) => explorerLink(ctx.app.chains.get(x.chain)?.settings.explorer, 'tx', x.txHash),
    }),
  }),
})

export const PaymentRef = builder.objectRef<PaymentRow>('Payment').implement({
  description: 'A request to be paid a fixed amount of one asset at a deposit address of its own.',
  fields: (t) => ({
    ...payerFields(t),
    transfers: t.field({
      type: [TransferRef],
      description: 'Deposits seen for this payment, including ones a reorg orphaned',
      complexity: readListCost,
      resolve: (p, _a, ctx) => paymentTransfers(ctx).load(p),
    }),
    orderId: t.string({ nullable: true, authScopes: { authenticated: true }, resolve: (p) => p.orderId }),
    metadata: t.field({
      type: 'JSON',
      nullable: true,
      authScopes: { authenticated: true },
      resolve: (p) => p.metadata ?? null,
    }),
    clientSecret: t.exposeString('clientSecret', {
      authScopes: { authenticated: true },
      description: 'Give this to a checkout frontend: it can read this payment and nothing else',
    }),
    checkoutUrl: t.string({
      authScopes: { authenticated: true },
      description: 'The hosted checkout page for this payment (send the payer there, or embed it)',
      resolve: (p, _a, ctx) => checkoutLink(ctx.app.env, p),
    }),
    addressExplorerUrl: t.string({
      nullable: true,
      description:
        "The deposit address on the block explorer the operator configured for the payment's chain (http or https only; null without one)",
      resolve: (p, _a, ctx) =>
        explorerLink(ctx.app.chains.get(p.chain)?.settings.explorer, 'address', p.address),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.createdAt }),
    events: t.field({
      type: [PaymentEventRef],
      authScopes: { authenticated: true },
      description: 'Status history, oldest first',
      complexity: readListCost,
      resolve: (p, _a, ctx) => paymentEvents(ctx).load(p),
    }),
  }),
})

builder.queryField('payment', (t) =>
  t.field({
    type: PaymentRef,
    nullable: true,
    description:
      "One of your payments; null for an unknown id (or another merchant's, or text no id can be: over 256 characters, control characters)",
    authScopes: { scope: 'payments:read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireAuth(ctx)
      return (await getPayment(ctx.app, auth.merchantId, String(id))) ?? null
    },
  }),
)

const PaymentFilter = builder.inputType('PaymentFilter', {
  fields: (t) => ({
    status: t.field({ type: PaymentStatusEnum }),
    chain: t.string(),
    orderId: t.string(),
    exception: t.boolean({
      description:
        'true: only payments that need your decision (Payment.exception is set): refund or resolve them',
    }),
    address: t.string({
      description:
        'The deposit address, exactly; an address in any form its chain accepts is found (EVM: any letter case)',
    }),
    txHash: t.string({
      description:
        'Payments a transaction paid into (the hash as the chain writes it; hex in any letter case)',
    }),
  }),
  description:
    'Every field given must match. Text no payment can hold (over 256 characters, control characters) matches nothing',
})

builder.queryField('payments', (t) =>
  t.connection({
    type: PaymentRef,
    description: 'Your payments, newest first',
    authScopes: { scope: 'payments:read' },
    args: { filter: t.arg({ type: PaymentFilter }) },
    complexity: connectionCost,
    resolve: async (_root, args, ctx) => {
      const auth = await requireAuth(ctx)
      const after = afterId(args, 'pay')
      const first = args.first ?? defaultPageSize
      return toConnection(
        await listPayments(ctx.app, auth.merchantId, { filter: args.filter, first, after }),
        after,
      )
    },
  }),
)
