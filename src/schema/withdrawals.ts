import { and, eq } from 'drizzle-orm'
import { assetById, resolveChain } from '../core/chains.ts'
import { getBalances } from '../core/ledger/balances.ts'
import { formatAmount } from '../core/money.ts'
import {
  approvalsRequired,
  listWithdrawalApprovals,
  type WithdrawalApprovalRow,
} from '../core/payouts/approvals.ts'
import { collectWithdrawalChanges } from '../core/payouts/withdrawal-changes.ts'
import type { WithdrawalRow } from '../core/payouts/withdrawal-transitions.ts'
import {
  cancelWithdrawal,
  decideWithdrawal,
  getWithdrawal,
  type listWithdrawalEvents,
  listWithdrawals,
  requestWithdrawal,
  waitingReason,
} from '../core/payouts/withdrawals.ts'
import { apiKeys, consoleUsers, withdrawalStatuses } from '../db/schema/index.ts'
import type { PaymentBus } from '../pubsub.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { afterId, toConnection } from './connection.ts'
import { type GraphQLContext, requireAuth, requireScope } from './context.ts'
import { connectionCost, defaultPageSize, readCost, readListCost } from './cost.ts'
import { userErrors } from './errors.ts'
import { withdrawalEvents, withdrawalTxHashes } from './loaders.ts'

const WithdrawalStatusEnum = builder.enumType('WithdrawalStatus', { values: withdrawalStatuses })

type EventRow = Awaited<ReturnType<typeof listWithdrawalEvents>>[number]

const WithdrawalEventRef = builder.objectRef<EventRow>('WithdrawalEvent').implement({
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    type: t.exposeString('type', { description: 'e.g. withdrawal.requested, withdrawal.confirmed' }),
    fromStatus: t.field({ type: WithdrawalStatusEnum, nullable: true, resolve: (e) => e.fromStatus }),
    toStatus: t.field({ type: WithdrawalStatusEnum, resolve: (e) => e.toStatus }),
    data: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.data ?? null }),
    createdAt: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
})

/**
 * The name people know an actor by: a console user's (`user:<id>`) display name, an API key's current name, or
 * null when neither is known (a key of another merchant, a user since removed).
 */
async function actorDisplayName(
  ctx: GraphQLContext,
  actor: string,
  merchantId: string,
): Promise<string | null> {
  if (actor.startsWith('user:')) {
    const [user] = await ctx.app.db
      .select({ name: consoleUsers.displayName })
      .from(consoleUsers)
      .where(eq(consoleUsers.id, actor.slice('user:'.length)))
    return user?.name ?? null
  }
  const [key] = await ctx.app.db
    .select({ name: apiKeys.name })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, actor), eq(apiKeys.merchantId, merchantId)))
  return key?.name ?? null
}

const WithdrawalApprovalRef = builder.objectRef<WithdrawalApprovalRow>('WithdrawalApproval').implement({
  description: "One admin key's decision on a withdrawal held for approval (a key decides once)",
  fields: (t) => ({
    keyId: t.exposeString('keyId', {
      description: 'The API key that decided, or user:<id> for a console user',
    }),
    keyName: t.exposeString('keyName', {
      description:
        "Who decided, as people knew them when they did: the console user's display name (keyId user:<id>), else the key's name",
    }),
    deciderName: t.exposeString('keyName', {
      description:
        'The same as keyName (kept for clients that read it): the name stored with the decision, as it was then',
    }),
    approve: t.exposeBoolean('approve', { description: 'true: approved; false: rejected' }),
    reason: t.string({ nullable: true, resolve: (a) => a.reason }),
    createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
  }),
})

/** Approvals a withdrawal still needs to go out: 0 unless it awaits approval. */
async function approvalsMissing(ctx: GraphQLContext, w: WithdrawalRow): Promise<number> {
  if (w.status !== 'AWAITING_APPROVAL') return 0
  const given = (await listWithdrawalApprovals(ctx.app, w.id)).filter((a) => a.approve).length
  return Math.max(0, approvalsRequired(ctx.app.chains, w) - given)
}

export const WithdrawalRef = builder.objectRef<WithdrawalRow>('Withdrawal').implement({
  description: 'A payout of a merchant balance to an external address.',
  fields: (t) => ({
    id: t.exposeID('id'),
    status: t.field({ type: WithdrawalStatusEnum, resolve: (w) => w.status }),
    chain: t.exposeString('chain'),
    asset: t.field({ type: AssetRef, resolve: (w, _a, ctx) => assetById(ctx.app.chains, w.chain, w.asset) }),
    to: t.exposeString('toAddress', { description: 'The destination, as the chain driver normalized it' }),
    amount: t.string({
      description: 'Decimal string in whole units of the asset',
      resolve: (w, _a, ctx) => formatAmount(w.amount, assetById(ctx.app.chains, w.chain, w.asset).decimals),
    }),
    networkFee: t.string({
      nullable: true,
      description:
        "The network fee paid for it, in whole units of the chain's native asset (the gateway pays it)",
      resolve: (w, _a, ctx) =>
        w.networkFee === null
          ? null
          : formatAmount(w.networkFee, resolveChain(ctx.app.chains, w.chain).driver.nativeAsset.decimals),
    }),
    txHash: t.string({
      nullable: true,
      description: 'The transaction that pays it, once signed',
      complexity: readCost,
      resolve: (w, _a, ctx) => (w.outboundTxId ? withdrawalTxHashes(ctx).load(w) : null),
    }),
    failureReason: t.string({ nullable: true, resolve: (w) => w.failureReason }),
    waitingReason: t.string({
      nullable: true,
      description:
        'Why a QUEUED withdrawal has not gone out yet (its last failed attempt to build a transaction)',
      resolve: (w) => waitingReason(w),
    }),
    idempotencyKey: t.exposeString('idempotencyKey'),
    requestedBy: t.string({
      nullable: true,
      description:
        'Who requested it: the API key id, or user:<id> for a console user (null when the gateway made it)',
      resolve: (w) => w.requestedByKey,
    }),
    requestedByName: t.string({
      nullable: true,
      description: "requestedBy as people know it: the console user's name or the API key's name",
      complexity: readCost,
      resolve: (w, _a, ctx) =>
        w.requestedByKey === null ? null : actorDisplayName(ctx, w.requestedByKey, w.merchantId),
    }),
    approvals: t.field({
      type: [WithdrawalApprovalRef],
      description: 'Admin decisions on it while it awaited approval, oldest first',
      complexity: readListCost,
      resolve: (w, _a, ctx) => listWithdrawalApprovals(ctx.app, w.id),
    }),
    approvalsRequired: t.int({
      description:
        "Distinct admin keys that must approve it while it awaits approval (the chain's approvalsRequired above its approvalAbove threshold, else 1)",
      resolve: (w, _a, ctx) => approvalsRequired(ctx.app.chains, w),
    }),
    approvalsMissing: t.int({
      description: 'Approvals it still needs to go out (0 unless AWAITING_APPROVAL)',
      complexity: readCost,
      resolve: (w, _a, ctx) => approvalsMissing(ctx, w),
    }),
    events: t.field({
      type: [WithdrawalEventRef],
      description: 'Status history, oldest first',
      complexity: readListCost,
      resolve: (w, _a, ctx) => withdrawalEvents(ctx).load(w),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (w) => w.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (w) => w.updatedAt }),
  }),
})

type BalanceView = { chain: string; asset: string; available: bigint; reserved: bigint }

const BalanceRef = builder.objectRef<BalanceView>('Balance').implement({
  description:
    'What the ledger owes a merchant in one asset (sums of postings, never stored apart from them).',
  fields: (t) => {
    const amount = (pick: (b: BalanceView) => bigint, description: string) =>
      t.string({
        description: `${description}, a decimal string in whole units`,
        resolve: (b, _a, ctx) => formatAmount(pick(b), assetById(ctx.app.chains, b.chain, b.asset).decimals),
      })
    return {
      chain: t.exposeString('chain'),
      asset: t.field({
        type: AssetRef,
        resolve: (b, _a, ctx) => assetById(ctx.app.chains, b.chain, b.asset),
      }),
      available: amount((b) => b.available, 'Can be withdrawn now'),
      reserved: amount((b) => b.reserved, 'Held for withdrawals on their way'),
    }
  },
})

builder.queryField('balances', (t) =>
  t.field({
    type: [BalanceRef],
    description: 'Your balances per chain and asset',
    authScopes: { scope: 'payments:read' },
    resolve: async (_root, _args, ctx) => {
      const auth = await requireAuth(ctx)
      return getBalances(ctx.app, auth.merchantId)
    },
  }),
)

builder.queryField('withdrawal', (t) =>
  t.field({
    type: WithdrawalRef,
    nullable: true,
    description: "One of your withdrawals; null for an unknown id (or another merchant's)",
    authScopes: { scope: 'payments:read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireAuth(ctx)
      return (await getWithdrawal(ctx.app, auth.merchantId, String(id))) ?? null
    },
  }),
)

builder.queryField('withdrawals', (t) =>
  t.connection({
    type: WithdrawalRef,
    description: 'Your withdrawals, newest first',
    authScopes: { scope: 'payments:read' },
    args: { status: t.arg({ type: WithdrawalStatusEnum }) },
    complexity: connectionCost,
    resolve: async (_root, args, ctx) => {
      const auth = await requireAuth(ctx)
      const after = afterId(args, 'wd')
      const first = args.first ?? defaultPageSize
      return toConnection(
        await listWithdrawals(ctx.app, auth.merchantId, { first, after, status: args.status }),
        after,
      )
    },
  }),
)

const RequestWithdrawalInput = builder.inputType('RequestWithdrawalInput', {
  fields: (t) => ({
    chain: t.string({ required: true }),
    asset: t.string({ required: true, description: 'Asset symbol or CAIP-19 id' }),
    to: t.string({ required: true, description: 'Destination address on that chain' }),
    amount: t.string({ required: true, description: 'Decimal string in whole units, e.g. "25.5"' }),
    idempotencyKey: t.string({
      required: true,
      description: 'Required: the same key and parameters return the same withdrawal, never a second one',
    }),
  }),
})

const RequestWithdrawalPayload = builder
  .objectRef<{ withdrawal: WithdrawalRow; replayed: boolean }>('RequestWithdrawalPayload')
  .implement({
    fields: (t) => ({
      withdrawal: t.field({ type: WithdrawalRef, resolve: (r) => r.withdrawal }),
      replayed: t.exposeBoolean('replayed'),
    }),
  })

/** Runs a withdrawal mutation, then tells live readers of the withdrawals it moved (once it has committed). */
export async function publishingChanges<T>(
  ctx: { app: { bus: PaymentBus } },
  run: () => Promise<T>,
): Promise<T> {
  const { result, changes } = await collectWithdrawalChanges(run)
  ctx.app.bus.publishWithdrawals(changes)
  return result
}

builder.mutationField('requestWithdrawal', (t) =>
  t.field({
    type: RequestWithdrawalPayload,
    description:
      "Reserves the amount and queues the payout (needs withdrawals:write). Refused: the gateway's own addresses (OWN_ADDRESS), burn addresses (BURN_ADDRESS) and destinations that would refuse the transfer (DESTINATION_REJECTED)",
    errors: userErrors('RequestWithdrawalResult'),
    args: { input: t.arg({ type: RequestWithdrawalInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'withdrawals:write')
      return publishingChanges(ctx, () =>
        requestWithdrawal(ctx.app, auth.merchantId, input, { keyId: auth.keyId }),
      )
    },
  }),
)

builder.mutationField('cancelWithdrawal', (t) =>
  t.field({
    type: WithdrawalRef,
    description:
      'Cancels a withdrawal not yet picked for sending and releases its reserve (needs withdrawals:write)',
    errors: userErrors('CancelWithdrawalResult'),
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireScope(ctx, 'withdrawals:write')
      return publishingChanges(ctx, () =>
        cancelWithdrawal(ctx.app, auth.merchantId, String(id), {
          keyId: auth.keyId,
          requestId: ctx.requestId,
        }),
      )
    },
  }),
)

for (const [name, approve] of [
  ['approveWithdrawal', true],
  ['rejectWithdrawal', false],
] as const)
  builder.mutationField(name, (t) =>
    t.field({
      type: WithdrawalRef,
      description: approve
        ? "Approves a withdrawal held for approval (needs withdrawals:approve or admin; not the key that requested it: SELF_APPROVAL; once per key: ALREADY_DECIDED). It goes out once the chain's approvalsRequired distinct keys approved it (approvalsMissing). Recorded in the audit log"
        : 'Refuses a held withdrawal, cancels it and releases its reserve (needs withdrawals:approve or admin; once per key: ALREADY_DECIDED). Recorded in the audit log',
      errors: userErrors(`${name[0]?.toUpperCase()}${name.slice(1)}Result`),
      args: {
        id: t.arg.id({ required: true }),
        reason: t.arg.string({ description: 'Why (at most 500 characters), kept in the audit log' }),
      },
      resolve: async (_root, { id, reason }, ctx) => {
        const auth = await requireScope(ctx, 'withdrawals:approve')
        return publishingChanges(ctx, () =>
          decideWithdrawal(ctx.app, auth.merchantId, String(id), {
            approve,
            keyId: auth.keyId,
            requestId: ctx.requestId,
            reason,
          }),
        )
      },
    }),
  )
