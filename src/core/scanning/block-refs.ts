import type { BlockRef } from '@tollgate/sdk'
import { and, eq, gt, lt, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { blockRefs } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'

/**
 * Whether `blocks` (sorted by height) chain onto the block at `from` and onto each other; when they do not,
 * the node reorganized under the scanner.
 *
 * @example
 * blocksLink({ height: 9n, hash: '0x09' }, [{ height: 10n, hash: '0x0a', parentHash: '0x09', time: 0 }]) // true
 */
export function blocksLink(from: { height: bigint; hash: string }, blocks: readonly BlockRef[]): boolean {
  let prev = from
  for (const b of blocks) {
    if (b.height !== prev.height + 1n) return false
    if (prev.height >= 0n && b.parentHash !== prev.hash) return false
    prev = { height: b.height, hash: b.hash }
  }
  return true
}

/**
 * Stores the refs of scanned blocks (a block re-scanned after a reorg replaces the old ref) and forgets those
 * below the unfinalized window, which no reorg can reach.
 *
 * @example
 * await storeBlockRefs(tx, chain, scanned.blocks)
 */
export async function storeBlockRefs(tx: Tx, chain: LoadedChain, blocks: readonly BlockRef[]): Promise<void> {
  const last = blocks.at(-1)
  if (!last) return
  await tx
    .insert(blockRefs)
    .values(
      blocks.map((b) => ({
        chain: chain.name,
        height: b.height,
        hash: b.hash,
        parentHash: b.parentHash,
        time: b.time,
      })),
    )
    .onConflictDoUpdate({
      target: [blockRefs.chain, blockRefs.height],
      set: { hash: sql`excluded.hash`, parentHash: sql`excluded.parent_hash`, time: sql`excluded.time` },
    })
  await tx
    .delete(blockRefs)
    .where(
      and(
        eq(blockRefs.chain, chain.name),
        lt(blockRefs.height, last.height - BigInt(chain.driver.finalityDepth) - 1n),
      ),
    )
}

/**
 * The stored block hashes above `floor`, by height.
 *
 * @example
 * const ours = await storedHashesAbove(db, 'ethereum', 99n) // Map { 100n => '0x…', … }
 */
export async function storedHashesAbove(db: Db, chain: string, floor: bigint): Promise<Map<bigint, string>> {
  const stored = await db
    .select({ height: blockRefs.height, hash: blockRefs.hash })
    .from(blockRefs)
    .where(and(eq(blockRefs.chain, chain), gt(blockRefs.height, floor)))
  return new Map(stored.map((b) => [b.height, b.hash]))
}

/**
 * Forgets the refs above `height` (they belong to blocks a reorg replaced).
 *
 * @example
 * await forgetBlocksAbove(tx, 'ethereum', ancestor.height)
 */
export async function forgetBlocksAbove(tx: Tx, chain: string, height: bigint): Promise<void> {
  await tx.delete(blockRefs).where(and(eq(blockRefs.chain, chain), gt(blockRefs.height, height)))
}
