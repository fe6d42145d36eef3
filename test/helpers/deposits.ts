import type { AssetInfo } from '@tollgate/sdk'
import { and, asc, count, eq, like, sql } from 'drizzle-orm'
import { depositAddress } from '../../src/core/deposits/addresses.ts'
import { merchantAvailable } from '../../src/core/ledger/postings.ts'
import type { Db, DbHandle } from '../../src/db/client.ts'
import * as schema from '../../src/db/schema/index.ts'
import { type ToyTransfer, type UnitSceneOptions, unitScene } from './unit.ts'

/**
 * A unit scene (see `unitScene`) with the steps a customer deposits test takes: give a customer of the merchant
 * a permanent address on the scene's chain, and send a coin there in a block to mine.
 *
 * @example
 * const { toy, address, send, sync } = depositScene(handle, { merchantId, name: 'dep', confirmations: 2 })
 * const { address: to } = await address('user-1')
 * toy.mine([send(to.address, '0x01', 500n)])
 * await sync()
 */
export function depositScene(handle: DbHandle, options: UnitSceneOptions & { merchantId: string }) {
  const scene = unitScene(handle, options)
  return {
    ...scene,
    /** The customer's permanent address on the scene's chain (`asset` only matters in single mode). */
    address: (customerId: string, asset?: string, merchantId = options.merchantId) =>
      depositAddress(scene.payCtx, merchantId, { customerId, chain: scene.toy.chain.name, asset }),
    /** A transfer of `amount` base units of `asset` (the native coin) to `to`, to mine. */
    send: (to: string, txHash: string, amount: bigint, asset: AssetInfo = scene.toy.native): ToyTransfer => ({
      txHash,
      index: 0,
      asset: asset.id,
      to,
      amount,
    }),
  }
}

/** A customer's deposits as stored, oldest first. */
export const depositsOfCustomer = (db: Db, customerId: string) =>
  db
    .select()
    .from(schema.deposits)
    .where(eq(schema.deposits.customerId, customerId))
    .orderBy(asc(schema.deposits.createdAt), asc(schema.deposits.id))

/** A deposit as stored. */
export const depositRow = async (db: Db, id: string) =>
  (await db.select().from(schema.deposits).where(eq(schema.deposits.id, id)))[0]!

/** A deposit's events as `[seq, type]`, in order. */
export const depositEventsOf = async (db: Db, depositId: string) =>
  (
    await db
      .select({ seq: schema.depositEvents.seq, type: schema.depositEvents.type })
      .from(schema.depositEvents)
      .where(eq(schema.depositEvents.depositId, depositId))
      .orderBy(asc(schema.depositEvents.seq))
  ).map((e) => [e.seq, e.type] as const)

/** The ledger postings of one deposit (references `<deposit>#…`, refType `deposit`). */
export const depositPostings = (db: Db, depositId: string) =>
  db
    .select()
    .from(schema.ledgerPostings)
    .where(
      and(eq(schema.ledgerPostings.refType, 'deposit'), like(schema.ledgerPostings.refId, `${depositId}#%`)),
    )

/** What `account` holds for one deposit (its postings there, summed). */
export const depositBooked = async (db: Db, depositId: string, account = merchantAvailable) =>
  (await depositPostings(db, depositId))
    .filter((p) => p.account === account)
    .reduce((sum, p) => sum + p.amount, 0n)

/** A merchant's `merchant:available` balance of one asset of a chain, over every posting. */
export const availableOf = async (db: Db, merchantId: string, chain: string, asset: string) => {
  const [row] = await db
    .select({ sum: sql<string>`coalesce(sum(${schema.ledgerPostings.amount}), 0)` })
    .from(schema.ledgerPostings)
    .where(
      and(
        eq(schema.ledgerPostings.merchantId, merchantId),
        eq(schema.ledgerPostings.account, merchantAvailable),
        eq(schema.ledgerPostings.chain, chain),
        eq(schema.ledgerPostings.asset, asset),
      ),
    )
  return BigInt(row?.sum ?? '0')
}

/** How many rows a table holds (to show that a refused request wrote nothing). */
export const rowCount = async (db: Db, table: Parameters<ReturnType<Db['select']>['from']>[0]) =>
  Number((await db.select({ n: count() }).from(table))[0]?.n ?? 0)
