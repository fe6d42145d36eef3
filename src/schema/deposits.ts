import type { AssetInfo } from '@tollgate/sdk'
import { assetById } from '../core/chains.ts'
import { type CustomerAddressRow, type CustomerRow, depositAddress } from '../core/deposits/addresses.ts'
import { depositNotFound } from '../core/deposits/errors.ts'
import {
  customerAddressesOf,
  customerBalance,
  type DepositView,
  depositViews,
  findCustomer,
  listDeposits,
} from '../core/deposits/queries.ts'
import { decideDeposit } from '../core/deposits/review.ts'
import { type DepositSettings, depositSettings, setDepositSettings } from '../core/deposits/settings.ts'
import { errorKind } from '../core/errors.ts'
import { formatAmount } from '../core/money.ts'
import { type AddressMode, anyAsset, depositStatuses } from '../db/schema/index.ts'
import type { ChainRegistry } from '../plugins/registry.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { afterId, toConnection } from './connection.ts'
import { type GraphQLContext, requireAuth, requireScope } from './context.ts'
import { connectionCost, defaultPageSize, readListCost } from './cost.ts'
import { userErrors } from './errors.ts'

const AddressModeEnum = builder.enumType('AddressMode', {
  description:
    'How a customer’s deposit addresses are laid out: SINGLE (one address per asset of a chain; only that asset is credited), COMMON (one address per chain, every asset of it credited), CROSS (one address for a chain and every chain deriving the same addresses, e.g. all EVM chains)',
  values: {
    SINGLE: { value: 'single' },
    COMMON: { value: 'common' },
    CROSS: { value: 'cross' },
  } as const,
})

const DepositStatusEnum = builder.enumType('DepositStatus', {
  values: depositStatuses,
  description:
    'SEEN: in a block, not deep enough yet; CONFIRMED: deep enough and allowed by screening (credited unless below your minimum); HELD: deep enough but held by screening for an admin’s decision; REJECTED by an admin (never credited); REVERTED: its block was reorganized away',
})

/** A customer address as the API shows it: with the merchant's own customer id and every chain it receives on. */
type CustomerAddressView = CustomerAddressRow & { externalCustomerId: string; networks: string[] }

/** The chains each of a customer's addresses receives on: its rows sharing one derivation index and slot. */
function withNetworks(customer: CustomerRow, rows: readonly CustomerAddressRow[]): CustomerAddressView[] {
  const group = (r: CustomerAddressRow) => `${r.derivationIndex}:${r.asset}`
  const networks = new Map<string, string[]>()
  for (const r of rows) networks.set(group(r), [...(networks.get(group(r)) ?? []), r.chain])
  return rows.map((r) => ({
    ...r,
    externalCustomerId: customer.externalId,
    networks: [...(networks.get(group(r)) ?? [r.chain])].sort(),
  }))
}

const decimalsOf = (chains: ChainRegistry, chain: string, asset: string) =>
  assetById(chains, chain, asset).decimals

export const CustomerAddressRef = builder.objectRef<CustomerAddressView>('CustomerAddress').implement({
  description:
    'A customer’s permanent deposit address: every transfer into it (of its asset, or of any asset of the chain) is a deposit of that customer',
  fields: (t) => ({
    id: t.exposeID('id'),
    customerId: t.exposeString('externalCustomerId', { description: 'Your own id of the customer' }),
    chain: t.exposeString('chain'),
    asset: t.field({
      type: AssetRef,
      nullable: true,
      description: 'The only asset it credits (SINGLE); null: every asset of the chain (COMMON and CROSS)',
      resolve: (a, _args, ctx) => (a.asset === anyAsset ? null : assetById(ctx.app.chains, a.chain, a.asset)),
    }),
    mode: t.field({ type: AddressModeEnum, resolve: (a) => a.mode }),
    address: t.exposeString('address'),
    networks: t.exposeStringList('networks', {
      description:
        'The chains this address receives on: its own, and for CROSS every chain deriving the same addresses',
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
  }),
})

export const DepositRef = builder.objectRef<DepositView>('Deposit').implement({
  description: 'A transfer into one of your customers’ deposit addresses, and what it brought you',
  fields: (t) => ({
    id: t.exposeID('id'),
    customerId: t.exposeString('externalCustomerId', { description: 'Your own id of the customer' }),
    chain: t.exposeString('chain'),
    asset: t.field({
      type: AssetRef,
      resolve: (d, _args, ctx) => assetById(ctx.app.chains, d.chain, d.asset),
    }),
    amount: t.string({
      description: 'What arrived, a decimal string in whole units of the asset',
      resolve: (d, _args, ctx) => formatAmount(d.amount, decimalsOf(ctx.app.chains, d.chain, d.asset)),
    }),
    credited: t.string({
      description:
        'What your balance holds for it now, a decimal string in whole units (its amount while CONFIRMED and not below your minimum, else 0)',
      resolve: (d, _args, ctx) => formatAmount(d.credited, decimalsOf(ctx.app.chains, d.chain, d.asset)),
    }),
    belowMinimum: t.exposeBoolean('belowMinimum', {
      description: 'Below your minimum for its asset when it confirmed: recorded, never credited',
    }),
    wrongNetwork: t.exposeBoolean('wrongNetwork', {
      description:
        "Sent on a chain the customer's address was not given for (a sibling deriving the same address): HELD until releaseDeposit credits it on that chain or rejectDeposit leaves it for the operator",
    }),
    status: t.field({ type: DepositStatusEnum, resolve: (d) => d.status }),
    address: t.exposeString('address', { description: 'The customer address it was sent to' }),
    txHash: t.exposeString('txHash'),
    index: t.exposeInt('index', { description: 'Its position in the transaction (log index or output)' }),
    blockHeight: t.string({
      nullable: true,
      description: 'The block it is in (a decimal string)',
      resolve: (d) => (d.blockHeight === null ? null : d.blockHeight.toString()),
    }),
    confirmations: t.exposeInt('confirmations', {
      description: 'Blocks on top of it, its own included (0 when reverted)',
    }),
    confirmationsRequired: t.exposeInt('confirmationsRequired'),
    screening: t.string({
      nullable: true,
      description: 'Its screening: pending, clear, held, released or rejected; null when screening is off',
      resolve: (d) => d.screening,
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (d) => d.updatedAt }),
    confirmedAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.confirmedAt }),
  }),
})

const DepositConnection = builder.connectionObject(
  { type: DepositRef, name: 'DepositConnection' },
  { name: 'DepositEdge' },
)

/** A page of the merchant's deposits (all, one customer's by the merchant's own id, or in one status). */
async function depositPage(
  ctx: GraphQLContext,
  merchantId: string,
  args: { first?: number | null; after?: string | null; status?: string | null; customerId?: string | null },
) {
  const after = afterId(args, 'dep')
  const first = args.first ?? defaultPageSize
  return toConnection(
    await listDeposits(ctx.app, merchantId, {
      first,
      after,
      status: args.status,
      customerId: args.customerId,
    }),
    after,
  )
}

type BalanceView = Awaited<ReturnType<typeof customerBalance>>[number]

const CustomerBalanceRef = builder.objectRef<BalanceView>('CustomerBalance').implement({
  description: 'What one customer’s deposits of one asset brought you, decimal strings in whole units',
  fields: (t) => {
    const amount = (pick: (b: BalanceView) => bigint, description: string) =>
      t.string({
        description,
        resolve: (b, _args, ctx) => formatAmount(pick(b), decimalsOf(ctx.app.chains, b.chain, b.asset)),
      })
    return {
      chain: t.exposeString('chain'),
      asset: t.field({
        type: AssetRef,
        resolve: (b, _args, ctx) => assetById(ctx.app.chains, b.chain, b.asset),
      }),
      credited: amount((b) => b.credited, 'Confirmed and credited to your balance'),
      pending: amount((b) => b.pending, 'Seen or held, not credited yet'),
      uncredited: amount((b) => b.uncredited, 'Confirmed below your minimum, or rejected: never credited'),
      deposits: t.int({
        description: 'How many deposits (reverted ones left out)',
        resolve: (b) => b.deposits,
      }),
    }
  },
})

const CustomerRef = builder.objectRef<CustomerRow>('Customer').implement({
  description: 'One of your customers, known by your own id, with their permanent deposit addresses',
  fields: (t) => ({
    id: t.exposeString('externalId', { description: 'Your own id of the customer' }),
    addressMode: t.field({
      type: AddressModeEnum,
      description: 'The mode the customer was created under; it never changes, nor do its addresses',
      resolve: (c) => c.addressMode,
    }),
    addresses: t.field({
      type: [CustomerAddressRef],
      description: 'Their deposit addresses, oldest first (a CROSS address once per chain it receives on)',
      complexity: readListCost,
      resolve: async (c, _args, ctx) => withNetworks(c, await customerAddressesOf(ctx.app, c.id)),
    }),
    deposits: t.field({
      type: DepositConnection,
      description: 'Their deposits, newest first',
      args: {
        first: t.arg.int(),
        after: t.arg.string(),
        status: t.arg({ type: DepositStatusEnum }),
      },
      complexity: connectionCost,
      resolve: (c, args, ctx) => depositPage(ctx, c.merchantId, { ...args, customerId: c.externalId }),
    }),
    balance: t.field({
      type: [CustomerBalanceRef],
      description: 'What their deposits brought you, per chain and asset',
      complexity: readListCost,
      resolve: (c, _args, ctx) => customerBalance(ctx.app, c.id),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.createdAt }),
  }),
})

type MinimumView = { chain: string; asset: AssetInfo; amount: bigint }
type SettingsView = { addressMode: AddressMode; minimums: MinimumView[] }

/** The settings as the API shows them: minimums of assets the config still lists, by chain then symbol. */
function settingsView(chains: ChainRegistry, settings: DepositSettings): SettingsView {
  const minimums = Object.entries(settings.minimums).flatMap(([chain, byAsset]) =>
    Object.entries(byAsset).flatMap(([assetId, amount]) => {
      const asset = chains.get(chain)?.driver.assets.find((a) => a.id === assetId)
      return asset ? [{ chain, asset, amount: BigInt(amount) }] : []
    }),
  )
  minimums.sort((a, b) => a.chain.localeCompare(b.chain) || a.asset.symbol.localeCompare(b.asset.symbol))
  return { addressMode: settings.addressMode, minimums }
}

const DepositMinimumRef = builder.objectRef<MinimumView>('DepositMinimum').implement({
  description: 'The smallest deposit of an asset that is credited',
  fields: (t) => ({
    chain: t.exposeString('chain'),
    asset: t.field({ type: AssetRef, resolve: (m) => m.asset }),
    amount: t.string({
      description: 'A decimal string in whole units of the asset',
      resolve: (m) => formatAmount(m.amount, m.asset.decimals),
    }),
  }),
})

const DepositSettingsRef = builder.objectRef<SettingsView>('DepositSettings').implement({
  fields: (t) => ({
    addressMode: t.field({
      type: AddressModeEnum,
      description: 'The mode new customers get (existing customers keep theirs)',
      resolve: (s) => s.addressMode,
    }),
    minimums: t.field({
      type: [DepositMinimumRef],
      description:
        'The minimum deposit per asset: a deposit below it is recorded but never credited (judged when it confirms)',
      resolve: (s) => s.minimums,
    }),
  }),
})

builder.queryField('customer', (t) =>
  t.field({
    type: CustomerRef,
    nullable: true,
    description:
      "One of your customers by your own id; null when you have none by that id (another merchant's customer is null too)",
    authScopes: { scope: 'payments:read' },
    args: { id: t.arg.string({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireAuth(ctx)
      try {
        return (await findCustomer(ctx.app, auth.merchantId, id)) ?? null
      } catch (err) {
        // an id no customer can have (empty, too long, control characters) names none
        if (errorKind(err) === 'user') return null
        throw err
      }
    },
  }),
)

builder.queryField('deposit', (t) =>
  t.field({
    type: DepositRef,
    nullable: true,
    description: "One of your customers' deposits; null for an unknown id (or another merchant's)",
    authScopes: { scope: 'payments:read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireAuth(ctx)
      const depositId = String(id)
      if (depositId.length > 100) return null
      const [view] = await depositViews(ctx.app, [depositId])
      return view?.merchantId === auth.merchantId ? view : null
    },
  }),
)

builder.queryField('deposits', (t) =>
  t.field({
    type: DepositConnection,
    description:
      "Your customers' deposits, newest first: all of them, one customer's (your own id), or in one status",
    authScopes: { scope: 'payments:read' },
    args: {
      customerId: t.arg.string(),
      status: t.arg({ type: DepositStatusEnum }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    complexity: connectionCost,
    resolve: async (_root, args, ctx) => {
      const auth = await requireAuth(ctx)
      return depositPage(ctx, auth.merchantId, args)
    },
  }),
)

builder.queryField('depositSettings', (t) =>
  t.field({
    type: DepositSettingsRef,
    description: 'The address mode your new customers get and your minimum deposits',
    authScopes: { scope: 'payments:read' },
    resolve: async (_root, _args, ctx) => {
      const auth = await requireAuth(ctx)
      return settingsView(ctx.app.chains, await depositSettings(ctx.app, auth.merchantId))
    },
  }),
)

const DepositAddressInput = builder.inputType('DepositAddressInput', {
  fields: (t) => ({
    customerId: t.string({
      required: true,
      description:
        'Your own id of the customer: 1 to 256 characters, no control characters, compared exactly (never trimmed or case-folded)',
    }),
    chain: t.string({ required: true, description: 'A chain name from `chains`' }),
    asset: t.string({
      description:
        'Asset symbol or CAIP-19 id: the address’s asset for a SINGLE customer (default: the chain’s native asset); checked, but one address serves every asset for COMMON and CROSS',
    }),
  }),
})

builder.mutationField('depositAddress', (t) =>
  t.field({
    type: CustomerAddressRef,
    description:
      'A customer’s permanent deposit address on a chain (needs payments:write): created on the first call, the same on every later one (per asset for a SINGLE customer). The customer is created on first use with your address mode of the moment and keeps it. Refused: an unknown chain (UNKNOWN_CHAIN) or asset (UNKNOWN_ASSET), a customerId that is not 1 to 256 characters without control characters (INVALID_INPUT); nothing is written then',
    errors: userErrors('DepositAddressResult'),
    args: { input: t.arg({ type: DepositAddressInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'payments:write')
      const { customer, address, networks } = await depositAddress(ctx.app, auth.merchantId, input)
      return { ...address, externalCustomerId: customer.externalId, networks }
    },
  }),
)

const DepositMinimumInput = builder.inputType('DepositMinimumInput', {
  fields: (t) => ({
    chain: t.string({ required: true, description: 'A chain name from `chains`' }),
    asset: t.string({ required: true, description: 'Asset symbol or CAIP-19 id' }),
    amount: t.string({
      required: true,
      description: 'More than 0, a decimal string in whole units of the asset, e.g. "5" or "0.001"',
    }),
  }),
})

const SetDepositSettingsInput = builder.inputType('SetDepositSettingsInput', {
  fields: (t) => ({
    addressMode: t.field({
      type: AddressModeEnum,
      description:
        'The mode new customers get from now on (existing customers keep theirs and their addresses)',
    }),
    minimums: t.field({
      type: [DepositMinimumInput],
      description: 'Replaces every minimum (an empty list removes them); each asset at most once',
    }),
  }),
})

builder.mutationField('setDepositSettings', (t) =>
  t.field({
    type: DepositSettingsRef,
    description:
      'Sets the address mode of new customers and/or replaces the minimum deposits (needs admin). Everything is checked before anything is written: an unknown chain or asset, an amount that is not a positive decimal of the asset (INVALID_AMOUNT, INVALID_INPUT), an asset given twice. Audited',
    errors: userErrors('SetDepositSettingsResult'),
    args: { input: t.arg({ type: SetDepositSettingsInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const auth = await requireScope(ctx, 'admin')
      const settings = await setDepositSettings(ctx.app, auth.merchantId, input, {
        keyId: auth.keyId,
        requestId: ctx.requestId,
      })
      return settingsView(ctx.app.chains, settings)
    },
  }),
)

for (const [name, release] of [
  ['releaseDeposit', true],
  ['rejectDeposit', false],
] as const)
  builder.mutationField(name, (t) =>
    t.field({
      type: DepositRef,
      description: release
        ? 'Releases a deposit held by screening: it is credited as if screening had allowed it (needs compliance:review or admin). A deposit not held is INVALID_STATE. The note is kept with the decision and in the audit log'
        : 'Rejects a deposit held by screening: never credited, never swept; its funds stay at the address for the operator (needs compliance:review or admin). A deposit not held is INVALID_STATE. The note is kept with the decision and in the audit log',
      errors: userErrors(`${name[0]?.toUpperCase()}${name.slice(1)}Result`),
      args: {
        id: t.arg.id({ required: true }),
        note: t.arg.string({
          required: true,
          description: 'Why (1 to 1000 characters), kept in the audit log',
        }),
      },
      resolve: async (_root, { id, note }, ctx) => {
        const auth = await requireScope(ctx, 'compliance:review')
        const depositId = String(id)
        if (depositId.length > 100) throw depositNotFound('deposit')
        const changes = await decideDeposit(ctx.app, auth.merchantId, depositId, release, {
          actor: { keyId: auth.keyId, requestId: ctx.requestId },
          note,
        })
        ctx.app.bus.publishDeposits(changes)
        const [view] = await depositViews(ctx.app, [depositId])
        return view as DepositView
      },
    }),
  )
