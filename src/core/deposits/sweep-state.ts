import { and, eq, inArray } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { deposits } from '../../db/schema/index.ts'

/**
 * Whether a customer address's balance of an asset may be swept: `allowed` (every deposit of it there confirmed
 * and allowed), `waiting` (one not deep enough yet, or held by screening), `rejected` (one rejected: the whole
 * balance must stay, its funds are kept for the operator). A sweep takes the whole balance, so it asks this right
 * before it moves anything.
 *
 * @example
 * if ((await customerAddressScreening(db, sweep.customerAddressId, sweep.asset)) !== 'allowed') return 'waiting'
 */
export async function customerAddressScreening(
  db: Db,
  customerAddressId: string,
  asset: string,
): Promise<'allowed' | 'waiting' | 'rejected'> {
  const rows = await db
    .select({ status: deposits.status })
    .from(deposits)
    .where(
      and(
        eq(deposits.customerAddressId, customerAddressId),
        eq(deposits.asset, asset),
        inArray(deposits.status, ['SEEN', 'HELD', 'REJECTED']),
      ),
    )
  if (rows.some((r) => r.status === 'REJECTED')) return 'rejected'
  return rows.length > 0 ? 'waiting' : 'allowed'
}
