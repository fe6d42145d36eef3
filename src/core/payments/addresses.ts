import type { ChainDriver } from '@tollgate/sdk'
import { and, asc, count, eq, inArray, max, notInArray } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { addresses, addressPool, wallets } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { newId } from '../ids.ts'
import { accountPathChanged } from './errors.ts'

export type AddressContext = {
  db: Db
  xpubFor(accountPath: string): string
  /** How many free deposit addresses each chain keeps derived ahead. */
  addressPoolSize: number
  /** The configured chains, to know which ones share deposit addresses on purpose (`addresses: 'cross'`). */
  chains?: ChainRegistry
}

type ChainRef = { name: string; driver: ChainDriver; settings?: { addresses?: 'distinct' | 'cross' } }

/** Whether the chain shares its deposit addresses with the other chains of its account path on purpose. */
const crossMode = (settings: ChainRef['settings']) => settings?.addresses === 'cross'

// Chains with the same account path derive the same keys (every EVM chain: m/44'/60'/0'), so the same index gives
// the same address on each. Unless a chain sets `addresses: 'cross'`, its indexes come from one space shared with
// every other deposit wallet of that path: each index goes to one chain only, so no two payments, whatever their
// chains, are handed one address. A 'cross' chain keeps a space of its own (its addresses may be any other
// chain's). Wallets of chains no longer configured stay in the space: their addresses were handed out.

/**
 * The deposit wallets whose indexes `walletId` must not reuse: every deposit wallet of its account path, except
 * those of chains configured as 'cross' (and all others, when `chain` itself is).
 */
async function sharedSpace(db: Db | Tx, ctx: AddressContext, chain: ChainRef, walletId: string) {
  if (crossMode(chain.settings)) return [walletId]
  const cross = [...(ctx.chains ?? new Map()).entries()]
    .filter(([name, c]) => name !== chain.name && crossMode(c.settings))
    .map(([name]) => name)
  const rows = await db
    .select({ id: wallets.id })
    .from(wallets)
    .where(
      and(
        eq(wallets.purpose, 'deposit'),
        eq(wallets.accountPath, chain.driver.accountPath),
        cross.length > 0 ? notInArray(wallets.chain, cross) : undefined,
      ),
    )
    .orderBy(asc(wallets.id))
  return rows.map((r) => r.id)
}

/** The deposit wallet of a chain, created on first use. */
export async function ensureDepositWallet(db: Db | Tx, chain: ChainRef): Promise<string> {
  const [existing] = await db
    .select({ id: wallets.id, accountPath: wallets.accountPath })
    .from(wallets)
    .where(and(eq(wallets.chain, chain.name), eq(wallets.purpose, 'deposit')))
  if (existing) {
    if (existing.accountPath !== chain.driver.accountPath)
      throw accountPathChanged(chain.name, existing.accountPath, chain.driver.accountPath)
    return existing.id
  }
  await db
    .insert(wallets)
    .values({
      id: newId('wal'),
      chain: chain.name,
      purpose: 'deposit',
      accountPath: chain.driver.accountPath,
    })
    .onConflictDoNothing()
  return ensureDepositWallet(db, chain)
}

/**
 * Derives deposit addresses ahead so that creating a payment never waits on derivation: records them in
 * `addresses` and puts them on the pool's free list. Indexes start above every index used in the wallet's shared
 * space (the deposit wallets of the same account path, see above), and free addresses whose index another wallet
 * of the space already holds are dropped (a chain switched from 'cross' to 'distinct'). Top-ups of one space are
 * serialized by row locks on its wallets, and only addresses this call really inserted join the pool, so an index
 * is never offered twice. Returns how many addresses were added.
 *
 * @example
 * await topUpAddressPool(ctx, chains.get('ethereum')!)
 */
export async function topUpAddressPool(ctx: AddressContext, chain: ChainRef): Promise<number> {
  const walletId = await ensureDepositWallet(ctx.db, chain)
  const space = await sharedSpace(ctx.db, ctx, chain, walletId)
  const others = space.filter((id) => id !== walletId)
  if (others.length > 0)
    await ctx.db
      .delete(addressPool)
      .where(
        and(
          eq(addressPool.walletId, walletId),
          inArray(
            addressPool.derivationIndex,
            ctx.db
              .select({ index: addresses.derivationIndex })
              .from(addresses)
              .where(inArray(addresses.walletId, others)),
          ),
        ),
      )
  const [pool] = await ctx.db
    .select({ free: count() })
    .from(addressPool)
    .where(eq(addressPool.walletId, walletId))
  if (ctx.addressPoolSize - (pool?.free ?? 0) <= 0) return 0
  const xpub = ctx.xpubFor(chain.driver.accountPath)
  return ctx.db.transaction(async (tx) => {
    // in id order, so two chains of one space topping up at once wait for each other instead of deadlocking
    await tx
      .select({ id: wallets.id })
      .from(wallets)
      .where(inArray(wallets.id, space))
      .orderBy(asc(wallets.id))
      .for('update')
    const [stats] = await tx
      .select({ maxIndex: max(addresses.derivationIndex) })
      .from(addresses)
      .where(inArray(addresses.walletId, space))
    const [current] = await tx
      .select({ free: count() })
      .from(addressPool)
      .where(eq(addressPool.walletId, walletId))
    const missing = ctx.addressPoolSize - (current?.free ?? 0)
    if (missing <= 0) return 0
    const start = stats?.maxIndex === null || stats?.maxIndex === undefined ? 0 : stats.maxIndex + 1
    let added = 0
    for (let offset = 0; offset < missing; offset += 1000) {
      const rows = []
      for (let i = 0; i < Math.min(1000, missing - offset); i++) {
        // a derivation costs about half a millisecond: the worker's other work (a new head, a webhook) gets a
        // turn every few of them instead of waiting for the whole refill
        if (i > 0 && i % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
        const index = start + offset + i
        const derived = chain.driver.deriveAddress({ xpub, index })
        rows.push({
          id: newId('adr'),
          walletId,
          chain: chain.name,
          derivationIndex: index,
          path: derived.path,
          address: derived.address,
        })
      }
      const inserted = await tx
        .insert(addresses)
        .values(rows)
        .onConflictDoNothing()
        .returning({ derivationIndex: addresses.derivationIndex, address: addresses.address })
      if (inserted.length > 0) await tx.insert(addressPool).values(inserted.map((r) => ({ walletId, ...r })))
      added += inserted.length
    }
    return added
  })
}

/**
 * Takes the lowest free address of a deposit wallet's pool in the caller's transaction (skipping rows other
 * creators hold): rolled back, it is free again, so an index is never handed out twice nor lost. Undefined when
 * the pool is empty (top it up and try again).
 *
 * @example
 * const taken = await takePoolAddress(tx, walletId) // { address, derivationIndex } | undefined
 */
export async function takePoolAddress(
  tx: Tx,
  walletId: string,
): Promise<{ address: string; derivationIndex: number } | undefined> {
  const [lowest] = await tx
    .select({ index: addressPool.derivationIndex })
    .from(addressPool)
    .where(eq(addressPool.walletId, walletId))
    .orderBy(asc(addressPool.derivationIndex))
    .limit(1)
    .for('update', { skipLocked: true })
  if (!lowest) return undefined
  const [taken] = await tx
    .delete(addressPool)
    .where(and(eq(addressPool.walletId, walletId), eq(addressPool.derivationIndex, lowest.index)))
    .returning({ address: addressPool.address, derivationIndex: addressPool.derivationIndex })
  return taken
}
