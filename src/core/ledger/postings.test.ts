import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { like, sql } from 'drizzle-orm'
import { openUnitDb, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { ledgerPostings } from '../../db/schema/index.ts'
import { GatewayError } from '../errors.ts'
import { newId } from '../ids.ts'
import { getBalances } from './balances.ts'
import {
  belowMinimumHeld,
  depositsReceived,
  holdings,
  merchantAvailable,
  merchantReserved,
  operatorFees,
  operatorFunds,
  postFee,
  postInternalMove,
  postOperatorFunding,
  postWithdrawalRelease,
  postWithdrawalReserve,
  postWithdrawalSettle,
  syncDepositCredit,
  syncPaymentCredit,
} from './postings.ts'

const chain = 'toy'
const native = 'toy:toy/slip44:1'
const token = 'toy:toy/token:tok'

let handle: DbHandle
let merchantId: string
// the first database of a test process migrates the template: seconds on a busy machine
beforeAll(async () => {
  handle = await openUnitDb()
  merchantId = await unitMerchant(handle)
}, 30_000)
afterAll(() => handle.close())

/** Every posting whose ref id starts with `prefix`, in the order written. */
async function postingsOf(prefix: string) {
  const rows = await handle.db
    .select()
    .from(ledgerPostings)
    .where(like(ledgerPostings.refId, `${prefix}%`))
    .orderBy(ledgerPostings.id)
  return rows.map((r) => ({ refId: r.refId, account: r.account, amount: r.amount, asset: r.asset }))
}

/** Sums of the whole ledger per (chain, asset): all zero when every event was balanced. */
async function sumsPerAsset() {
  const rows = await handle.db
    .select({
      chain: ledgerPostings.chain,
      asset: ledgerPostings.asset,
      total: sql<string>`sum(${ledgerPostings.amount})`,
    })
    .from(ledgerPostings)
    .groupBy(ledgerPostings.chain, ledgerPostings.asset)
  return rows.map((r) => ({ chain: r.chain, asset: r.asset, total: BigInt(r.total) }))
}

async function countPostings(): Promise<number> {
  const [row] = await handle.db.select({ n: sql<number>`count(*)::int` }).from(ledgerPostings)
  return row?.n ?? 0
}

describe('balanced postings', () => {
  test('default: every posting function books a zero sum per (chain, asset), one pair per event', async () => {
    const w = { id: newId('wd'), merchantId, chain, asset: token, amount: 7_000n }
    const ref = (suffix: string, asset = native) => ({
      chain,
      asset,
      refType: 'test',
      refId: `${w.id}#${suffix}`,
    })
    await handle.db.transaction(async (tx) => {
      await syncPaymentCredit(tx, {
        paymentId: `${w.id}-pay`,
        merchantId,
        chain,
        asset: token,
        target: 10_000n,
      })
      await postWithdrawalReserve(tx, w)
      await postWithdrawalSettle(tx, w, { nativeAsset: native, amount: 420n })
      await postFee(tx, ref('fee'), 'gas', 99n)
      await postInternalMove(tx, ref('move', token), 'deposits', 'treasury', 5_000n)
      await postOperatorFunding(tx, ref('fund'), 'gas', 1_000n)
    })
    for (const s of await sumsPerAsset()) expect(s.total).toBe(0n)
    // per event, too: each reference's postings cancel out
    const perRef = await handle.db
      .select({ refId: ledgerPostings.refId, total: sql<string>`sum(${ledgerPostings.amount})` })
      .from(ledgerPostings)
      .groupBy(ledgerPostings.refId)
    for (const r of perRef) expect(BigInt(r.total)).toBe(0n)
    expect(await postingsOf(`${w.id}#`)).toEqual([
      { refId: `${w.id}#reserve`, account: merchantAvailable, amount: -7_000n, asset: token },
      { refId: `${w.id}#reserve`, account: merchantReserved, amount: 7_000n, asset: token },
      { refId: `${w.id}#settle`, account: merchantReserved, amount: -7_000n, asset: token },
      { refId: `${w.id}#settle`, account: holdings.treasury, amount: 7_000n, asset: token },
      { refId: `${w.id}#fee`, account: holdings.treasury, amount: 420n, asset: native },
      { refId: `${w.id}#fee`, account: operatorFees, amount: -420n, asset: native },
      { refId: `${w.id}#fee`, account: holdings.gas, amount: 99n, asset: native },
      { refId: `${w.id}#fee`, account: operatorFees, amount: -99n, asset: native },
      { refId: `${w.id}#move`, account: holdings.deposits, amount: 5_000n, asset: token },
      { refId: `${w.id}#move`, account: holdings.treasury, amount: -5_000n, asset: token },
      { refId: `${w.id}#fund`, account: holdings.gas, amount: -1_000n, asset: native },
      { refId: `${w.id}#fund`, account: operatorFunds, amount: 1_000n, asset: native },
    ])
  })

  test('behavior: a posting re-run with the same reference writes nothing more', async () => {
    const owner = await unitMerchant(handle, 'Rerun Postings Shop')
    const w = { id: newId('wd'), merchantId: owner, chain, asset: native, amount: 300n }
    await handle.db.transaction((tx) =>
      syncPaymentCredit(tx, {
        paymentId: `${w.id}-pay`,
        merchantId: owner,
        chain,
        asset: native,
        target: 1_000n,
      }),
    )
    // a second withdrawal, reserved and released (canceled) again and again
    const canceled = { ...w, id: `${w.id}-canceled`, amount: 200n }
    for (let i = 0; i < 3; i++)
      await handle.db.transaction(async (tx) => {
        await postWithdrawalReserve(tx, w)
        await postFee(tx, { chain, asset: native, refType: 'test', refId: `${w.id}#fee` }, 'treasury', 7n)
        await postWithdrawalReserve(tx, canceled)
        await postWithdrawalRelease(tx, canceled)
      })
    expect((await postingsOf(`${w.id}#`)).length).toBe(4)
    expect((await postingsOf(`${canceled.id}#`)).length).toBe(4)
    expect(await getBalances({ db: handle.db }, owner)).toEqual([
      { chain, asset: native, available: 700n, reserved: 300n },
    ])
  })

  test('behavior: a zero fee or zero move books nothing', async () => {
    const id = newId('evt')
    await handle.db.transaction(async (tx) => {
      await postFee(tx, { chain, asset: native, refType: 'test', refId: `${id}#fee` }, 'treasury', 0n)
      await postInternalMove(
        tx,
        { chain, asset: native, refType: 'test', refId: `${id}#move` },
        'gas',
        'deposits',
        0n,
      )
    })
    expect(await postingsOf(id)).toEqual([])
  })

  test('error: an unbalanced set throws UNBALANCED_POSTINGS (a bug) and writes nothing, not even the rest of its transaction', async () => {
    // every exported posting builds (x, -x) pairs from one bigint, so the only way to unbalance one is an amount
    // that is not a bigint: a numeric read back as a string (what raw queries return) does exactly that
    const id = newId('evt')
    const before = await countPostings()
    const attempts = [
      () =>
        handle.db.transaction((tx) =>
          postFee(
            tx,
            { chain, asset: native, refType: 'test', refId: `${id}#fee` },
            'treasury',
            '500' as never,
          ),
        ),
      () =>
        handle.db.transaction(async (tx) => {
          await postOperatorFunding(
            tx,
            { chain, asset: native, refType: 'test', refId: `${id}#ok` },
            'gas',
            5n,
          )
          await postInternalMove(
            tx,
            { chain, asset: native, refType: 'test', refId: `${id}#move` },
            'deposits',
            'treasury',
            '500' as never,
          )
        }),
    ]
    for (const attempt of attempts) {
      const err = await attempt().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(GatewayError)
      expect(err).toMatchObject({ kind: 'bug', code: 'UNBALANCED_POSTINGS' })
    }
    expect(await countPostings()).toBe(before)
    expect(await postingsOf(id)).toEqual([])
  })

  test('error: a set whose reference already holds part of it throws PARTIAL_POSTINGS (a bug) and writes none of it', async () => {
    const id = newId('evt')
    const ref = { chain, asset: native, refType: 'test', refId: `${id}#x` }
    await handle.db.transaction((tx) => postFee(tx, ref, 'treasury', 5n))
    const before = await countPostings()
    // another event under the same reference: its treasury side would collide, its gas side would not
    const err = await handle.db
      .transaction((tx) => postInternalMove(tx, ref, 'gas', 'treasury', 7n))
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ kind: 'bug', code: 'PARTIAL_POSTINGS' })
    expect(await countPostings()).toBe(before)
    const ledgerSum = (await postingsOf(id)).reduce((sum, r) => sum + r.amount, 0n)
    expect(ledgerSum).toBe(0n)
  })

  test('behavior: a move from a wallet to itself books nothing (never one side of it)', async () => {
    const id = newId('evt')
    await handle.db.transaction((tx) =>
      postInternalMove(
        tx,
        { chain, asset: native, refType: 'test', refId: `${id}#self` },
        'treasury',
        'treasury',
        9n,
      ),
    )
    expect(await postingsOf(id)).toEqual([])
  })
})

describe('syncPaymentCredit', () => {
  const credit = (paymentId: string, target: bigint, owner = merchantId) =>
    handle.db.transaction((tx) =>
      syncPaymentCredit(tx, {
        paymentId,
        merchantId: owner,
        chain,
        asset: native,
        target,
      }),
    )

  test('default: a completed payment credits the merchant its confirmed amount against gateway:deposits', async () => {
    const owner = await unitMerchant(handle, 'Credit Shop')
    const paymentId = newId('pay')
    expect(await credit(paymentId, 12_345n, owner)).toBe(12_345n)
    expect(await getBalances({ db: handle.db }, owner)).toEqual([
      { chain, asset: native, available: 12_345n, reserved: 0n },
    ])
    expect(await postingsOf(paymentId)).toEqual([
      { refId: `${paymentId}#c1`, account: merchantAvailable, amount: 12_345n, asset: native },
      { refId: `${paymentId}#c1`, account: depositsReceived, amount: -12_345n, asset: native },
    ])
  })

  test('behavior: the credit is booked once however often it runs, with the same step or a later one', async () => {
    const owner = await unitMerchant(handle, 'Rerun Shop')
    const paymentId = newId('pay')
    for (let i = 0; i < 4; i++) await credit(paymentId, 500n, owner)
    // a later refresh of the same amount (another event number) finds nothing left to book
    expect(await credit(paymentId, 500n, owner)).toBe(0n)
    expect((await postingsOf(paymentId)).length).toBe(2)
    expect((await getBalances({ db: handle.db }, owner))[0]?.available).toBe(500n)
  })

  test('behavior: a payment that goes back is reversed, and credited again when it completes again', async () => {
    const owner = await unitMerchant(handle, 'Reorg Shop')
    const paymentId = newId('pay')
    await credit(paymentId, 800n, owner)
    // a reorg: the payment is no longer COMPLETED, its target is 0
    expect(await credit(paymentId, 0n, owner)).toBe(-800n)
    expect(await credit(paymentId, 0n, owner)).toBe(0n)
    expect((await getBalances({ db: handle.db }, owner))[0]?.available).toBe(0n)
    // completed again with more confirmed: the new amount, once
    expect(await credit(paymentId, 900n, owner)).toBe(900n)
    expect(await credit(paymentId, 900n, owner)).toBe(0n)
    expect((await getBalances({ db: handle.db }, owner))[0]?.available).toBe(900n)
    const rows = await postingsOf(paymentId)
    expect(rows.length).toBe(6)
    expect(rows.reduce((sum, r) => sum + r.amount, 0n)).toBe(0n)
    const deposits = rows.filter((r) => r.account === depositsReceived).reduce((s, r) => s + r.amount, 0n)
    expect(deposits).toBe(-900n)
  })

  test('behavior: amounts that recur (credited, cut back by a reorg, credited again) are each booked', async () => {
    const owner = await unitMerchant(handle, 'Recurring Shop')
    const paymentId = newId('pay')
    // 100 confirmed, an overpayment of 50 confirmed, the 50 reorganized away, then mined again, then away again
    for (const [target, delta] of [
      [100n, 100n],
      [150n, 50n],
      [100n, -50n],
      [150n, 50n],
      [100n, -50n],
    ] as const)
      expect(await credit(paymentId, target, owner)).toBe(delta)
    expect((await getBalances({ db: handle.db }, owner))[0]?.available).toBe(100n)
    expect((await postingsOf(paymentId)).length).toBe(10)
  })

  test("behavior: one payment's credit never counts another's", async () => {
    const owner = await unitMerchant(handle, 'Two Payments Shop')
    const first = newId('pay')
    const second = newId('pay')
    await credit(first, 100n, owner)
    expect(await credit(second, 100n, owner)).toBe(100n)
    expect((await getBalances({ db: handle.db }, owner))[0]?.available).toBe(200n)
  })
})

describe('syncDepositCredit', () => {
  const book = (depositId: string, owner: string, target: bigint, belowMinimum: boolean) =>
    handle.db.transaction((tx) =>
      syncDepositCredit(tx, { depositId, merchantId: owner, chain, asset: native, target, belowMinimum }),
    )

  test('behavior: a deposit booked below the minimum and later credited moves once, under references never reused', async () => {
    const owner = await unitMerchant(handle, 'Minimum Shop')
    const depositId = newId('dep')
    await book(depositId, owner, 70n, true)
    expect((await getBalances({ db: handle.db }, owner))[0]?.available ?? 0n).toBe(0n)
    // the decision changes (another account): the first booking is taken back, the new one written, no collision
    await book(depositId, owner, 70n, false)
    await book(depositId, owner, 70n, false)
    expect((await getBalances({ db: handle.db }, owner))[0]?.available).toBe(70n)
    const rows = await postingsOf(depositId)
    expect(new Set(rows.map((r) => r.refId))).toEqual(
      new Set([`${depositId}#c1`, `${depositId}#c2`, `${depositId}#c3`]),
    )
    const sumOf = (account: string) =>
      rows.filter((r) => r.account === account).reduce((s, r) => s + r.amount, 0n)
    expect(sumOf(belowMinimumHeld)).toBe(0n)
    expect(sumOf(merchantAvailable)).toBe(70n)
    expect(sumOf(depositsReceived)).toBe(-70n)
  })
})
