import type { BlockRef } from '@tollgate/sdk'
import { and, eq, lt, or, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { chainCursors } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { leaseLost } from './errors.ts'
import { assertNetwork } from './network.ts'

/** Where a chain's scanning stands: the last block stored, and why it halted, if it did. */
export type Cursor = { height: bigint; hash: string; haltedReason: string | null }

/** Who holds a chain's lease and for how long it lasts without renewal. */
export type LeaseHolder = { db: Db; owner: string; leaseMs?: number }

/** When a lease taken or renewed at `now` runs out. */
export function leaseEnd(leaseMs: number | undefined, now: Date): Date {
  return new Date(now.getTime() + (leaseMs ?? 30_000))
}

/**
 * Takes (or renews) the chain's lease; creates the cursor on first run. Undefined when another scanner holds it.
 *
 * @example
 * const cursor = await acquireLease({ db, owner: 'scn_1' }, chain, new Date())
 */
export async function acquireLease(
  holder: LeaseHolder,
  chain: LoadedChain,
  now: Date,
): Promise<Cursor | undefined> {
  const until = leaseEnd(holder.leaseMs, now)
  const [row] = await holder.db
    .update(chainCursors)
    .set({ leaseOwner: holder.owner, leaseUntil: until })
    .where(
      and(
        eq(chainCursors.chain, chain.name),
        or(
          eq(chainCursors.leaseOwner, holder.owner),
          lt(chainCursors.leaseUntil, now),
          sql`${chainCursors.leaseUntil} is null`,
        ),
      ),
    )
    .returning()
  if (row) return { height: row.height, hash: row.hash, haltedReason: row.haltedReason }
  const [exists] = await holder.db
    .select({ chain: chainCursors.chain })
    .from(chainCursors)
    .where(eq(chainCursors.chain, chain.name))
  if (exists) return undefined
  // the first cursor comes from the node: never from one on another network
  await assertNetwork(holder.db, chain)
  const start = await initialCursor(chain)
  await holder.db
    .insert(chainCursors)
    .values({
      chain: chain.name,
      height: start.height,
      hash: start.hash,
      leaseOwner: holder.owner,
      leaseUntil: until,
    })
    .onConflictDoNothing()
  return acquireLease(holder, chain, now)
}

/**
 * Hands back every chain lease `owner` holds, so another scanner takes over at its next try instead of
 * waiting for the lease to run out. Fenced like the rest: rows another scanner took over are left alone, and
 * a write the old owner still attempts afterwards fails with `LEASE_LOST`. Returns the chains released.
 *
 * @example
 * await releaseLeases(db, scanner.owner) // on SIGTERM, after the running scan finished
 */
export async function releaseLeases(db: Db, owner: string): Promise<string[]> {
  // no end time at all, rather than "now": a standby whose clock lags this one's takes it at once too
  const released = await db
    .update(chainCursors)
    .set({ leaseOwner: null, leaseUntil: null })
    .where(eq(chainCursors.leaseOwner, owner))
    .returning({ chain: chainCursors.chain })
  return released.map((r) => r.chain)
}

/** The cursor sits on the block before the first one to scan; `-1` means "from genesis". */
async function initialCursor(chain: LoadedChain): Promise<{ height: bigint; hash: string }> {
  let start = chain.settings.startHeight !== undefined ? BigInt(chain.settings.startHeight) : undefined
  if (start === undefined) {
    const tip = await chain.driver.getTip()
    start = tip.height - BigInt(chain.driver.finalityDepth)
    if (start < 0n) start = 0n
  }
  if (start === 0n) return { height: -1n, hash: '' }
  const ref = await chain.driver.getBlockRef(start - 1n)
  return { height: ref.height, hash: ref.hash }
}

/**
 * Moves the cursor to `to` inside the transaction that stores what led there, renewing the lease. Fenced by
 * the lease: a scanner whose lease another took over changes nothing and gets a retryable `LEASE_LOST`.
 *
 * @example
 * await advanceCursor(tx, { db, owner }, chain, last, now)
 */
export async function advanceCursor(
  tx: Tx,
  holder: LeaseHolder,
  chain: LoadedChain,
  to: Pick<BlockRef, 'height' | 'hash'>,
  now: Date,
): Promise<void> {
  const fenced = await tx
    .update(chainCursors)
    .set({ height: to.height, hash: to.hash, updatedAt: now, leaseUntil: leaseEnd(holder.leaseMs, now) })
    .where(and(eq(chainCursors.chain, chain.name), eq(chainCursors.leaseOwner, holder.owner)))
    .returning({ chain: chainCursors.chain })
  if (fenced.length === 0) throw leaseLost(chain.name)
}

/**
 * Stops the chain's scanning with a reason an operator reads in `tollgate chain status`.
 *
 * @example
 * await haltChain(db, 'ethereum', 'reorg deeper than the finality depth')
 */
export async function haltChain(db: Db, chain: string, reason: string): Promise<void> {
  await db.update(chainCursors).set({ haltedReason: reason }).where(eq(chainCursors.chain, chain))
}

/** Where each chain's scanning stands, for operators. */
export type ChainProgress = { chain: string; height: bigint; haltedReason: string | null; updatedAt: Date }

/**
 * Every chain's cursor: how far it scanned and whether it halted.
 *
 * @example
 * for (const c of await chainProgress(db)) console.log(c.chain, c.height)
 */
export async function chainProgress(db: Db): Promise<ChainProgress[]> {
  return db
    .select({
      chain: chainCursors.chain,
      height: chainCursors.height,
      haltedReason: chainCursors.haltedReason,
      updatedAt: chainCursors.updatedAt,
    })
    .from(chainCursors)
}
