import type { Transfer } from '@tollgate/sdk'
import { inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { payments, transfers } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { newId } from '../ids.ts'
import type { WatchSet } from './watch-set.ts'

/** A transfer found by a scan, and the payment it pays. */
export type Deposit = { transfer: Transfer; paymentId: string }

/**
 * Which scanned transfers pay a payment: those into a watched address in the payment's own asset. The gas
 * tank's top-up of a token payment's address, or any other coin sent there, is not a payment. (This is where
 * screening, customer addresses and misdirected deposits decide what a transfer is.)
 *
 * @example
 * const deposits = await matchDeposits(tx, watch, scanned.transfers)
 */
export async function matchDeposits(
  tx: Tx,
  watch: WatchSet,
  found: readonly Transfer[],
): Promise<{ deposits: Deposit[]; deadlines: Map<string, Date> }> {
  const candidates = found.flatMap((transfer) => {
    const paymentId = watch.byKey.get(transfer.to)
    return paymentId ? [{ transfer, paymentId }] : []
  })
  const deadlines = new Map<string, Date>()
  if (candidates.length === 0) return { deposits: [], deadlines }
  const rows = await tx
    .select({ id: payments.id, expiresAt: payments.expiresAt, asset: payments.asset })
    .from(payments)
    .where(inArray(payments.id, [...new Set(candidates.map((m) => m.paymentId))]))
  const assetOf = new Map<string, string>()
  for (const r of rows) {
    deadlines.set(r.id, r.expiresAt)
    assetOf.set(r.id, r.asset)
  }
  const deposits = candidates.filter(({ transfer, paymentId }) => assetOf.get(paymentId) === transfer.asset)
  return { deposits, deadlines }
}

/**
 * Stores deposits once per `(chain, txHash, index)`: a transfer seen again (the same range rescanned, or
 * re-included after a reorg) is revived and moved to its new block, never stored twice. A deposit in a block
 * mined after its payment's deadline is marked late (judged again when it moves to another block).
 *
 * @example
 * await recordDeposits(tx, chain, deposits, deadlines)
 */
export async function recordDeposits(
  tx: Tx,
  chain: LoadedChain,
  deposits: readonly Deposit[],
  deadlines: ReadonlyMap<string, Date>,
): Promise<void> {
  for (let i = 0; i < deposits.length; i += 500) {
    await tx
      .insert(transfers)
      .values(
        deposits.slice(i, i + 500).map(({ transfer: t, paymentId }) => ({
          id: newId('trf'),
          chain: chain.name,
          txHash: t.txHash,
          index: t.index,
          asset: t.asset,
          toAddress: t.to,
          fromAddress: t.from ?? null,
          amount: t.amount,
          blockHeight: t.block.height,
          blockHash: t.block.hash,
          paymentId,
          status: 'seen' as const,
          late: t.block.time * 1000 > (deadlines.get(paymentId)?.getTime() ?? Number.POSITIVE_INFINITY),
        })),
      )
      .onConflictDoUpdate({
        target: [transfers.chain, transfers.txHash, transfers.index],
        set: {
          status: sql`case when ${transfers.status} = 'orphaned' then 'seen' else ${transfers.status} end`,
          blockHeight: sql`excluded.block_height`,
          blockHash: sql`excluded.block_hash`,
          // lateness belongs to the block the transfer is in now
          late: sql`excluded.late`,
        },
      })
  }
}
