import { and, eq, max, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/client.ts'
import { addresses, wallets } from '../db/schema/index.ts'
import type { ChainDriver } from '../plugins/sdk/index.ts'
import { newId } from './ids.ts'

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
      throw new Error(
        `chain "${chain.name}": deposit account path changed from ${existing.accountPath} to ${chain.driver.accountPath}; refusing to mix derivation accounts`,
      )
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
 * Derives deposit addresses ahead so that creating a payment never waits on derivation. Concurrent top-ups are
 * harmless: a derivation index maps to one address, and duplicates are ignored by the unique constraint.
 * Returns how many addresses were added.
 *
 * @example
 * await topUpAddressPool(ctx, chains.get('ethereum')!)
 */
export async function topUpAddressPool(ctx: AddressContext, chain: ChainRef): Promise<number> {
  const walletId = await ensureDepositWallet(ctx.db, chain)
  const [stats] = await ctx.db
    .select({
      free: sql<number>`count(*) filter (where ${addresses.paymentId} is null)`.mapWith(Number),
      maxIndex: max(addresses.derivationIndex),
    })
    .from(addresses)
    .where(eq(addresses.walletId, walletId))
  const missing = ctx.addressPoolSize - (stats?.free ?? 0)
  if (missing <= 0) return 0
  const xpub = ctx.xpubFor(chain.driver.accountPath)
  const start = stats?.maxIndex === null || stats?.maxIndex === undefined ? 0 : stats.maxIndex + 1
  const rows = Array.from({ length: missing }, (_, i) => {
    const derived = chain.driver.deriveAddress({ xpub, index: start + i })
    return {
      id: newId('adr'),
      walletId,
      chain: chain.name,
      derivationIndex: start + i,
      path: derived.path,
      address: derived.address,
    }
  })
  for (let i = 0; i < rows.length; i += 1000) {
    await ctx.db
      .insert(addresses)
      .values(rows.slice(i, i + 1000))
      .onConflictDoNothing()
  }
  return rows.length
}
