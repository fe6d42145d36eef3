import { afterAll, describe, expect, test } from 'bun:test'
import type { PGlite } from '@electric-sql/pglite'
import { DriverError } from '@tollgate/sdk'
import { and, asc, eq } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/pglite'
import { openUnitDb, unitKeys, unitPayoutScene } from '../../../test/helpers/unit.ts'
import type { Db } from '../../db/client.ts'
import * as schema from '../../db/schema/index.ts'
import { outboundTxs, senderNonces, withdrawalEvents, withdrawals } from '../../db/schema/index.ts'
import { getBalances } from '../ledger/balances.ts'
import { batchWithdrawals } from './batches.ts'
import { collectWithdrawalChanges } from './withdrawal-changes.ts'
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

  test('behavior: transactions are built side by side, yet each takes its nonce in request order', async () => {
    const s = await setup('side-by-side')
    const build = s.payouts.driver.build
    let inFlight = 0
    let most = 0
    s.payouts.driver.build = async (request, signal) => {
      inFlight++
      most = Math.max(most, inFlight)
      // later requests answer first
      await Bun.sleep(12 - Number(request.outputs[0]?.amount ?? 0n) / 100)
      inFlight--
      return build(request, signal)
    }
    const queued = []
    for (let i = 1; i <= 10; i++) queued.push(await s.request(BigInt(i) * 100n, `toy${i}`))
    expect(await s.batch()).toBe(10)
    expect(most).toBeGreaterThan(1)
    const built = await s.outbound()
    expect(built.map((r) => [r.nonce, r.amount, (r.unsigned as { nonce: string }).nonce])).toEqual(
      queued.map((w, i) => [5n + BigInt(i), w.amount, String(5 + i)]),
    )
    for (const [i, w] of queued.entries())
      expect(await withdrawal(w.id)).toMatchObject({ status: 'BATCHED', outboundTxId: built[i]?.id })
    expect(await s.nextNonce()).toBe(15n)
  })

  test('behavior: a build failing among side-by-side builds: the ones after it are built again with the nonce it left', async () => {
    const s = await setup('side-by-side-fails')
    const build = s.payouts.driver.build
    s.payouts.driver.build = async (request, signal) => {
      await Bun.sleep(1)
      if (request.outputs[0]?.to === 'toybad')
        throw new DriverError('DESTINATION_REFUSED', 'the token refuses this address', { retryable: false })
      return build(request, signal)
    }
    const first = await s.request(100n, 'toy1')
    const bad = await s.request(200n, 'toybad')
    const rest = [await s.request(300n, 'toy3'), await s.request(400n, 'toy4')]
    expect(await s.batch()).toBe(3)
    const built = await s.outbound()
    // what was stored is what was built: the payload's nonce is the row's
    expect(built.map((r) => [r.nonce, r.amount, (r.unsigned as { nonce: string }).nonce])).toEqual([
      [5n, 100n, '5'],
      [6n, 300n, '6'],
      [7n, 400n, '7'],
    ])
    expect(await s.nextNonce()).toBe(8n)
    expect((await withdrawal(first.id)).status).toBe('BATCHED')
    for (const w of rest) expect((await withdrawal(w.id)).status).toBe('BATCHED')
    expect(await withdrawal(bad.id)).toMatchObject({ status: 'QUEUED', buildAttempts: 1 })
  })

  test('behavior: funds a failed build leaves free go to the next withdrawal they cover, as built one by one', async () => {
    // 500 units: 300 (fails to build), then 400 (fits once the 300 is not spent), then 200 (no longer fits)
    const s = await setup('side-by-side-funds', 500n)
    const build = s.payouts.driver.build
    s.payouts.driver.build = async (request, signal) => {
      await Bun.sleep(1)
      if (request.outputs[0]?.to === 'toybad')
        throw new DriverError('UNAVAILABLE', 'node down', { retryable: true })
      return build(request, signal)
    }
    const bad = await s.request(300n, 'toybad')
    const big = await s.request(400n, 'toy2')
    const small = await s.request(200n, 'toy3')
    expect(await s.batch()).toBe(1)
    expect(
      (await s.outbound()).map((r) => [r.nonce, r.amount, (r.unsigned as { nonce: string }).nonce]),
    ).toEqual([[5n, 400n, '5']])
    expect(await withdrawal(bad.id)).toMatchObject({ status: 'QUEUED', lastError: 'node down' })
    expect((await withdrawal(big.id)).status).toBe('BATCHED')
    expect(await withdrawal(small.id)).toMatchObject({
      status: 'QUEUED',
      lastError: 'waiting for the treasury to hold 200 base units of TOY',
    })
    expect(await s.nextNonce()).toBe(6n)
  })

  test('behavior: a pass writes its transactions, events and transitions in bulk: as many statements for 40 as for 4', async () => {
    const statementsFor = async (name: string, n: number) => {
      const s = await setup(name)
      const ws: WithdrawalRow[] = []
      for (let i = 0; i < n; i++) ws.push(await s.request(100n + BigInt(i), `toydest${i}`))
      let statements = 0
      const counted = drizzle((handle.db as unknown as { $client: PGlite }).$client, {
        schema,
        logger: { logQuery: () => void statements++ },
      }) as unknown as Db
      const { result, changes } = await collectWithdrawalChanges(() =>
        batchWithdrawals({ db: counted, xpubFor: keys.xpubFor }, s.toy.chain, Date.now() + 60_000),
      )
      expect(result).toBe(n)
      // each withdrawal moved once, with its event (seq 2: requested, then batched), and said so
      const events = await handle.db
        .select()
        .from(withdrawalEvents)
        .where(eq(withdrawalEvents.type, 'withdrawal.batched'))
      for (const w of ws) {
        expect(
          events.filter((e) => e.withdrawalId === w.id).map((e) => [e.seq, e.fromStatus, e.toStatus]),
        ).toEqual([[2, 'QUEUED', 'BATCHED']])
        expect((await withdrawal(w.id)).eventSeq).toBe(2)
      }
      expect(changes.map((c) => [c.withdrawalId, c.seq, c.type])).toEqual(
        ws.map((w) => [w.id, 2, 'withdrawal.batched']),
      )
      return statements
    }
    expect(await statementsFor('bulk-40', 40)).toBe(await statementsFor('bulk-4', 4))
  })
})
