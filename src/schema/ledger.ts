import { assetById } from '../core/chains.ts'
import { TollgateError } from '../core/errors.ts'
import {
  type EntryKind,
  entryKinds,
  entrySerial,
  type LedgerEntry,
  listLedgerEntries,
} from '../core/ledger/statements.ts'
import { formatAmount } from '../core/money.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { requireAuth } from './context.ts'
import { connectionCost, defaultPageSize } from './cost.ts'

const cursorPrefix = 'led_'

/** The entry id a cursor stands for; anything not made by this API is INVALID_INPUT. */
function afterEntry(args: { after?: string | null; before?: string | null; last?: number | null }) {
  if (args.last != null || args.before != null)
    throw new TollgateError('INVALID_INPUT', 'paginate forwards with first/after', 'last')
  if (!args.after) return null
  const text = Buffer.from(args.after, 'base64url').toString()
  if (!text.startsWith(cursorPrefix))
    throw new TollgateError('INVALID_INPUT', 'after is not a cursor from this API', 'after')
  const id = text.slice(cursorPrefix.length)
  entrySerial(id, 'after')
  return id
}

const LedgerEntryKindEnum = builder.enumType('LedgerEntryKind', {
  description:
    'What moved the balance: PAYMENT (a payment credited; negative when a reorg took it back), WITHDRAWAL_RESERVE (available → reserved at request), WITHDRAWAL_RELEASE (reserved → available: canceled, rejected or failed), WITHDRAWAL_SETTLE (the reserve paid out), MISDIRECTED (a wrong-network deposit credited), OTHER',
  values: entryKinds,
})

const LedgerEntryRef = builder.objectRef<LedgerEntry>('LedgerEntry').implement({
  description: 'One posting to one of your accounts (merchant:available, merchant:reserved)',
  fields: (t) => ({
    id: t.exposeID('id'),
    createdAt: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
    chain: t.exposeString('chain'),
    asset: t.field({ type: AssetRef, resolve: (e, _a, ctx) => assetById(ctx.app.chains, e.chain, e.asset) }),
    account: t.exposeString('account', { description: 'merchant:available or merchant:reserved' }),
    amount: t.string({
      description: 'Signed decimal string in whole units: what the entry added to the account',
      resolve: (e, _a, ctx) => formatAmount(e.amount, assetById(ctx.app.chains, e.chain, e.asset).decimals),
    }),
    amountBaseUnits: t.string({
      description: 'The same, in base units',
      resolve: (e) => e.amount.toString(),
    }),
    kind: t.field({ type: LedgerEntryKindEnum, resolve: (e) => e.kind }),
    reference: t.exposeString('reference', {
      description: 'The payment, withdrawal or misdirected deposit (transfer) it belongs to',
    }),
  }),
})

const LedgerEntryFilter = builder.inputType('LedgerEntryFilter', {
  fields: (t) => ({
    from: t.field({ type: 'DateTime', description: 'Entries recorded at or after this instant' }),
    to: t.field({ type: 'DateTime', description: 'Entries recorded before this instant (after from)' }),
    chain: t.string(),
    asset: t.string({ description: 'Asset symbol or CAIP-19 id (needs chain)' }),
    kind: t.field({ type: LedgerEntryKindEnum }),
  }),
})

builder.queryField('ledgerEntries', (t) =>
  t.connection({
    type: LedgerEntryRef,
    description:
      'Your statement: every posting to your balances, oldest first (the order the ledger recorded them). Summed from the first entry, the amounts per chain, asset and account are your balances',
    authScopes: { scope: 'payments:read' },
    args: { filter: t.arg({ type: LedgerEntryFilter }) },
    complexity: connectionCost,
    resolve: async (_root, args, ctx) => {
      const auth = await requireAuth(ctx)
      const after = afterEntry(args)
      const first = args.first ?? defaultPageSize
      const filter = args.filter && { ...args.filter, kind: args.filter.kind as EntryKind | null | undefined }
      const page = await listLedgerEntries(ctx.app, auth.merchantId, { filter, first, after })
      const edges = page.rows.map((node) => ({
        cursor: Buffer.from(`${cursorPrefix}${node.id}`).toString('base64url'),
        node,
      }))
      return {
        edges,
        pageInfo: {
          hasNextPage: page.hasNextPage,
          hasPreviousPage: after !== null,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      }
    },
  }),
)
