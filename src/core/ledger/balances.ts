import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { ledgerPostings } from '../../db/schema/index.ts'
import { merchantAvailable, merchantReserved } from './postings.ts'

export type Balance = { chain: string; asset: string; available: bigint; reserved: bigint }

/** The sum of one account's postings for one chain and asset. */
export type AccountTotal = { chain: string; asset: string; account: string; total: bigint }

/**
 * Sums of the postings of `accounts`, per chain, asset and account, narrowed to one merchant or one chain.
 *
 * @example
 * const held = await accountTotals(db, { chain: 'ethereum', accounts: [holdings.treasury] })
 */
export async function accountTotals(
  db: Db | Tx,
  filter: { accounts: readonly string[]; merchantId?: string; chain?: string },
): Promise<AccountTotal[]> {
  const rows = await db
    .select({
      chain: ledgerPostings.chain,
      asset: ledgerPostings.asset,
      account: ledgerPostings.account,
      total: sql<string>`sum(${ledgerPostings.amount})`,
    })
    .from(ledgerPostings)
    .where(
      and(
        inArray(ledgerPostings.account, [...filter.accounts]),
        filter.merchantId === undefined ? undefined : eq(ledgerPostings.merchantId, filter.merchantId),
        filter.chain === undefined ? undefined : eq(ledgerPostings.chain, filter.chain),
      ),
    )
    .groupBy(ledgerPostings.chain, ledgerPostings.asset, ledgerPostings.account)
  return rows.map((r) => ({ ...r, total: BigInt(r.total) }))
}

/**
 * A merchant's balances per (chain, asset), summed from the ledger's postings (never stored apart from them).
 *
 * @example
 * const balances = await getBalances({ db }, merchantId) // [{ chain: 'ethereum', asset: 'eip155:1/…', available: 5n, reserved: 0n }]
 */
export async function getBalances(ctx: { db: Db | Tx }, merchantId: string): Promise<Balance[]> {
  const rows = await accountTotals(ctx.db, { merchantId, accounts: [merchantAvailable, merchantReserved] })
  const byKey = new Map<string, Balance>()
  for (const r of rows) {
    const key = `${r.chain}\u0000${r.asset}`
    const b = byKey.get(key) ?? { chain: r.chain, asset: r.asset, available: 0n, reserved: 0n }
    if (r.account === merchantAvailable) b.available = r.total
    else b.reserved = r.total
    byKey.set(key, b)
  }
  return [...byKey.values()].sort((a, b) => (a.chain + a.asset < b.chain + b.asset ? -1 : 1))
}

/**
 * Serializes every change to one merchant's balance of one asset until the transaction ends, so two
 * withdrawals cannot both spend the same funds (a check-then-reserve race).
 */
export async function lockBalance(tx: Tx, merchantId: string, chain: string, asset: string): Promise<void> {
  await tx.execute(
    sql`select pg_advisory_xact_lock(hashtextextended(${`${merchantId}|${chain}|${asset}`}, 0))`,
  )
}

/** The merchant's available balance of one asset, inside the caller's transaction. */
export async function availableBalance(
  tx: Tx,
  merchantId: string,
  chain: string,
  asset: string,
): Promise<bigint> {
  const [row] = await tx
    .select({ total: sql<string>`coalesce(sum(${ledgerPostings.amount}), 0)` })
    .from(ledgerPostings)
    .where(
      and(
        eq(ledgerPostings.merchantId, merchantId),
        eq(ledgerPostings.chain, chain),
        eq(ledgerPostings.asset, asset),
        eq(ledgerPostings.account, merchantAvailable),
      ),
    )
  return BigInt(row?.total ?? '0')
}
