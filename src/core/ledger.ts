import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { ledgerPostings } from '../db/schema/index.ts'

/** The merchant's spendable balance of an asset. */
export const merchantAvailable = 'merchant:available'
/** Counter-account of payment credits: what deposits brought in. */
export const depositsReceived = 'gateway:deposits'

/**
 * Brings what the ledger credits a merchant for a payment to `target`, by posting the difference (credit or
 * reversal) as a balanced pair. `refId` makes a re-run of the same step a no-op.
 */
export async function syncPaymentCredit(
  tx: Tx,
  p: { paymentId: string; merchantId: string; chain: string; asset: string; target: bigint; refId: string },
): Promise<bigint> {
  const [row] = await tx
    .select({ credited: sql<string>`coalesce(sum(${ledgerPostings.amount}), 0)` })
    .from(ledgerPostings)
    .where(
      and(
        eq(ledgerPostings.refType, 'payment'),
        sql`${ledgerPostings.refId} like ${`${p.paymentId}#%`}`,
        eq(ledgerPostings.account, merchantAvailable),
      ),
    )
  const delta = p.target - BigInt(row?.credited ?? '0')
  if (delta === 0n) return 0n
  const common = {
    merchantId: p.merchantId,
    chain: p.chain,
    asset: p.asset,
    refType: 'payment',
    refId: p.refId,
  }
  await tx
    .insert(ledgerPostings)
    .values([
      { ...common, account: merchantAvailable, amount: delta },
      { ...common, account: depositsReceived, amount: -delta },
    ])
    .onConflictDoNothing()
  return delta
}
