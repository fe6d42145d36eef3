import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { openUnitDb, unitCredit, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle, Tx } from '../../db/client.ts'
import { newId } from '../ids.ts'
import { availableBalance, getBalances, lockBalance } from './balances.ts'
import { postFee, postInternalMove, postWithdrawalReserve } from './postings.ts'

const native = 'toy:toy/slip44:1'
const token = 'toy:toy/token:tok'
const other = 'toy:other/slip44:1'

let handle: DbHandle
// the first database of a test process migrates the template: seconds on a busy machine
beforeAll(async () => {
  handle = await openUnitDb()
}, 30_000)
afterAll(() => handle.close())

/** Advisory locks this session holds right now. */
async function advisoryLocks(tx: Tx) {
  const rows = await tx.execute<{ n: number }>(
    sql`select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()`,
  )
  return (rows as unknown as { rows: Array<{ n: number }> }).rows[0]?.n ?? 0
}

describe('balances', () => {
  test('default: a merchant without postings has no balances and nothing available', async () => {
    const merchantId = await unitMerchant(handle, 'Empty Shop')
    expect(await getBalances({ db: handle.db }, merchantId)).toEqual([])
    expect(await handle.db.transaction((tx) => availableBalance(tx, merchantId, 'toy', native))).toBe(0n)
  })

  test('behavior: balances are the sums of the merchant’s own postings per (chain, asset), sorted', async () => {
    const merchantId = await unitMerchant(handle, 'Summing Shop')
    const neighbour = await unitMerchant(handle, 'Neighbour Shop')
    await unitCredit(handle, merchantId, 'toy', token, 5_000n)
    await unitCredit(handle, merchantId, 'toy', native, 100n)
    await unitCredit(handle, merchantId, 'toy', native, 23n)
    await unitCredit(handle, merchantId, 'other', other, 9n)
    await unitCredit(handle, neighbour, 'toy', native, 1_000_000n)
    await handle.db.transaction(async (tx) => {
      await postWithdrawalReserve(tx, {
        id: newId('wd'),
        merchantId,
        chain: 'toy',
        asset: token,
        amount: 1_200n,
      })
      // the gateway's own accounts are nobody's balance
      await postInternalMove(
        tx,
        { chain: 'toy', asset: native, refType: 't', refId: newId('t') },
        'deposits',
        'treasury',
        50n,
      )
      await postFee(tx, { chain: 'toy', asset: native, refType: 't', refId: newId('t') }, 'treasury', 3n)
    })
    expect(await getBalances({ db: handle.db }, merchantId)).toEqual([
      { chain: 'other', asset: other, available: 9n, reserved: 0n },
      { chain: 'toy', asset: native, available: 123n, reserved: 0n },
      { chain: 'toy', asset: token, available: 3_800n, reserved: 1_200n },
    ])
    await handle.db.transaction(async (tx) => {
      expect(await availableBalance(tx, merchantId, 'toy', token)).toBe(3_800n)
      expect(await availableBalance(tx, merchantId, 'toy', native)).toBe(123n)
      // the same asset id on another chain name is another balance
      expect(await availableBalance(tx, merchantId, 'other', native)).toBe(0n)
    })
  })

  test('behavior: lockBalance holds a transaction-scoped lock per (merchant, chain, asset) until the transaction ends', async () => {
    const merchantId = await unitMerchant(handle, 'Locking Shop')
    await handle.db.transaction(async (tx) => {
      expect(await advisoryLocks(tx)).toBe(0)
      await lockBalance(tx, merchantId, 'toy', native)
      expect(await advisoryLocks(tx)).toBe(1)
      // taking it again in the same transaction does not block; another asset is another lock
      await lockBalance(tx, merchantId, 'toy', native)
      await lockBalance(tx, merchantId, 'toy', token)
      expect(await advisoryLocks(tx)).toBe(2)
    })
    await handle.db.transaction(async (tx) => {
      expect(await advisoryLocks(tx)).toBe(0)
    })
  })
})
