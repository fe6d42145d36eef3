import { afterAll, describe, expect, test } from 'bun:test'
import { asc, eq, inArray, like, sql } from 'drizzle-orm'
import { openUnitDb, unitKeys, unitPayoutScene } from '../../../test/helpers/unit.ts'
import type { Db } from '../../db/client.ts'
import {
  ledgerPostings,
  type OutboundRow,
  outboundTxs,
  withdrawalEvents,
  withdrawals,
} from '../../db/schema/index.ts'
import { getBalances } from '../ledger/balances.ts'
import { merchantReserved } from '../ledger/postings.ts'
import { batchWithdrawals } from './batches.ts'
import { advanceOutbound } from './outbound.ts'
import { requestWithdrawal } from './withdrawals.ts'

// How one pass moves many transactions: all signed and stored before any is sent, sends of a sender's nonces
// side by side in nonce order, tracking in one round (one nonce read per sender), and settlements together.

const handle = await openUnitDb()
afterAll(() => handle.close())
const keys = unitKeys()

const credit = 10_000_000n
const amount = 300_000n

/** A toy chain of its own with `n` withdrawals built into `n` transactions (nonces 0…n-1) and a tally of calls. */
async function scene(name: string, n: number) {
  const { payouts, toy, treasury, merchantId } = await unitPayoutScene(handle, name, {
    credit,
    confirmations: 2,
  })
  const ctx = { db: handle.db, signer: keys.signer, xpubFor: keys.xpubFor }
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const { withdrawal } = await requestWithdrawal(
      { db: handle.db, xpubFor: keys.xpubFor, chains: new Map([[name, toy.chain]]) },
      merchantId,
      { chain: name, asset: 'TOY', to: `toy7${i}7`, amount: '0.003', idempotencyKey: `w${i}` },
    )
    ids.push(withdrawal.id)
  }
  expect(await batchWithdrawals(ctx, toy.chain, Date.now() + 60_000)).toBe(n)
  /** Calls of a driver method: how many, and the most that ran at once. */
  const tally = (method: 'broadcast' | 'status' | 'confirmedNonce') => {
    const calls = { count: 0, running: 0, most: 0, args: [] as string[] }
    const original = payouts.driver[method] as (arg: never) => Promise<unknown>
    ;(payouts.driver as Record<string, unknown>)[method] = async (arg: never) => {
      calls.count++
      calls.args.push(typeof arg === 'string' ? arg : (arg as { raw: string }).raw)
      calls.running++
      calls.most = Math.max(calls.most, calls.running)
      try {
        // an answer takes a moment, as a node's does: the pass may ask the next meanwhile
        await Bun.sleep(1)
        return await original(arg)
      } finally {
        calls.running--
      }
    }
    return calls
  }
  const rows = (): Promise<Array<OutboundRow & { xmin: string }>> =>
    handle.db
      .select({ row: outboundTxs, xmin: sql<string>`${outboundTxs}.xmin::text` })
      .from(outboundTxs)
      .where(eq(outboundTxs.chain, name))
      .orderBy(asc(outboundTxs.nonce))
      .then((found) => found.map((f) => ({ ...f.row, xmin: f.xmin })))
  const statuses = async () =>
    (await handle.db.select().from(withdrawals).where(eq(withdrawals.merchantId, merchantId))).map(
      (w) => w.status,
    )
  return { payouts, toy, treasury, merchantId, ctx, ids, tally, rows, statuses }
}

describe('one pass over many outbound transactions', () => {
  test('behavior: every built transaction is signed and stored before the first is sent; the sends go out in nonce order, several at once, and are recorded in one database transaction', async () => {
    const s = await scene('pipe-send', 6)
    const atFirstSend: string[][] = []
    let first = false
    const broadcast = s.payouts.driver.broadcast
    s.payouts.driver.broadcast = async (tx) => {
      if (!first) {
        first = true
        atFirstSend.push((await s.rows()).map((r) => r.status))
      }
      return broadcast(tx)
    }

    // counted outside the look above, so the order counted is the order the pass sent in
    const sends = s.tally('broadcast')

    const progress = await advanceOutbound(s.ctx, s.toy.chain)
    expect(progress).toMatchObject({ signed: 6, broadcast: 6, errors: [] })
    // when the node got the first bytes, all six were already stored signed
    expect(atFirstSend).toEqual([['signed', 'signed', 'signed', 'signed', 'signed', 'signed']])
    expect(sends.most).toBeGreaterThan(1)
    const nonceOf = (raw: string) => JSON.parse(raw.slice(0, raw.lastIndexOf('|'))).nonce
    expect(sends.args.map(nonceOf)).toEqual(['0', '1', '2', '3', '4', '5'])
    const after = await s.rows()
    expect(after.map((r) => r.status)).toEqual(Array(6).fill('broadcast'))
    // the sent bytes are the stored ones, each once
    expect(s.payouts.sent.map((t) => t.hash).sort()).toEqual(after.map((r) => r.hash as string).sort())
    // one database transaction recorded all six
    expect(new Set(after.map((r) => r.xmin)).size).toBe(1)
    expect(await s.statuses()).toEqual(Array(6).fill('BROADCAST'))
  })

  test('behavior: tracking reads the sender’s nonce once and every status in one round, and settles every mined transaction in one database transaction, each once', async () => {
    const s = await scene('pipe-track', 5)
    await advanceOutbound(s.ctx, s.toy.chain)
    const block = s.toy.mine()
    for (const [i, row] of (await s.rows()).entries())
      s.payouts.mine(row.hash as string, block.height, 100n + BigInt(i))
    s.payouts.nonces.set(s.treasury.address, 5n)
    s.toy.mineEmpty(1)
    const nonceReads = s.tally('confirmedNonce')
    const reads = s.tally('status')

    const progress = await advanceOutbound(s.ctx, s.toy.chain)
    expect(progress).toMatchObject({ confirmed: 5, errors: [] })
    expect(nonceReads.count).toBe(1)
    expect(reads.count).toBe(5)
    expect(reads.most).toBeGreaterThan(1)
    const settled = await s.rows()
    expect(settled.map((r) => [r.status, r.fee])).toEqual([
      ['confirmed', 100n],
      ['confirmed', 101n],
      ['confirmed', 102n],
      ['confirmed', 103n],
      ['confirmed', 104n],
    ])
    expect(new Set(settled.map((r) => r.xmin)).size).toBe(1)
    expect(await s.statuses()).toEqual(Array(5).fill('CONFIRMED'))
    // more passes book nothing twice
    await Promise.all([advanceOutbound(s.ctx, s.toy.chain), advanceOutbound(s.ctx, s.toy.chain)])
    for (const id of s.ids) {
      const postings = await handle.db
        .select()
        .from(ledgerPostings)
        .where(like(ledgerPostings.refId, `${id}#%`))
      expect(postings.map((p) => p.refId.split('#')[1]).sort()).toEqual([
        'fee',
        'fee',
        'reserve',
        'reserve',
        'settle',
        'settle',
      ])
    }
    const [b] = await getBalances({ db: handle.db }, s.merchantId)
    expect({ available: b?.available, reserved: b?.reserved }).toEqual({
      available: credit - 5n * amount,
      reserved: 0n,
    })
  })

  test('behavior: a settlement that cannot be booked holds up no other: the rest settle, it stays sent and is reported', async () => {
    const s = await scene('pipe-isolated', 3)
    await advanceOutbound(s.ctx, s.toy.chain)
    const sent = await s.rows()
    const block = s.toy.mine()
    for (const row of sent) s.payouts.mine(row.hash as string, block.height, 50n)
    s.payouts.nonces.set(s.treasury.address, 3n)
    s.toy.mineEmpty(1)
    // half of the second withdrawal's settlement is already booked: booking it again is refused
    const [second] = await handle.db
      .select()
      .from(withdrawals)
      .where(eq(withdrawals.outboundTxId, sent[1]!.id))
    await handle.db.insert(ledgerPostings).values({
      merchantId: s.merchantId,
      chain: 'pipe-isolated',
      asset: s.toy.native.id,
      account: merchantReserved,
      amount: -amount,
      refType: 'withdrawal',
      refId: `${second!.id}#settle`,
    })

    const progress = await advanceOutbound(s.ctx, s.toy.chain)
    expect(progress.confirmed).toBe(2)
    expect(progress.errors.map((e) => [e.id, e.code])).toEqual([[sent[1]!.id, 'PARTIAL_POSTINGS']])
    expect((await s.rows()).map((r) => r.status)).toEqual(['confirmed', 'broadcast', 'confirmed'])
    const byId = new Map(
      (await handle.db.select().from(withdrawals).where(eq(withdrawals.merchantId, s.merchantId))).map(
        (w) => [w.outboundTxId, w.status],
      ),
    )
    expect(sent.map((r) => byId.get(r.id))).toEqual(['CONFIRMED', 'BROADCAST', 'CONFIRMED'])
  })

  test('behavior: more built transactions than one signing round: the first round is stored signed and sent while the next is signed, every send in nonce order and each only once it is stored', async () => {
    const s = await scene('pipe-rounds', 33)
    const sends = s.tally('broadcast')
    let signings = 0
    const sign = s.payouts.driver.sign
    s.payouts.driver.sign = (tx, from, signer) => {
      signings++
      return sign(tx, from, signer)
    }
    const signedAtFirstSend: number[] = []
    const notStored: string[] = []
    const broadcast = s.payouts.driver.broadcast
    s.payouts.driver.broadcast = async (tx) => {
      if (signedAtFirstSend.length === 0) signedAtFirstSend.push(signings)
      // the bytes sent are stored (signed) first
      if (!(await s.rows()).some((r) => r.hash === tx.hash && r.raw === tx.raw)) notStored.push(tx.hash)
      return broadcast(tx)
    }

    const progress = await advanceOutbound(s.ctx, s.toy.chain)
    expect(progress).toMatchObject({ signed: 33, broadcast: 33, errors: [] })
    // the first round went out before the last was signed
    expect(signedAtFirstSend).toEqual([32])
    expect(signings).toBe(33)
    expect(notStored).toEqual([])
    const nonceOf = (raw: string) => Number(JSON.parse(raw.slice(0, raw.lastIndexOf('|'))).nonce)
    expect(sends.args.map(nonceOf)).toEqual(Array.from({ length: 33 }, (_, i) => i))
    expect(sends.most).toBeGreaterThan(1)
    expect((await s.rows()).map((r) => r.status)).toEqual(Array(33).fill('broadcast'))
    expect(await s.statuses()).toEqual(Array(33).fill('BROADCAST'))
  })

  test('behavior: a chunk of settlements is written with bulk statements, not statements per withdrawal, each settlement still whole', async () => {
    const n = 30
    const s = await scene('pipe-bulk', n)
    await advanceOutbound(s.ctx, s.toy.chain)
    const sent = await s.rows()
    const block = s.toy.mine()
    for (const [i, row] of sent.entries()) s.payouts.mine(row.hash as string, block.height, 40n + BigInt(i))
    s.payouts.nonces.set(s.treasury.address, BigInt(n))
    s.toy.mineEmpty(1)
    // every statement the pass sends inside a database transaction, counted
    let statements = 0
    const counting = <T extends object>(target: T): T =>
      new Proxy(target, {
        get(t, prop) {
          const value = Reflect.get(t, prop)
          if (typeof value !== 'function') return value
          if (['select', 'insert', 'update', 'delete', 'execute'].includes(String(prop)))
            return (...args: unknown[]) => {
              statements++
              return value.apply(t, args)
            }
          if (prop === 'transaction')
            return (run: (tx: unknown) => unknown, config?: unknown) =>
              value.call(t, (tx: object) => run(counting(tx)), config)
          return value.bind(t)
        },
      })
    const db = new Proxy(handle.db, {
      get(t, prop) {
        const value = Reflect.get(t, prop)
        if (prop === 'transaction') return counting(t).transaction
        return typeof value === 'function' ? value.bind(t) : value
      },
    }) as Db

    const progress = await advanceOutbound({ ...s.ctx, db }, s.toy.chain)
    expect(progress).toMatchObject({ confirmed: n, errors: [] })
    // one per table touched, whatever the number of withdrawals (one by one: six or more per withdrawal)
    expect(statements).toBeGreaterThan(0)
    expect(statements).toBeLessThanOrEqual(6)
    // each whole: its transaction confirmed with its fee, the withdrawal CONFIRMED with that fee and one event,
    // and its settle and fee bookings, once
    const settled = await s.rows()
    expect(settled.map((r) => [r.status, r.fee])).toEqual(
      Array.from({ length: n }, (_, i) => ['confirmed', 40n + BigInt(i)]),
    )
    const paid = await handle.db.select().from(withdrawals).where(inArray(withdrawals.id, s.ids))
    const feeOf = new Map(settled.map((r) => [r.id, r.fee]))
    for (const w of paid) {
      expect([w.status, w.networkFee]).toEqual(['CONFIRMED', feeOf.get(w.outboundTxId as string) as bigint])
      const events = await handle.db
        .select()
        .from(withdrawalEvents)
        .where(eq(withdrawalEvents.withdrawalId, w.id))
        .orderBy(asc(withdrawalEvents.seq))
      expect(events.map((e) => [e.seq, e.type])).toEqual([
        [1, 'withdrawal.requested'],
        [2, 'withdrawal.batched'],
        [3, 'withdrawal.broadcast'],
        [4, 'withdrawal.confirmed'],
      ])
      expect(events[3]?.data).toEqual({
        hash: settled.find((r) => r.id === w.outboundTxId)?.hash,
        blockHeight: String(block.height),
      })
      const postings = await handle.db
        .select()
        .from(ledgerPostings)
        .where(like(ledgerPostings.refId, `${w.id}#%`))
      const booked = (suffix: string) =>
        postings
          .filter((p) => p.refId.endsWith(`#${suffix}`))
          .reduce((sum, p) => sum + (p.amount > 0n ? p.amount : 0n), 0n)
      expect(booked('settle')).toBe(amount)
      expect(booked('fee')).toBe(feeOf.get(w.outboundTxId as string) as bigint)
    }
    // again: nothing booked twice
    await advanceOutbound(s.ctx, s.toy.chain)
    const [b] = await getBalances({ db: handle.db }, s.merchantId)
    expect({ available: b?.available, reserved: b?.reserved }).toEqual({
      available: credit - BigInt(n) * amount,
      reserved: 0n,
    })
  })
})
