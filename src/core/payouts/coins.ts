import type { Coin } from '@tollgate/sdk'
import { and, asc, eq, inArray, isNull, or, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import {
  coins,
  customerAddresses,
  deposits,
  kytChecks,
  multisigProposals,
  type OutboundRow,
  payments,
  senderNonces,
  transfers,
} from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { driverLacks } from '../errors.ts'
import { coinsUnavailable } from './errors.ts'
import { roleWallet } from './wallet-roles.ts'

type CoinRow = typeof coins.$inferSelect

const outpoint = (c: { txid: string; vout: number }) => `${c.txid}:${c.vout}`

/** The coin a stored transfer became, joined by its outpoint (none yet: a deposit still to collect). */
const coinOfTransfer = and(
  eq(coins.chain, transfers.chain),
  eq(coins.txid, transfers.txHash),
  eq(coins.vout, transfers.index),
)

/**
 * Records the deposits of completed payments as the gateway's coins (each output once, by its outpoint): the
 * confirmed transfers into a payment's address that screening allowed, spendable with the key at the payment's
 * derivation path; and confirmed customer deposits (allowed by screening), at their customer address's path.
 *
 * @example
 * await collectDepositCoins(ctx, bitcoin) // number of new coins
 */
export async function collectDepositCoins(ctx: { db: Db }, chain: LoadedChain): Promise<number> {
  const due = await ctx.db
    .select({
      txid: transfers.txHash,
      vout: transfers.index,
      amount: transfers.amount,
      script: transfers.toAddress,
      address: payments.address,
      index: payments.derivationIndex,
    })
    .from(transfers)
    .innerJoin(payments, eq(payments.id, transfers.paymentId))
    .leftJoin(coins, coinOfTransfer)
    .leftJoin(kytChecks, and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, transfers.id)))
    .where(
      and(
        eq(transfers.chain, chain.name),
        eq(transfers.status, 'confirmed'),
        eq(payments.status, 'COMPLETED'),
        isNull(coins.txid),
        // only what screening allowed (or no screening at all): a held, rejected or undecided deposit to a
        // completed payment's address stays where it is
        or(isNull(kytChecks.id), inArray(kytChecks.state, ['clear', 'released'])),
      ),
    )
    .limit(1000)
  // customer deposits confirmed and allowed (credited, or booked below the minimum): coins of their address
  const customer = await ctx.db
    .select({
      txid: transfers.txHash,
      vout: transfers.index,
      amount: transfers.amount,
      script: transfers.toAddress,
      address: customerAddresses.address,
      index: customerAddresses.derivationIndex,
    })
    .from(deposits)
    .innerJoin(transfers, eq(transfers.id, deposits.transferId))
    .innerJoin(customerAddresses, eq(customerAddresses.id, deposits.customerAddressId))
    .leftJoin(coins, coinOfTransfer)
    .where(and(eq(deposits.chain, chain.name), eq(deposits.status, 'CONFIRMED'), isNull(coins.txid)))
    .limit(1000)
  due.push(...customer)
  if (due.length === 0) return 0
  const inserted = await ctx.db
    .insert(coins)
    .values(
      due.map((d) => ({
        chain: chain.name,
        txid: d.txid,
        vout: d.vout,
        amount: d.amount,
        script: d.script,
        address: d.address,
        path: `${chain.driver.accountPath}/0/${d.index}`,
        role: 'deposit' as const,
      })),
    )
    .onConflictDoNothing()
    .returning({ txid: coins.txid })
  return inserted.length
}

/** The coins of a role that nothing is spending yet, oldest first, as the driver takes them. */
export async function spendableCoins(
  db: Db | Tx,
  chain: LoadedChain,
  role: CoinRow['role'],
  limit = 500,
): Promise<Coin[]> {
  const rows = await db
    .select()
    .from(coins)
    .where(and(eq(coins.chain, chain.name), eq(coins.role, role), eq(coins.status, 'available')))
    .orderBy(asc(coins.createdAt), asc(coins.txid), asc(coins.vout))
    .limit(limit)
  return rows.map((c) => ({ txid: c.txid, vout: c.vout, amount: c.amount, script: c.script, path: c.path }))
}

/**
 * Marks the coins a built transaction spends as locked by it, in the transaction that stores it. Throws if any
 * is no longer available (a concurrent builder took it): the caller's transaction then stores nothing.
 */
export async function lockCoins(
  tx: Tx,
  chain: LoadedChain,
  spends: readonly string[],
  outboundId: string,
  alsoFrom?: string,
): Promise<void> {
  if (spends.length === 0) return
  const pairs = spends.map((s) => {
    const [txid, vout] = s.split(':')
    return sql`(${txid}, ${Number(vout)})`
  })
  const locked = await tx
    .update(coins)
    .set({ status: 'locked', lockedBy: outboundId })
    .where(
      and(
        eq(coins.chain, chain.name),
        sql`(${coins.txid}, ${coins.vout}) in (${sql.join(pairs, sql`, `)})`,
        alsoFrom
          ? sql`(${coins.status} = 'available' or ${coins.lockedBy} = ${alsoFrom})`
          : eq(coins.status, 'available'),
      ),
    )
    .returning({ txid: coins.txid })
  if (locked.length !== spends.length) throw coinsUnavailable(spends.length - locked.length)
}

/** Coins locked by these transactions, as the driver takes them (a replacement must spend them again). */
export async function coinsLockedBy(db: Db | Tx, outboundIds: readonly string[]): Promise<Coin[]> {
  if (outboundIds.length === 0) return []
  const rows = await db
    .select()
    .from(coins)
    .where(and(inArray(coins.lockedBy, [...outboundIds]), eq(coins.status, 'locked')))
  return rows.map((c) => ({ txid: c.txid, vout: c.vout, amount: c.amount, script: c.script, path: c.path }))
}

/** A transaction that will not be mined frees the coins it locked. */
export async function unlockCoins(tx: Db | Tx, outboundIds: readonly string[]): Promise<void> {
  if (outboundIds.length === 0) return
  await tx
    .update(coins)
    .set({ status: 'available', lockedBy: null })
    .where(and(inArray(coins.lockedBy, [...outboundIds]), eq(coins.status, 'locked')))
}

/**
 * A mined transaction of a replacement group settles the coins: what it spent is spent; what the others locked
 * and it did not spend is free again; its outputs to the treasury (a consolidation) and its change become
 * treasury coins. With a multisig cold wallet, a cold move's output to it becomes a `cold` coin, and a transfer
 * out of the wallet (purpose `multisig`, its outputs as its proposal's draft lists them) makes its output to the
 * treasury a treasury coin and its change back to the wallet a `cold` coin.
 */
export async function settleCoins(
  tx: Tx,
  ctx: { xpubFor(accountPath: string): string },
  chain: LoadedChain,
  group: readonly OutboundRow[],
  winner: OutboundRow,
  spentByWinner: readonly string[],
): Promise<void> {
  const ids = group.map((r) => r.id)
  const locked = await tx
    .select()
    .from(coins)
    .where(and(inArray(coins.lockedBy, ids), eq(coins.status, 'locked')))
  const spent = new Set(spentByWinner)
  for (const c of locked)
    await tx
      .update(coins)
      .set(
        spent.has(outpoint(c))
          ? { status: 'spent', lockedBy: winner.id }
          : { status: 'available', lockedBy: null },
      )
      .where(and(eq(coins.chain, c.chain), eq(coins.txid, c.txid), eq(coins.vout, c.vout)))
  const treasury = roleWallet(ctx, chain, 'treasury')
  // the owners sign a multisig cold wallet's coins: the gateway tracks them (role cold, no key path of its own)
  const coldWallet = chain.settings.cold?.multisig ? chain.settings.cold.address : undefined
  const created: Array<{
    address: string
    path: string
    vout: number
    amount: bigint
    role: CoinRow['role']
  }> = []
  const outputs =
    winner.purpose === 'multisig'
      ? await draftOutputs(tx, winner.id)
      : (winner.request?.outputs ?? []).map((o, vout) => ({
          to: o.to,
          amount: BigInt(winner.amounts?.[vout] ?? o.amount),
        }))
  for (const [vout, o] of outputs.entries()) {
    if (o.to === treasury.address)
      created.push({ address: o.to, path: treasury.path, vout, amount: o.amount, role: 'treasury' })
    else if (o.to === coldWallet && (winner.purpose === 'cold' || winner.purpose === 'multisig'))
      created.push({ address: o.to, path: '', vout, amount: o.amount, role: 'cold' })
  }
  const change = winner.request?.change
  if (change && winner.changeVout !== null && winner.changeAmount !== null)
    created.push({
      address: change.address,
      path: change.path,
      vout: winner.changeVout,
      amount: winner.changeAmount,
      role: 'treasury',
    })
  if (created.length === 0) return
  await tx
    .insert(coins)
    .values(
      created.map((c) => ({
        chain: chain.name,
        txid: winner.hash as string,
        vout: c.vout,
        amount: c.amount,
        script: chain.driver.addressKey(c.address),
        address: c.address,
        path: c.path,
        role: c.role,
      })),
    )
    .onConflictDoNothing()
}

/**
 * The outputs of a transfer out of a multisig wallet, by vout, as its proposal's draft lists them (`outputs`:
 * `{ address, amount }`, amounts in base units as decimal strings); none for a draft that does not list them.
 */
async function draftOutputs(tx: Tx, outboundId: string): Promise<Array<{ to: string; amount: bigint }>> {
  const [p] = await tx
    .select({ payload: multisigProposals.payload })
    .from(multisigProposals)
    .where(eq(multisigProposals.outboundTxId, outboundId))
  const listed = (p?.payload as { outputs?: unknown } | undefined)?.outputs
  if (!Array.isArray(listed)) return []
  return listed.map((o: { address?: unknown; amount?: unknown }) =>
    typeof o?.address === 'string' && typeof o.amount === 'string' && /^\d+$/.test(o.amount)
      ? { to: o.address, amount: BigInt(o.amount) }
      : { to: '', amount: 0n },
  )
}

/**
 * A new change address of the treasury account's internal chain (`…/1'/1/i`), its index taken from a counter in
 * the caller's transaction so no two transactions share one.
 */
export async function freshChangeAddress(
  ctx: { xpubFor(accountPath: string): string },
  tx: Tx,
  chain: LoadedChain,
): Promise<{ address: string; path: string }> {
  const derive = chain.driver.deriveChangeAddress
  if (!derive) throw driverLacks(chain.name, 'deriveChangeAddress', 'derive change addresses')
  const treasury = roleWallet(ctx, chain, 'treasury')
  const key = `${treasury.address}#change`
  const [row] = await tx
    .insert(senderNonces)
    .values({ chain: chain.name, address: key, next: 1n })
    .onConflictDoUpdate({
      target: [senderNonces.chain, senderNonces.address],
      set: { next: sql`${senderNonces.next} + 1` },
    })
    .returning({ next: senderNonces.next })
  const index = Number((row?.next ?? 1n) - 1n)
  const { address } = derive({ xpub: ctx.xpubFor(treasury.accountPath), index })
  return { address, path: `${treasury.accountPath}/1/${index}` }
}
