import { and, eq, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { type OutboundRow, outboundTxs, type StoredRequest, senderNonces } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import type { PayoutOutput, UnsignedTx, WalletAddress } from '../../plugins/sdk/index.ts'
import { newId } from '../ids.ts'

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
  if (!row) throw new Error(`no nonce row for ${chain.name} ${address}: call ensureSenderNonce first`)
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
  if (!row) throw new Error(`no nonce row for ${chain.name} ${address}: call ensureSenderNonce first`)
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

/**
 * Stores a built transaction as `built` (step 2 of invariant 5: persisted before anything signs it).
 *
 * @example
 * const id = await insertOutbound(tx, chain, { purpose: 'sweep', from, asset: asset.id, nonce, unsigned })
 */
export async function insertOutbound(
  tx: Tx,
  chain: LoadedChain,
  a: {
    purpose: OutboundRow['purpose']
    from: WalletAddress
    asset: string
    nonce: bigint | undefined
    unsigned: UnsignedTx
    request: StoredRequest
  },
): Promise<string> {
  const id = newId('otx')
  await tx.insert(outboundTxs).values({
    id,
    chain: chain.name,
    purpose: a.purpose,
    fromAddress: a.from.address,
    fromPath: a.from.path,
    asset: a.asset,
    nonce: a.nonce ?? null,
    status: 'built',
    unsigned: a.unsigned.payload,
    request: a.request,
    amount: a.unsigned.amounts?.reduce((sum, v) => sum + v, 0n) ?? null,
    amounts: a.unsigned.amounts?.map(String) ?? null,
    spends: a.unsigned.spends ? [...a.unsigned.spends] : null,
    changeVout: a.unsigned.change?.vout ?? null,
    changeAmount: a.unsigned.change?.amount ?? null,
    maxFee: a.unsigned.maxFee,
  })
  return id
}

/**
 * The part of a transfer request worth storing with it (bigints as strings): enough to rebuild it later.
 *
 * @example
 * storedTransfer({ outputs: [{ to, amount: 5n }] }) // { kind: 'transfer', outputs: [{ to, amount: '5' }] }
 */
export function storedTransfer(r: { outputs: readonly PayoutOutput[]; sweepAll?: boolean }): StoredRequest {
  return {
    kind: 'transfer',
    outputs: r.outputs.map((o) => ({ to: o.to, amount: o.amount.toString() })),
    ...(r.sweepAll ? { sweepAll: true } : {}),
  }
}
