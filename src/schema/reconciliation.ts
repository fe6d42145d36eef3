import { createContextCache } from '@pothos/core'
import { assetById } from '../core/chains.ts'
import { formatAmount } from '../core/money.ts'
import {
  type ReconciliationStatus,
  type RecordedDiscrepancy,
  readReconciliations,
} from '../core/payouts/reconciliation-status.ts'
import { builder } from './builder.ts'
import { AssetRef, ChainRef } from './chains.ts'
import type { GraphQLContext } from './context.ts'
import { readCost } from './cost.ts'

// The latest scheduled reconciliation of each chain (src/jobs/reconcile.ts): what the ledger and the chain
// disagreed on and the operator funding booked. Gateway-wide (the wallets hold every merchant's money), so it
// needs admin. Amounts are exact decimal strings in whole units of their asset.

type Line = RecordedDiscrepancy & { chain: string }
type Funding = ReconciliationStatus['funding'][number] & { chain: string }

const whole = (ctx: GraphQLContext, chain: string, asset: string, units: bigint) =>
  formatAmount(units, assetById(ctx.app.chains, chain, asset).decimals)

const ReconciliationDiscrepancyRef = builder.objectRef<Line>('ReconciliationDiscrepancy').implement({
  description: 'A balance where the ledger and the chain disagreed',
  fields: (t) => ({
    role: t.exposeString('role', {
      description: 'Whose holding: deposits (payment and customer addresses), treasury, gas or cold',
    }),
    asset: t.field({ type: AssetRef, resolve: (l, _a, ctx) => assetById(ctx.app.chains, l.chain, l.asset) }),
    ledger: t.string({
      description: 'What the ledger says the gateway holds there (whole units)',
      resolve: (l, _a, ctx) => whole(ctx, l.chain, l.asset, l.ledger),
    }),
    onChain: t.string({
      description: 'What the chain says (whole units)',
      resolve: (l, _a, ctx) => whole(ctx, l.chain, l.asset, l.onChain),
    }),
    difference: t.string({
      description: 'onChain minus ledger: positive is more on chain than booked, negative is missing',
      resolve: (l, _a, ctx) => whole(ctx, l.chain, l.asset, l.difference),
    }),
  }),
})

const ReconciliationFundingRef = builder.objectRef<Funding>('ReconciliationFunding').implement({
  description: 'A surplus in the treasury or the gas tank booked as the operator’s funding',
  fields: (t) => ({
    role: t.exposeString('role', { description: 'treasury or gas' }),
    asset: t.field({ type: AssetRef, resolve: (f, _a, ctx) => assetById(ctx.app.chains, f.chain, f.asset) }),
    amount: t.string({
      description: 'Whole units',
      resolve: (f, _a, ctx) => whole(ctx, f.chain, f.asset, f.amount),
    }),
  }),
})

const ChainReconciliationRef = builder.objectRef<ReconciliationStatus>('ChainReconciliation').implement({
  description:
    "The chain's latest scheduled reconciliation of the ledger with the chain's balances (the reconcile job)",
  fields: (t) => ({
    checkedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the last run completed (null while every run so far failed)',
      resolve: (r) => r.checkedAt,
    }),
    settled: t.boolean({
      nullable: true,
      description:
        'False when transactions were in flight: the chain may then show effects the ledger books at confirmation, so differences are expected',
      resolve: (r) => r.settled,
    }),
    linesChecked: t.int({
      description: 'Balances (asset and role) the last run compared',
      resolve: (r) => r.linesChecked,
    }),
    discrepancies: t.field({
      type: [ReconciliationDiscrepancyRef],
      description:
        'Balances that disagreed in the last run; empty means the books and the chain agree exactly',
      resolve: (r) => r.discrepancies.map((d) => ({ ...d, chain: r.chain })),
    }),
    funding: t.field({
      type: [ReconciliationFundingRef],
      description: 'Operator funding the last run booked',
      resolve: (r) => r.funding.map((f) => ({ ...f, chain: r.chain })),
    }),
    lastErrorCode: t.string({
      nullable: true,
      description: 'The code of the last run that failed (RPC_DEADLINE…); see lastErrorAt for when',
      resolve: (r) => r.lastErrorCode,
    }),
    lastErrorAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.lastErrorAt }),
    failedRuns: t.int({
      description: 'Runs failed in a row (0 once one completes)',
      resolve: (r) => r.failedRuns,
    }),
  }),
})

/** Every chain's latest reconciliation, read once per request whichever chains ask. */
const reconciliationOf = createContextCache((ctx: GraphQLContext) => {
  let read: Promise<Map<string, ReconciliationStatus>> | undefined
  return (chain: string) => {
    read ??= readReconciliations(ctx.app.db)
    return read.then((all) => all.get(chain) ?? null)
  }
})

builder.objectField(ChainRef, 'reconciliation', (t) =>
  t.field({
    type: ChainReconciliationRef,
    nullable: true,
    description:
      "The chain's latest scheduled reconciliation (null before the first run). Gateway-wide: needs admin",
    authScopes: { scope: 'admin' },
    complexity: readCost,
    resolve: (c, _args, ctx) => reconciliationOf(ctx)(c.name),
  }),
)
