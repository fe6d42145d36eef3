import { and, eq, gt } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { chainCursors, transfers } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { type DepositChange, settleDeposits } from '../deposits/lifecycle.ts'
import { invalidInput } from '../errors.ts'
import { type PaymentChange, refreshPayments } from '../payments/refresh.ts'
import { forgetBlocksAbove, storedHashesAbove } from './block-refs.ts'
import { type Cursor, type LeaseHolder, leaseEnd } from './cursors.ts'
import { leaseLost, noCursor, ReorgTooDeepError } from './errors.ts'
import { settleMisdirected } from './misdirected.ts'

/** A block both the node and the database agree on; `-1` stands before genesis. */
export type Ancestor = { height: bigint; hash: string }

/**
 * The highest stored block the node still agrees with, at most `finalityDepth` below the cursor (a reorg of
 * `finalityDepth` blocks is still followed); a `ReorgTooDeepError` when none is.
 *
 * @example
 * const ancestor = await findCommonAncestor(db, chain, cursor)
 */
export async function findCommonAncestor(db: Db, chain: LoadedChain, cursor: Cursor): Promise<Ancestor> {
  const floor = cursor.height - BigInt(chain.driver.finalityDepth)
  const ours = await storedHashesAbove(db, chain.name, floor - 1n < -1n ? -1n : floor - 1n)
  for (let h = cursor.height - 1n; h >= floor && h >= -1n; h--) {
    if (h === -1n) return { height: -1n, hash: '' }
    const hash = ours.get(h)
    if (hash === undefined) break
    const theirs = await chain.driver.getBlockRef(h)
    if (theirs.hash === hash) return { height: theirs.height, hash: theirs.hash }
  }
  throw new ReorgTooDeepError(chain.name, chain.driver.finalityDepth + 1)
}

/**
 * Moves the chain back to `ancestor` in one transaction: transfers above it are orphaned, their block refs
 * forgotten, the cursor moved, the payments they paid recomputed (a status may go backwards) and the customer
 * deposits they were reverted (their credit taken back).
 * `holder` is the scanner doing it (its lease fences the write); without one it is an operator's resume,
 * which also clears a halt.
 *
 * @example
 * const changes = await rollBack(db, chain, ancestor, new Date(), { db, owner })
 */
export async function rollBack(
  db: Db,
  chain: LoadedChain,
  ancestor: Ancestor,
  now: Date,
  holder: Omit<LeaseHolder, 'db'> | undefined,
): Promise<{ payments: PaymentChange[]; deposits: DepositChange[] }> {
  return db.transaction(async (tx) => {
    const orphaned = await tx
      .update(transfers)
      .set({ status: 'orphaned' })
      .where(and(eq(transfers.chain, chain.name), gt(transfers.blockHeight, ancestor.height)))
      .returning({ id: transfers.id, paymentId: transfers.paymentId })
    await forgetBlocksAbove(tx, chain.name, ancestor.height)
    const moved = await tx
      .update(chainCursors)
      .set(
        holder
          ? {
              height: ancestor.height,
              hash: ancestor.hash,
              updatedAt: now,
              leaseUntil: leaseEnd(holder.leaseMs, now),
            }
          : {
              height: ancestor.height,
              hash: ancestor.hash,
              updatedAt: now,
              haltedReason: null,
              leaseUntil: null,
            },
      )
      .where(
        holder
          ? and(eq(chainCursors.chain, chain.name), eq(chainCursors.leaseOwner, holder.owner))
          : eq(chainCursors.chain, chain.name),
      )
      .returning({ chain: chainCursors.chain })
    if (moved.length === 0) throw holder ? leaseLost(chain.name) : noCursor(chain.name)
    await settleMisdirected(tx, chain, ancestor.height)
    const ids = orphaned.flatMap((o) => (o.paymentId ? [o.paymentId] : []))
    const payments = await refreshPayments(tx, {
      paymentIds: ids,
      tips: new Map([[chain.name, ancestor.height]]),
      now,
    })
    const customerTransfers = orphaned.flatMap((o) => (o.paymentId ? [] : [o.id]))
    const deposits = await settleDeposits(tx, chain, ancestor.height, { transferIds: customerTransfers, now })
    return { payments, deposits }
  })
}

/**
 * An operator's way out of a halt (or a deliberate rescan): everything from `fromHeight` on is treated as not
 * yet seen: its transfers are orphaned and their payments recomputed, the cursor moves to the node's block
 * before it, and the scanner resumes there. Transfers still on the node's chain are found again and revived,
 * never doubled.
 *
 * @example
 * await resumeChain({ db }, chains.get('ethereum')!, 19_000_000n)
 */
export async function resumeChain(
  ctx: { db: Db; now?: () => Date },
  chain: LoadedChain,
  fromHeight: bigint,
): Promise<{ payments: PaymentChange[]; deposits: DepositChange[] }> {
  if (fromHeight < 0n) throw invalidInput('fromHeight', 'fromHeight must be 0 or more')
  const [cursor] = await ctx.db
    .select({ height: chainCursors.height })
    .from(chainCursors)
    .where(eq(chainCursors.chain, chain.name))
  if (!cursor) throw noCursor(chain.name)
  // resuming above the next unscanned block would skip blocks nobody scanned, and their deposits with them
  if (fromHeight > cursor.height + 1n)
    throw invalidInput(
      'fromHeight',
      `fromHeight must be at most ${cursor.height + 1n}, the next block not scanned yet on ${chain.name}`,
    )
  const ancestor =
    fromHeight === 0n ? { height: -1n, hash: '' } : await chain.driver.getBlockRef(fromHeight - 1n)
  return rollBack(
    ctx.db,
    chain,
    { height: ancestor.height, hash: ancestor.hash },
    ctx.now?.() ?? new Date(),
    undefined,
  )
}
