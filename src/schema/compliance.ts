import { assetById } from '../core/chains.ts'
import type { KytCheckRow } from '../core/compliance/checks.ts'
import {
  checksOfPayments,
  checksOfWithdrawals,
  depositsOfTransfers,
  listKytChecks,
} from '../core/compliance/queries.ts'
import { rejectPayment, releasePayment } from '../core/compliance/review.ts'
import { invariantBroken } from '../core/errors.ts'
import { formatAmount } from '../core/money.ts'
import { getPayment } from '../core/payments/queries.ts'
import { kytStates, type StoredKytAnswer } from '../db/schema/index.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { afterId, toConnection } from './connection.ts'
import { requireAuth, requireScope } from './context.ts'
import { connectionCost, readListCost } from './cost.ts'
import { userErrors } from './errors.ts'
import { perRowLoader } from './loaders.ts'
import { PaymentRef } from './payments.ts'
import { WithdrawalRef } from './withdrawals.ts'

const KytStateEnum = builder.enumType('KytState', {
  values: Object.fromEntries(kytStates.map((s) => [s.toUpperCase(), { value: s }])) as Record<
    Uppercase<(typeof kytStates)[number]>,
    { value: (typeof kytStates)[number] }
  >,
  description:
    'PENDING: no verdict yet (nothing it covers is credited); CLEAR: allowed; HELD: waits for an admin; RELEASED / REJECTED: an admin decided; REFUSED: a withdrawal destination refused at request',
})

const KytVerdictEnum = builder.enumType('KytVerdict', {
  values: { ALLOW: { value: 'allow' }, REVIEW: { value: 'review' }, BLOCK: { value: 'block' } } as const,
})

const KytAnswerRef = builder.objectRef<StoredKytAnswer>('KytAnswer').implement({
  description: 'One provider’s answer about one address, or the error code it failed with',
  fields: (t) => ({
    provider: t.exposeString('provider'),
    address: t.exposeString('address'),
    verdict: t.field({ type: KytVerdictEnum, nullable: true, resolve: (a) => a.verdict ?? null }),
    risk: t.string({ nullable: true, resolve: (a) => a.risk ?? null }),
    categories: t.stringList({ resolve: (a) => a.categories ?? [] }),
    reasons: t.stringList({ resolve: (a) => a.reasons ?? [] }),
    version: t.string({
      nullable: true,
      description: 'The provider’s data version (a list’s date and hash)',
      resolve: (a) => a.version ?? null,
    }),
    error: t.string({
      nullable: true,
      description: 'Why the provider gave no answer (a code)',
      resolve: (a) => a.error ?? null,
    }),
  }),
})

/** The customer deposit a check screened, batched over the request (a page of checks asks once). */
const checkDeposits = perRowLoader<KytCheckRow, { id: string; merchantId: string } | null>(
  (c) => c.subjectId,
  (ctx, transferIds) => depositsOfTransfers(ctx.app.db, transferIds),
  () => null,
)

export const KytCheckRef = builder.objectRef<KytCheckRow>('KytCheck').implement({
  description:
    'A KYT screening: a deposit’s senders or a withdrawal’s destination, every provider’s answers, the verdict, and an admin’s decision',
  fields: (t) => ({
    id: t.exposeID('id'),
    subjectType: t.exposeString('subjectType', { description: '`transfer` (a deposit) or `withdrawal`' }),
    subjectId: t.exposeString('subjectId'),
    paymentId: t.string({ nullable: true, resolve: (c) => c.paymentId }),
    depositId: t.id({
      nullable: true,
      description: 'The customer deposit screened (a `transfer` check of a customer deposit); null otherwise',
      resolve: async (c, _a, ctx) => {
        if (c.subjectType !== 'transfer' || c.paymentId !== null) return null
        const deposit = await checkDeposits(ctx).load(c)
        return deposit?.merchantId === c.merchantId ? deposit.id : null
      },
    }),
    chain: t.exposeString('chain'),
    direction: t.exposeString('direction', {
      description: '`inbound` (senders) or `outbound` (destination)',
    }),
    addresses: t.stringList({ resolve: (c) => c.addresses }),
    asset: t.field({ type: AssetRef, resolve: (c, _a, ctx) => assetById(ctx.app.chains, c.chain, c.asset) }),
    amount: t.string({
      description: 'The value screened, in the asset’s units',
      resolve: (c, _a, ctx) => formatAmount(c.amount, assetById(ctx.app.chains, c.chain, c.asset).decimals),
    }),
    txHash: t.string({ nullable: true, resolve: (c) => c.txHash }),
    state: t.field({ type: KytStateEnum, resolve: (c) => c.state }),
    verdict: t.field({ type: KytVerdictEnum, nullable: true, resolve: (c) => c.verdict }),
    reason: t.string({
      nullable: true,
      description: 'Why it is held or refused: KYT_REVIEW, KYT_BLOCKED, KYT_UNAVAILABLE',
      resolve: (c) => c.reason,
    }),
    failMode: t.string({
      nullable: true,
      description: 'Set when no provider answered in time and the fail mode decided (`open` or `closed`)',
      resolve: (c) => c.failMode,
    }),
    answers: t.field({ type: [KytAnswerRef], resolve: (c) => c.answers }),
    versions: t.string({
      nullable: true,
      description: 'The data versions the verdict rests on',
      resolve: (c) => c.versions,
    }),
    attempts: t.exposeInt('attempts'),
    decidedBy: t.string({
      nullable: true,
      description: 'The API key (or `cli`) that released or rejected it',
      resolve: (c) => c.decidedBy,
    }),
    decidedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.decidedAt }),
    note: t.string({ nullable: true, description: 'The reviewer’s note', resolve: (c) => c.note }),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.createdAt }),
    screenedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.screenedAt }),
  }),
})

const paymentChecks = perRowLoader<{ id: string }, KytCheckRow[]>(
  (p) => p.id,
  (ctx, ids) => checksOfPayments(ctx.app.db, ids),
  () => [],
)
const withdrawalCheck = perRowLoader<{ id: string }, KytCheckRow | null>(
  (w) => w.id,
  (ctx, ids) => checksOfWithdrawals(ctx.app.db, ids),
  () => null,
)

builder.objectField(PaymentRef, 'kyt', (t) =>
  t.field({
    type: [KytCheckRef],
    authScopes: { authenticated: true },
    description: 'The KYT screenings of this payment’s deposits, oldest first (empty when screening is off)',
    complexity: readListCost,
    resolve: (p, _a, ctx) => paymentChecks(ctx).load(p),
  }),
)

builder.objectField(WithdrawalRef, 'kyt', (t) =>
  t.field({
    type: KytCheckRef,
    nullable: true,
    description: 'The KYT screening of the destination (null when screening is off)',
    resolve: (w, _a, ctx) => withdrawalCheck(ctx).load(w),
  }),
)

const KytCheckFilter = builder.inputType('KytCheckFilter', {
  fields: (t) => ({
    state: t.field({ type: KytStateEnum }),
    paymentId: t.id(),
    withdrawalId: t.id(),
  }),
})

builder.queryField('kytChecks', (t) =>
  t.connection({
    type: KytCheckRef,
    description: 'Your KYT screenings, newest first (a compliance review queue: `filter: { state: HELD }`)',
    authScopes: { scope: 'payments:read' },
    args: { filter: t.arg({ type: KytCheckFilter }) },
    complexity: connectionCost,
    resolve: async (_root, args, ctx) => {
      const auth = await requireAuth(ctx)
      const after = afterId(args, 'kyt')
      return toConnection(
        await listKytChecks(ctx.app, auth.merchantId, {
          state: args.filter?.state ?? null,
          paymentId: args.filter?.paymentId ? String(args.filter.paymentId) : null,
          withdrawalId: args.filter?.withdrawalId ? String(args.filter.withdrawalId) : null,
          first: args.first ?? 50,
          after,
        }),
        after,
      )
    },
  }),
)

for (const [name, release] of [
  ['releasePayment', true],
  ['rejectPayment', false],
] as const)
  builder.mutationField(name, (t) =>
    t.field({
      type: PaymentRef,
      description: release
        ? 'Releases a payment KYT screening held: its deposits count as allowed and it completes (needs compliance:review or admin). Audited with the note'
        : 'Rejects a payment KYT screening held: its held deposits are never credited or swept; it ends REJECTED (needs compliance:review or admin). Audited with the note',
      errors: userErrors(`${name[0]?.toUpperCase()}${name.slice(1)}Result`),
      args: {
        id: t.arg.id({ required: true }),
        note: t.arg.string({
          required: true,
          description: 'Why (at most 1000 characters), kept with the decision and in the audit log',
        }),
      },
      resolve: async (_root, { id, note }, ctx) => {
        const auth = await requireScope(ctx, 'compliance:review')
        const decide = release ? releasePayment : rejectPayment
        const changes = await decide(ctx.app, auth.merchantId, String(id), {
          actor: { keyId: auth.keyId, requestId: ctx.requestId },
          note,
        })
        if (changes.length > 0) ctx.app.bus.publish(changes)
        const payment = await getPayment(ctx.app, auth.merchantId, String(id))
        if (!payment)
          throw invariantBroken('PAYMENT_VANISHED', 'a payment vanished in the transaction that decided it')
        return payment
      },
    }),
  )
