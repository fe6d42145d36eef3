import { and, eq, inArray, isNotNull, isNull, ne, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import {
  coins,
  customerAddresses,
  deposits,
  kytChecks,
  outboundTxs,
  payments,
  sweeps,
  transfers,
} from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can } from '../chains.ts'
import { driverLacks } from '../errors.ts'
import { newId } from '../ids.ts'
import { accountTotals } from '../ledger/balances.ts'
import { type HoldingRole, holdings, postOperatorFunding } from '../ledger/postings.ts'
import { collectDepositCoins } from './coins.ts'
import { roleWallet } from './wallet-roles.ts'

export type ReconciliationLine = {
  asset: string
  role: HoldingRole
  /** What the ledger says the gateway holds there. */
  ledger: bigint
  /** What the chain says. */
  onChain: bigint
  /** onChain - ledger: positive = more on chain than booked, negative = missing. */
  difference: bigint
}

export type Reconciliation = {
  chain: string
  /** False while transactions are in flight: the chain may show effects the ledger books only at confirmation. */
  settled: boolean
  lines: ReconciliationLine[]
  /** Treasury or gas-tank surpluses booked as the operator's funding in this run. */
  funding: Array<{ asset: string; role: HoldingRole; amount: bigint }>
  /** Lines that do not agree (after funding was booked). Empty means the books and the chain agree exactly. */
  discrepancies: ReconciliationLine[]
}

/**
 * Compares what the ledger says the gateway holds on a chain (per asset: the deposit addresses of completed
 * payments, the treasury, the gas tank, and cold storage when configured) with the chain's balances. When nothing is in flight, a surplus in the
 * treasury or the gas tank is money the operator put there and is booked as such; any other difference,
 * and every shortfall, is a discrepancy to investigate.
 *
 * @example
 * const report = await reconcileChain(ctx, chain)
 * if (report.discrepancies.length) alert(report)
 */
export async function reconcileChain(
  ctx: { db: Db; xpubFor(accountPath: string): string },
  chain: LoadedChain,
  options: { bookFunding?: boolean } = {},
): Promise<Reconciliation> {
  const payouts = chain.driver.payouts
  if (!payouts) throw driverLacks(chain.name, 'payouts.balance', 'report balances')
  const [flying] = await ctx.db
    .select({ n: sql<number>`count(*)::int` })
    .from(outboundTxs)
    .where(
      and(eq(outboundTxs.chain, chain.name), inArray(outboundTxs.status, ['built', 'signed', 'broadcast'])),
    )
  const settled = (flying?.n ?? 0) === 0
  const depositAddresses = new Set(
    (
      await ctx.db
        .selectDistinct({ address: payments.address })
        .from(payments)
        .where(and(eq(payments.chain, chain.name), eq(payments.status, 'COMPLETED')))
    ).map((r) => r.address),
  )
  // and the addresses of other chains' payments that booked a wrong-network deposit here (gateway:misdirected)
  const misdirectedAt = await ctx.db
    .selectDistinct({ address: payments.address })
    .from(transfers)
    .innerJoin(payments, eq(payments.id, transfers.misdirectedPaymentId))
    .where(and(eq(transfers.chain, chain.name), eq(transfers.status, 'confirmed')))
  for (const { address } of misdirectedAt) depositAddresses.add(address)
  // customer addresses holding deposits not swept away yet (a fully swept address holds nothing, booked nothing)
  const customerHeld = await ctx.db
    .select({
      address: customerAddresses.address,
      asset: deposits.asset,
      amount: deposits.amount,
      status: deposits.status,
    })
    .from(deposits)
    .innerJoin(customerAddresses, eq(customerAddresses.id, deposits.customerAddressId))
    .leftJoin(sweeps, eq(sweeps.id, deposits.sweepId))
    .where(
      and(
        eq(deposits.chain, chain.name),
        ne(deposits.status, 'REVERTED'),
        or(isNull(sweeps.id), ne(sweeps.status, 'done')),
      ),
    )
  for (const { address } of customerHeld) depositAddresses.add(address)
  // and those a sweep emptied: what the gas tank's top-up left there is booked among the deposit wallets' holdings
  const swept = await ctx.db
    .selectDistinct({ address: sweeps.fromAddress })
    .from(sweeps)
    .where(
      and(eq(sweeps.chain, chain.name), isNotNull(sweeps.customerAddressId), isNotNull(sweeps.fundingTxId)),
    )
  for (const { address } of swept) depositAddresses.add(address)
  const wallets = { treasury: roleWallet(ctx, chain, 'treasury'), gas: roleWallet(ctx, chain, 'gas') }
  const booked = await accountTotals(ctx.db, {
    chain: chain.name,
    accounts: rolesAccounts(['deposits', 'treasury', 'gas', 'cold']),
  })
  const ledgerOf = (asset: string, role: HoldingRole) =>
    -(booked.find((b) => b.asset === asset && b.account === holdings[role])?.total ?? 0n)

  const lines: ReconciliationLine[] = []
  if (can(chain, 'coins')) lines.push(...(await coinLines(ctx, chain, ledgerOf)))
  // deposits screening has not allowed lie at completed payments' addresses uncredited (held, rejected, or not
  // decided yet): they are not the merchants' money, so they are not what the ledger's deposits are compared with
  const unallowed = new Map(
    (
      await ctx.db
        .select({ asset: transfers.asset, total: sql<string>`sum(${transfers.amount})` })
        .from(transfers)
        .innerJoin(payments, eq(payments.id, transfers.paymentId))
        .innerJoin(
          kytChecks,
          and(eq(kytChecks.subjectType, 'transfer'), eq(kytChecks.subjectId, transfers.id)),
        )
        .where(
          and(
            eq(transfers.chain, chain.name),
            ne(transfers.status, 'orphaned'),
            eq(payments.status, 'COMPLETED'),
            inArray(kytChecks.state, ['pending', 'held', 'rejected']),
          ),
        )
        .groupBy(transfers.asset)
    ).map((r) => [r.asset, BigInt(r.total)]),
  )
  // what customer addresses hold that the ledger does not book yet: unconfirmed, held or rejected deposits
  for (const d of customerHeld)
    if (d.status !== 'CONFIRMED') unallowed.set(d.asset, (unallowed.get(d.asset) ?? 0n) + d.amount)
  for (const asset of can(chain, 'coins') ? [] : chain.driver.assets) {
    let deposits = -(unallowed.get(asset.id) ?? 0n)
    for (const address of depositAddresses) deposits += await payouts.balance(address, asset)
    const onChain = {
      deposits,
      treasury: await payouts.balance(wallets.treasury.address, asset),
      gas: await payouts.balance(wallets.gas.address, asset),
    }
    for (const role of ['deposits', 'treasury', 'gas'] as const) {
      const ledger = ledgerOf(asset.id, role)
      lines.push({
        asset: asset.id,
        role,
        ledger,
        onChain: onChain[role],
        difference: onChain[role] - ledger,
      })
    }
    const cold = chain.settings.cold
    if (cold) {
      const ledger = ledgerOf(asset.id, 'cold')
      const held = await payouts.balance(cold.address, asset)
      lines.push({ asset: asset.id, role: 'cold', ledger, onChain: held, difference: held - ledger })
    }
  }

  const funding: Reconciliation['funding'] = []
  if (settled && (options.bookFunding ?? true)) {
    const surplus = lines.filter((l) => (l.role === 'treasury' || l.role === 'gas') && l.difference > 0n)
    if (surplus.length)
      await ctx.db.transaction(async (tx) => {
        // one booking run per chain at a time, and only while still nothing is in flight: a second run (the CLI
        // next to the job) waits here and then finds the surplus already booked by looking again
        await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`reconcile|${chain.name}`}, 0))`)
        const [still] = await tx
          .select({ n: sql<number>`count(*)::int` })
          .from(outboundTxs)
          .where(
            and(
              eq(outboundTxs.chain, chain.name),
              inArray(outboundTxs.status, ['built', 'signed', 'broadcast']),
            ),
          )
        if ((still?.n ?? 0) > 0) return
        const now = await accountTotals(tx, {
          chain: chain.name,
          accounts: rolesAccounts(['treasury', 'gas']),
        })
        for (const line of surplus) {
          const booked = -(
            now.find((b) => b.asset === line.asset && b.account === holdings[line.role])?.total ?? 0n
          )
          // what another run booked since this one read the ledger is not booked again
          line.difference = line.onChain - booked
          line.ledger = booked
          if (line.difference <= 0n) continue
          const ref = { chain: chain.name, asset: line.asset, refType: 'funding', refId: newId('fund') }
          await postOperatorFunding(tx, ref, line.role, line.difference)
          funding.push({ asset: line.asset, role: line.role, amount: line.difference })
          line.ledger += line.difference
          line.difference = 0n
        }
      })
  }
  return {
    chain: chain.name,
    settled,
    lines,
    funding,
    // cold storage is outside the gateway's keys and may receive other money: only a shortfall there is suspect
    discrepancies: lines.filter((l) => (l.role === 'cold' ? l.difference < 0n : l.difference !== 0n)),
  }
}

/**
 * UTXO chains have no per-address balance: what the chain holds for the gateway is the value of the coins the
 * core tracks (deposits of completed payments, treasury outputs and change, a multisig cold wallet's outputs), each
 * confirmed unspent by the node.
 */
async function coinLines(
  ctx: { db: Db },
  chain: LoadedChain,
  ledgerOf: (asset: string, role: HoldingRole) => bigint,
): Promise<ReconciliationLine[]> {
  const payouts = chain.driver.payouts as NonNullable<LoadedChain['driver']['payouts']>
  if (!payouts.unspent) throw driverLacks(chain.name, 'payouts.unspent', 'report unspent coins')
  await collectDepositCoins(ctx, chain)
  const tracked = await ctx.db
    .select()
    .from(coins)
    .where(and(eq(coins.chain, chain.name), inArray(coins.status, ['available', 'locked'])))
  const values = await payouts.unspent(tracked.map((c) => `${c.txid}:${c.vout}`))
  const asset = chain.driver.nativeAsset.id
  // a multisig cold wallet's coins are tracked too (its own cold moves fill it): its line is exact like the others
  const roles = chain.settings.cold?.multisig
    ? (['deposits', 'treasury', 'cold'] as const)
    : (['deposits', 'treasury'] as const)
  return roles.map((role) => {
    const coinRole = role === 'deposits' ? 'deposit' : role
    const onChain = tracked
      .filter((c) => c.role === coinRole)
      .reduce((sum, c) => sum + (values.get(`${c.txid}:${c.vout}`) ?? 0n), 0n)
    const ledger = ledgerOf(asset, role)
    return { asset, role, ledger, onChain, difference: onChain - ledger }
  })
}

const rolesAccounts = (roles: readonly HoldingRole[]) => roles.map((r) => holdings[r])
