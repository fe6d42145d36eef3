import { isDriverError, type UnsignedTx } from '@tollgate/sdk'
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { outboundTxs, withdrawals } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can } from '../chains.ts'
import { crashPoint } from '../crash-points.ts'
import { transactionUnlessRolledBack } from '../rollback.ts'
import { insertOutbound, storedTransfer } from './built-tx.ts'
import { freshChangeAddress, lockCoins, spendableCoins } from './coins.ts'
import { roleWallet } from './wallet-roles.ts'

/** Builds tried while the fee settles (a smaller amount may need fewer coins, so a smaller fee). */
const maxBuilds = 5

/**
 * UTXO chains' cold transfer: what the treasury's available coins hold above its float and above what
 * withdrawals not yet built will need, less the transfer's own fee, to the cold address, with change back to a
 * fresh internal address of the treasury. Nothing moves unless that amount reaches the cold output's dust limit
 * (and `cold.minMove`). One open cold transfer per chain at a time; it is stored with its coins locked before
 * anything signs it, and the ledger moves the amount from treasury to cold (the fee as for withdrawals) when it
 * confirms. Returns 1 when a transfer was built.
 *
 * @example
 * await moveCoinExcessToCold(ctx, bitcoin) // with cold: { address: 'bc1q…', float: { BTC: '0.5' } }
 */
export async function moveCoinExcessToCold(
  ctx: { db: Db; xpubFor(accountPath: string): string },
  chain: LoadedChain,
): Promise<number> {
  const cold = chain.settings.cold
  const payouts = chain.driver.payouts
  if (!cold || !payouts || !can(chain, 'coins')) return 0
  const asset = chain.driver.nativeAsset
  // as on account chains, only an asset given a float moves: without one the operator keeps it all hot
  const float = cold.float.get(asset.id)
  if (float === undefined) return 0
  const least = [payouts.minOutput?.(cold.address, asset) ?? 1n, cold.minMove.get(asset.id) ?? 1n].reduce(
    (a, b) => (a > b ? a : b),
  )
  const treasury = roleWallet(ctx, chain, 'treasury')
  const built = await transactionUnlessRolledBack(ctx.db, async (tx, rollback) => {
    // one builder at a time per chain and asset: a second pass waits here, then finds the first one's row open
    await tx.execute(
      sql`select pg_advisory_xact_lock(hashtextextended(${`cold|${chain.name}|${asset.id}`}, 0))`,
    )
    if (await coldMoveOpen(tx, chain, asset.id)) return rollback()
    // withdrawals are read before coins: a batch that commits between the two reads is then counted twice
    // (its withdrawals as owed, its coins as locked), which only keeps more hot; never not at all
    const owed = await withdrawalsStillOwed(tx, chain, asset.id, { sent: false })
    // the coins a withdrawal batch would be offered (already-locked ones pay what is in flight); more than
    // these stay hot until a later pass, which only keeps more hot
    const inputs = await spendableCoins(tx, chain, 'treasury')
    const held = inputs.reduce((sum, c) => sum + c.amount, 0n)
    const keep = float + owed
    if (held - keep < least) return rollback()
    // rolled back with the rest when nothing moves: the change address is given back
    const change = await freshChangeAddress(ctx, tx, chain)
    const plan = await planColdMove({
      excess: held - keep,
      keep,
      held,
      least,
      build: (amount, sweepAll) =>
        payouts.build({
          from: treasury,
          asset,
          outputs: [{ to: cold.address, amount }],
          inputs,
          change,
          ...(sweepAll ? { sweepAll } : {}),
        }),
    })
    if (!plan) return rollback()
    const id = await insertOutbound(tx, chain, {
      purpose: 'cold',
      from: treasury,
      asset: asset.id,
      nonce: undefined,
      unsigned: plan.unsigned,
      request: { ...storedTransfer({ outputs: [{ to: cold.address, amount: plan.amount }] }), change },
    })
    await lockCoins(tx, chain, plan.unsigned.spends ?? [], id)
    return true
  })
  if (built) crashPoint('outbound:built')
  return built ? 1 : 0
}

/**
 * The amount and transaction of a cold move that leaves at least `keep` of `held` in the treasury (what is not
 * spent plus the change). It starts from the whole excess and takes the fee off, rebuilding until what stays is
 * exactly `keep` (usually one rebuild) or the builds run out (then the last one that keeps at least `keep`).
 * When the change cannot pay the fee (a float of nothing), the fee of spending every offered coin is the first
 * guess instead. Undefined when no amount of at least `least` fits: the excess does not cover fee and dust.
 */
async function planColdMove(a: {
  excess: bigint
  keep: bigint
  held: bigint
  least: bigint
  build: (amount: bigint, sweepAll?: boolean) => Promise<UnsignedTx>
}): Promise<{ amount: bigint; unsigned: UnsignedTx } | undefined> {
  let amount = a.excess
  let guessed = false
  let chosen: { amount: bigint; unsigned: UnsignedTx } | undefined
  for (let i = 0; i < maxBuilds && amount >= a.least; i++) {
    const unsigned = await unlessShort(a.build(amount))
    if (!unsigned) {
      if (guessed || chosen) break
      guessed = true
      const everything = await unlessShort(a.build(a.excess, true))
      if (!everything) break
      amount = a.excess - everything.maxFee
      continue
    }
    // maxFee is what the inputs pay above the outputs: what the treasury keeps is everything else
    const kept = a.held - amount - unsigned.maxFee
    if (kept >= a.keep) chosen = { amount, unsigned }
    if (kept === a.keep) break
    amount += kept - a.keep
  }
  return chosen
}

/** A build, or undefined when the coins cannot pay it with its fee or the amount is dust: nothing to move. */
function unlessShort(built: Promise<UnsignedTx>): Promise<UnsignedTx | undefined> {
  return built.catch((err: unknown) => {
    if (isDriverError(err) && (err.code === 'INSUFFICIENT_FUNDS' || err.code === 'DUST_OUTPUT'))
      return undefined
    throw err
  })
}

/** Whether a cold transfer of this asset is built, signed or sent and not settled yet. */
export async function coldMoveOpen(tx: Tx, chain: LoadedChain, asset: string): Promise<boolean> {
  const [open] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(outboundTxs)
    .where(
      and(
        eq(outboundTxs.chain, chain.name),
        eq(outboundTxs.asset, asset),
        eq(outboundTxs.purpose, 'cold'),
        inArray(outboundTxs.status, ['built', 'signed', 'broadcast']),
      ),
    )
  return (open?.n ?? 0) > 0
}

/**
 * What withdrawals will still take from the treasury: the ones not built yet (screening, awaiting approval,
 * queued) and, with `sent`, the ones built or broadcast too. An account chain's balance still holds those until
 * they are mined; on a UTXO chain they are paid by the coins their transaction locked, so they are left out.
 */
export async function withdrawalsStillOwed(
  tx: Tx,
  chain: LoadedChain,
  asset: string,
  options: { sent: boolean },
): Promise<bigint> {
  const [owed] = await tx
    .select({ total: sql<string>`coalesce(sum(${withdrawals.amount}), 0)` })
    .from(withdrawals)
    .where(
      and(
        eq(withdrawals.chain, chain.name),
        eq(withdrawals.asset, asset),
        inArray(withdrawals.status, [
          'SCREENING',
          'AWAITING_APPROVAL',
          'QUEUED',
          ...(options.sent ? (['BATCHED', 'BROADCAST'] as const) : []),
        ]),
      ),
    )
  return BigInt(owed?.total ?? '0')
}
