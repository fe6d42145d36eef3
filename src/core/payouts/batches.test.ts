import { afterAll, describe, expect, test } from 'bun:test'
import { DriverError } from '@tollgate/sdk'
import { and, asc, eq } from 'drizzle-orm'
import { openUnitDb, unitKeys, unitPayoutScene } from '../../../test/helpers/unit.ts'
import { outboundTxs, senderNonces, withdrawals } from '../../db/schema/index.ts'
import { getBalances } from '../ledger/balances.ts'
import { batchWithdrawals } from './batches.ts'
import type { WithdrawalRow } from './withdrawal-transitions.ts'
import { requestWithdrawal } from './withdrawals.ts'

const handle = await openUnitDb()
afterAll(() => handle.close())
const keys = unitKeys()

/** A toy chain of its own with a treasury holding `treasuryHolds` TOY base units and a merchant holding plenty. */
async function setup(name: string, treasuryHolds = 10n ** 12n, chainNonce = 5n) {
  const { payouts, toy, treasury, merchantId } = await unitPayoutScene(handle, name, {
    treasuryHolds,
    credit: 10n ** 9n,
  })
  payouts.nonces.set(treasury.address, chainNonce)
  const ctx = { db: handle.db, xpubFor: keys.xpubFor }
  let keyNo = 0
  return {
    payouts,
    toy,
    treasury,
    merchantId,
    /** Requests a withdrawal of `amount` base units to `to`. */
    request: async (amount: bigint, to = 'toy42'): Promise<WithdrawalRow> =>
      (
        await requestWithdrawal(
          { db: handle.db, xpubFor: keys.xpubFor, chains: new Map([[name, toy.chain]]) },
          merchantId,
          {
            chain: name,
            asset: 'TOY',
            to,
            amount: (Number(amount) / 1e8).toFixed(8),
            idempotencyKey: `k${++keyNo}`,
          },
        )
      ).withdrawal,
    /** One payout pass with every batch window closed. */
    batch: () => batchWithdrawals(ctx, toy.chain, Date.now() + 60_000),
    nextNonce: async () => {
      const [row] = await handle.db
        .select()
        .from(senderNonces)
        .where(and(eq(senderNonces.chain, name), eq(senderNonces.address, treasury.address)))
      return row?.next
    },
    outbound: () =>
      handle.db
        .select()
        .from(outboundTxs)
        .where(eq(outboundTxs.chain, name))
        .orderBy(asc(outboundTxs.nonce), asc(outboundTxs.createdAt)),
  }
}

async function withdrawal(id: string): Promise<WithdrawalRow> {
  const [row] = await handle.db.select().from(withdrawals).where(eq(withdrawals.id, id))
  return row as WithdrawalRow
}

describe('batchWithdrawals', () => {
  test('default: queued withdrawals become built transactions with consecutive nonces, BATCHED in the same step', async () => {
    const s = await setup('batch')
    const queued = [
      await s.request(100n, 'toy1'),
      await s.request(200n, 'toy2'),
      await s.request(300n, 'toy3'),
    ]
    expect(await s.batch()).toBe(3)
    const built = await s.outbound()
    // one output per transaction on this chain, nonces from the chain's count on, in request order
    expect(built.map((r) => [r.status, r.nonce, r.amount, r.unsigned.outputs])).toEqual([
      ['built', 5n, 100n, [{ to: 'toy1', amount: '100' }]],
      ['built', 6n, 200n, [{ to: 'toy2', amount: '200' }]],
      ['built', 7n, 300n, [{ to: 'toy3', amount: '300' }]],
    ])
    expect(built.every((r) => r.fromAddress === s.treasury.address && r.fromPath === s.treasury.path)).toBe(
      true,
    )
    expect(await s.nextNonce()).toBe(8n)
    for (const [i, w] of queued.entries())
      expect(await withdrawal(w.id)).toMatchObject({ status: 'BATCHED', outboundTxId: built[i]?.id })
    // nothing left to build, no nonce taken
    expect(await s.batch()).toBe(0)
    expect(await s.nextNonce()).toBe(8n)
  })

  test('behavior: an open batch window holds withdrawals back until it closes', async () => {
    const s = await setup('window')
    s.toy.chain.settings.payouts.windowMs = 60_000
    const w = await s.request(100n)
    expect(await batchWithdrawals({ db: handle.db, xpubFor: keys.xpubFor }, s.toy.chain, Date.now())).toBe(0)
    expect((await withdrawal(w.id)).status).toBe('QUEUED')
    expect(
      await batchWithdrawals({ db: handle.db, xpubFor: keys.xpubFor }, s.toy.chain, Date.now() + 61_000),
    ).toBe(1)
  })

  test('behavior: a treasury short of funds leaves withdrawals QUEUED with a reason and takes no nonce', async () => {
    const s = await setup('short', 500n)
    const first = await s.request(300n)
    const second = await s.request(300n)
    // what built transactions will take counts as spent: 500 covers one of them
    expect(await s.batch()).toBe(1)
    expect(await s.batch()).toBe(0)
    expect((await withdrawal(first.id)).status).toBe('BATCHED')
    expect(await withdrawal(second.id)).toMatchObject({
      status: 'QUEUED',
      lastError: 'waiting for the treasury to hold 300 base units of TOY',
    })
    expect(await s.nextNonce()).toBe(6n)
    // the treasury filled up: it goes out with the next nonce
    s.payouts.balances.set(`${s.treasury.address}/${s.toy.native.id}`, 600n)
    expect(await s.batch()).toBe(1)
    expect((await s.outbound()).map((r) => r.nonce)).toEqual([5n, 6n])
  })

  test('behavior: a build that fails costs no nonce; the next withdrawal gets it', async () => {
    const s = await setup('build-fails')
    const build = s.payouts.driver.build
    s.payouts.driver.build = (request, signal) =>
      request.outputs[0]?.to === 'toybad'
        ? Promise.reject(
            new DriverError('DESTINATION_REFUSED', 'the token refuses this address', { retryable: false }),
          )
        : build(request, signal)
    const bad = await s.request(100n, 'toybad')
    const good = await s.request(200n, 'toy2')
    expect(await s.batch()).toBe(1)
    expect((await s.outbound()).map((r) => [r.nonce, r.amount])).toEqual([[5n, 200n]])
    expect(await s.nextNonce()).toBe(6n)
    expect((await withdrawal(good.id)).status).toBe('BATCHED')
    expect(await withdrawal(bad.id)).toMatchObject({
      status: 'QUEUED',
      buildAttempts: 1,
      lastError: 'the token refuses this address',
    })
  })

  test('behavior: after three permanent build failures the withdrawal fails and is released once', async () => {
    const s = await setup('build-gives-up')
    s.payouts.failures.build = new DriverError('DESTINATION_REFUSED', 'refused', { retryable: false })
    const w = await s.request(100n)
    const before = (await getBalances({ db: handle.db }, s.merchantId))[0]
    expect(before).toMatchObject({ available: 10n ** 9n - 100n, reserved: 100n })
    for (let i = 0; i < 2; i++) await s.batch()
    expect(await withdrawal(w.id)).toMatchObject({ status: 'QUEUED', buildAttempts: 2 })
    for (let i = 0; i < 3; i++) await s.batch()
    expect(await withdrawal(w.id)).toMatchObject({ status: 'FAILED' })
    expect((await getBalances({ db: handle.db }, s.merchantId))[0]).toMatchObject({
      available: 10n ** 9n,
      reserved: 0n,
    })
    expect(await s.outbound()).toEqual([])
    expect(await s.nextNonce()).toBe(5n)
  })

  test('behavior: retryable build failures never fail the withdrawal', async () => {
    const s = await setup('build-retries')
    s.payouts.failures.build = new DriverError('UNAVAILABLE', 'node down', { retryable: true })
    const w = await s.request(100n)
    for (let i = 0; i < 5; i++) await s.batch()
    expect(await withdrawal(w.id)).toMatchObject({
      status: 'QUEUED',
      buildAttempts: 5,
      lastError: 'node down',
    })
    delete s.payouts.failures.build
    expect(await s.batch()).toBe(1)
    expect(await s.nextNonce()).toBe(6n)
  })
})
