import type { ChainDriver } from '@tollgate/sdk'
import { and, count, eq, max } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { addresses, addressPool, wallets } from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import { accountPathChanged } from './errors.ts'

export type AddressContext = {
  db: Db
  xpubFor(accountPath: string): string
  /** How many free deposit addresses each chain keeps derived ahead. */
  addressPoolSize: number
}

type ChainRef = { name: string; driver: ChainDriver }

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
 * `addresses` and puts them on the pool's free list. Top-ups of one wallet are serialized by a row lock on the
 * wallet, and only addresses this call really inserted join the pool, so an index is never offered twice.
 * Returns how many addresses were added.
 *
 * @example
 * await topUpAddressPool(ctx, chains.get('ethereum')!)
 */
export async function topUpAddressPool(ctx: AddressContext, chain: ChainRef): Promise<number> {
  const walletId = await ensureDepositWallet(ctx.db, chain)
  const [pool] = await ctx.db
    .select({ free: count() })
    .from(addressPool)
    .where(eq(addressPool.walletId, walletId))
  if (ctx.addressPoolSize - (pool?.free ?? 0) <= 0) return 0
  const xpub = ctx.xpubFor(chain.driver.accountPath)
  return ctx.db.transaction(async (tx) => {
    await tx.select({ id: wallets.id }).from(wallets).where(eq(wallets.id, walletId)).for('update')
    const [stats] = await tx
      .select({ maxIndex: max(addresses.derivationIndex) })
      .from(addresses)
      .where(eq(addresses.walletId, walletId))
    const [current] = await tx
      .select({ free: count() })
      .from(addressPool)
      .where(eq(addressPool.walletId, walletId))
    const missing = ctx.addressPoolSize - (current?.free ?? 0)
    if (missing <= 0) return 0
    const start = stats?.maxIndex === null || stats?.maxIndex === undefined ? 0 : stats.maxIndex + 1
    let added = 0
    for (let offset = 0; offset < missing; offset += 1000) {
      const rows = Array.from({ length: Math.min(1000, missing - offset) }, (_, i) => {
        const index = start + offset + i
        const derived = chain.driver.deriveAddress({ xpub, index })
        return {
          id: newId('adr'),
          walletId,
          chain: chain.name,
          derivationIndex: index,
          path: derived.path,
          address: derived.address,
        }
      })
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
