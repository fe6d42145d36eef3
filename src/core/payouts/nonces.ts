import { and, eq, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { senderNonces } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { nonceRowMissing } from './errors.ts'

/**
 * Makes sure the database knows the next nonce of a sender, starting from what the chain says; afterwards the
 * database is the authority (the chain cannot know about transactions persisted but not yet broadcast).
 */
export async function ensureSenderNonce(ctx: { db: Db }, chain: LoadedChain, address: string): Promise<void> {
  if (!chain.driver.payouts?.confirmedNonce) return
  const [row] = await ctx.db
    .select()
    .from(senderNonces)
    .where(and(eq(senderNonces.chain, chain.name), eq(senderNonces.address, address)))
  if (row) return
  const next = await chain.driver.payouts.confirmedNonce(address)
  await ctx.db.insert(senderNonces).values({ chain: chain.name, address, next }).onConflictDoNothing()
}

/**
 * Takes the sender's next nonce (account chains) inside the caller's transaction; the row lock makes this
 * transaction the only sender from that address until it commits. Undefined on chains without nonces.
 */
export async function takeNonce(tx: Tx, chain: LoadedChain, address: string): Promise<bigint | undefined> {
  if (!chain.driver.payouts?.confirmedNonce) return undefined
  const [row] = await tx
    .update(senderNonces)
    .set({ next: sql`${senderNonces.next} + 1` })
    .where(and(eq(senderNonces.chain, chain.name), eq(senderNonces.address, address)))
    .returning({ next: senderNonces.next })
  if (!row) throw nonceRowMissing(chain.name, address)
  return row.next - 1n
}

/**
 * The sender's next nonce without taking it, locking the counter row until the transaction ends: build with it
 * and the ones after it, then `commitNonce` the next free one (a build that fails costs no nonce).
 */
export async function peekNonce(tx: Tx, chain: LoadedChain, address: string): Promise<bigint | undefined> {
  if (!chain.driver.payouts?.confirmedNonce) return undefined
  const [row] = await tx
    .select({ next: senderNonces.next })
    .from(senderNonces)
    .where(and(eq(senderNonces.chain, chain.name), eq(senderNonces.address, address)))
    .for('update')
  if (!row) throw nonceRowMissing(chain.name, address)
  return row.next
}

/** Records `next` as the sender's next nonce (after the transactions built with the ones before it). */
export async function commitNonce(tx: Tx, chain: LoadedChain, address: string, next: bigint | undefined) {
  if (next === undefined) return
  await tx
    .update(senderNonces)
    .set({ next })
    .where(and(eq(senderNonces.chain, chain.name), eq(senderNonces.address, address)))
}
