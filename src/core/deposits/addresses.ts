import type { AssetInfo } from '@tollgate/sdk'
import { and, eq, inArray } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { type AddressMode, anyAsset, customerAddresses, customers, merchants } from '../../db/schema/index.ts'
import type { ChainRegistry, LoadedChain } from '../../plugins/registry.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { TollgateError } from '../errors.ts'
import { newId } from '../ids.ts'
import { ensureDepositWallet, takePoolAddress, topUpAddressPool } from '../payments/addresses.ts'
import { invalidCustomerId, maxCustomerIdLength } from './errors.ts'

export type CustomerRow = typeof customers.$inferSelect
export type CustomerAddressRow = typeof customerAddresses.$inferSelect

export type DepositAddressContext = {
  db: Db
  chains: ChainRegistry
  xpubFor(accountPath: string): string
  addressPoolSize: number
}

export type DepositAddressInput = { customerId: string; chain: string; asset?: string | null }

/**
 * The merchant's customer id as given: text of 1 to 256 characters with no control characters. It is opaque to
 * the gateway (compared exactly, never trimmed or case-folded: two ids that differ in a space are two customers).
 *
 * @example
 * checkCustomerId('user-42') // 'user-42'
 */
export function checkCustomerId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > maxCustomerIdLength)
    throw invalidCustomerId(`customerId is text of 1 to ${maxCustomerIdLength} characters`)
  if (/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.test(id))
    throw invalidCustomerId('customerId contains control characters')
  return id
}

/**
 * The chains one cross-mode address receives on, starting with `chain`: its address siblings (same account path,
 * same kind of chain), except chains whose payment addresses keep an index space of their own
 * (`addresses: 'cross'`), where an index of the shared space may already be a payment's address.
 */
export function crossGroup(chains: ChainRegistry, chain: LoadedChain): LoadedChain[] {
  if (chain.settings.addresses === 'cross') return [chain]
  const siblings = (chain.siblings ?? []).flatMap((name) => {
    const sibling = chains.get(name)
    return sibling && sibling.settings.addresses !== 'cross' ? [sibling] : []
  })
  return [chain, ...siblings]
}

/** Which slot of a customer's addresses a request fills: the asset's own (`single`) or the chain's (`*`). */
const slotAsset = (mode: AddressMode, asset: AssetInfo) => (mode === 'single' ? asset.id : anyAsset)

async function customerFor(tx: Tx, merchantId: string, externalId: string): Promise<CustomerRow> {
  const [merchant] = await tx
    .select({ mode: merchants.depositAddressMode })
    .from(merchants)
    .where(eq(merchants.id, merchantId))
  await tx
    .insert(customers)
    .values({
      id: newId('cus'),
      merchantId,
      externalId,
      addressMode: merchant?.mode ?? 'common',
    })
    .onConflictDoNothing()
  // locked: concurrent requests for one customer take one address, in turn
  const [customer] = await tx
    .select()
    .from(customers)
    .where(and(eq(customers.merchantId, merchantId), eq(customers.externalId, externalId)))
    .for('update')
  return customer as CustomerRow
}

/** Writes the customer's address at `index` on every chain of `group` that has none in this slot yet. */
async function placeAddress(
  ctx: DepositAddressContext,
  tx: Tx,
  customer: CustomerRow,
  group: readonly LoadedChain[],
  asset: string,
  index: number,
): Promise<void> {
  for (const chain of group) {
    const walletId = await ensureDepositWallet(tx, chain)
    const derived = chain.driver.deriveAddress({ xpub: ctx.xpubFor(chain.driver.accountPath), index })
    await tx
      .insert(customerAddresses)
      .values({
        id: newId('cad'),
        merchantId: customer.merchantId,
        customerId: customer.id,
        chain: chain.name,
        asset,
        mode: customer.addressMode,
        walletId,
        derivationIndex: index,
        address: derived.address,
        addressKey: chain.driver.addressKey(derived.address),
      })
      .onConflictDoNothing({
        target: [customerAddresses.customerId, customerAddresses.chain, customerAddresses.asset],
      })
  }
}

/** The chains a customer address receives on: every row of it (one per chain for a cross address), by name. */
async function networksOf(tx: Tx, address: CustomerAddressRow): Promise<string[]> {
  const rows = await tx
    .select({ chain: customerAddresses.chain })
    .from(customerAddresses)
    .where(
      and(
        eq(customerAddresses.customerId, address.customerId),
        eq(customerAddresses.derivationIndex, address.derivationIndex),
        eq(customerAddresses.asset, address.asset),
      ),
    )
  return rows.map((r) => r.chain).sort()
}

async function slotRow(tx: Tx | Db, customerId: string, chain: string, asset: string) {
  const [row] = await tx
    .select()
    .from(customerAddresses)
    .where(
      and(
        eq(customerAddresses.customerId, customerId),
        eq(customerAddresses.chain, chain),
        eq(customerAddresses.asset, asset),
      ),
    )
  return row
}

/**
 * A customer's permanent deposit address on a chain, created on the first call and the same on every later one.
 * The customer is created with the merchant's address mode of the moment and keeps it:
 * - `single`: one address per asset (`asset` defaults to the chain's native asset); only that asset is credited;
 * - `common`: one address per chain, every asset of the chain credited;
 * - `cross`: one address on the chain and on every chain deriving the same addresses (all EVM chains): a deposit
 *   on any of them is the customer's.
 * The address comes from the chain's pool in the same transaction as its row (a failed call hands out nothing).
 * Unknown chain or asset, or a bad customer id, is a typed error with nothing written.
 *
 * @example
 * const { address, networks } = await depositAddress(ctx, merchantId, { customerId: 'user-42', chain: 'ethereum' })
 */
export async function depositAddress(
  ctx: DepositAddressContext,
  merchantId: string,
  input: DepositAddressInput,
): Promise<{ customer: CustomerRow; address: CustomerAddressRow; networks: string[]; created: boolean }> {
  const externalId = checkCustomerId(input.customerId)
  const chain = resolveChain(ctx.chains, input.chain)
  const asset =
    input.asset == null
      ? (chain.driver.assets.find((a) => a.native) ?? resolveAsset(chain, ''))
      : resolveAsset(chain, input.asset)
  for (let attempt = 0; attempt < 20; attempt++) {
    const placed = await ctx.db.transaction(async (tx) => {
      const customer = await customerFor(tx, merchantId, externalId)
      const group = customer.addressMode === 'cross' ? crossGroup(ctx.chains, chain) : [chain]
      const slot = slotAsset(customer.addressMode, asset)
      const existing = await slotRow(tx, customer.id, chain.name, slot)
      if (existing) {
        // a sibling configured since: the address receives there too, at its index (which that chain's payments,
        // drawing from the same index space, never take)
        if (group.length > 1) {
          const placed = await tx
            .select({ chain: customerAddresses.chain })
            .from(customerAddresses)
            .where(and(eq(customerAddresses.customerId, customer.id), eq(customerAddresses.asset, slot)))
          const have = new Set(placed.map((r) => r.chain))
          const missing = group.filter((c) => !have.has(c.name))
          if (missing.length > 0)
            await placeAddress(ctx, tx, customer, missing, slot, existing.derivationIndex)
        }
        return { customer, address: existing, networks: await networksOf(tx, existing), created: false }
      }
      // a cross address given on a sibling before this chain was configured: the same index here too
      const [sibling] = await tx
        .select({ index: customerAddresses.derivationIndex })
        .from(customerAddresses)
        .where(
          and(
            eq(customerAddresses.customerId, customer.id),
            eq(customerAddresses.asset, slot),
            inArray(
              customerAddresses.chain,
              group.map((c) => c.name),
            ),
          ),
        )
        .limit(1)
      let index = sibling?.index
      if (index === undefined) {
        const taken = await takePoolAddress(tx, await ensureDepositWallet(tx, chain))
        if (!taken) return undefined
        index = taken.derivationIndex
      }
      await placeAddress(ctx, tx, customer, group, slot, index)
      const address = (await slotRow(tx, customer.id, chain.name, slot)) as CustomerAddressRow
      return { customer, address, networks: await networksOf(tx, address), created: true }
    })
    if (placed) return placed
    await topUpAddressPool(ctx, chain)
  }
  throw new TollgateError('ADDRESS_POOL_EXHAUSTED', 'no deposit address could be allocated; try again')
}
