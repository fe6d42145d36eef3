import { afterAll, describe, expect, test } from 'bun:test'
import type { DigestSigner } from '@tollgate/sdk'
import { asc, eq } from 'drizzle-orm'
import { openUnitDb, unitKeys, unitPayoutScene } from '../../../test/helpers/unit.ts'
import { outboundTxs, withdrawals } from '../../db/schema/index.ts'
import { withCallDeadlines } from '../deadlines.ts'
import { batchWithdrawals } from './batches.ts'
import { advanceOutbound } from './outbound.ts'
import { requestWithdrawal } from './withdrawals.ts'

// A node that does not answer one call in time: the payout pass gives that step up after the chain's
// callTimeoutMs and goes on with the others; nothing is sent twice when the slow call did go through.

const handle = await openUnitDb()
afterAll(() => handle.close())
const keys = unitKeys()

async function setup(name: string) {
  const scene = await unitPayoutScene(handle, name, { credit: 10n ** 9n, confirmations: 1 })
  const { toy, payouts, merchantId } = scene
  toy.chain.settings.callTimeoutMs = 50
  const signatures: string[] = []
  const signer: DigestSigner = {
    publicKey: keys.signer.publicKey,
    signDigest: (path, digest) => {
      signatures.push(path)
      return keys.signer.signDigest(path, digest)
    },
  }
  const ctx = { db: handle.db, signer, xpubFor: keys.xpubFor }
  const request = (to: string, key: string) =>
    requestWithdrawal({ ...ctx, chains: new Map([[name, toy.chain]]) }, merchantId, {
      chain: name,
      asset: 'TOY',
      to,
      amount: '0.001',
      idempotencyKey: key,
    })
  const rows = () =>
    handle.db.select().from(outboundTxs).where(eq(outboundTxs.chain, name)).orderBy(asc(outboundTxs.nonce))
  return { ...scene, payouts, ctx, signatures, request, rows, bounded: withCallDeadlines(toy.chain) }
}

describe('payout passes under a slow node', () => {
  test('default: a broadcast past the deadline fails its own step; the others are sent; the late one is sent again as the same bytes and settles once', async () => {
    const s = await setup('slowsend')
    for (const [i, to] of ['toya1', 'toya2', 'toya3'].entries()) await s.request(to, `k${i}`)
    expect(await batchWithdrawals(s.ctx, s.bounded, Date.now() + 60_000)).toBe(3)
    // the node takes the first broadcast (nonce 0) but never answers it
    const broadcast = s.payouts.driver.broadcast
    let held = 0
    s.payouts.driver.broadcast = (tx) => {
      if (JSON.parse(tx.raw.slice(0, tx.raw.lastIndexOf('|'))).nonce === '0' && held++ === 0)
        return broadcast(tx).then(() => new Promise<never>(() => {}))
      return broadcast(tx)
    }

    const first = await advanceOutbound(s.ctx, s.bounded)
    expect(first).toMatchObject({ signed: 3, broadcast: 2 })
    expect(first.errors.map((e) => e.code)).toEqual(['RPC_DEADLINE'])
    // it did reach the node: the chain has all three, once each
    expect(s.payouts.sent.map((t) => t.payload.nonce).sort()).toEqual(['0', '1', '2'])

    const second = await advanceOutbound(s.ctx, s.bounded)
    expect(second).toMatchObject({ signed: 0, broadcast: 1, errors: [] })
    s.toy.mineEmpty(5)
    for (const tx of s.payouts.sent) s.payouts.mine(tx.hash, 5n)
    const third = await advanceOutbound(s.ctx, s.bounded)
    expect(third.confirmed).toBe(3)
    // signed once each, the same bytes sent again, settled once each
    expect(s.signatures).toHaveLength(3)
    expect(s.payouts.sent).toHaveLength(3)
    const rows = await s.rows()
    expect(rows.map((r) => [r.nonce, r.status])).toEqual([
      [0n, 'confirmed'],
      [1n, 'confirmed'],
      [2n, 'confirmed'],
    ])
    const settled = await handle.db.select().from(withdrawals).where(eq(withdrawals.chain, 'slowsend'))
    expect(settled.map((w) => w.status)).toEqual(['CONFIRMED', 'CONFIRMED', 'CONFIRMED'])
  })

  test('behavior: a build past the deadline leaves its withdrawal queued; the next one is built and takes the nonce', async () => {
    const s = await setup('slowbuild')
    const slow = await s.request('toyslow', 'slow')
    const quick = await s.request('toyquick', 'quick')
    const build = s.payouts.driver.build
    s.payouts.driver.build = (request) =>
      request.outputs[0]?.to === 'toyslow' ? new Promise<never>(() => {}) : build(request)
    expect(await batchWithdrawals(s.ctx, s.bounded, Date.now() + 60_000)).toBe(1)
    const rows = await handle.db.select().from(withdrawals).where(eq(withdrawals.chain, 'slowbuild'))
    const byId = new Map(rows.map((w) => [w.id, w]))
    expect(byId.get(slow.withdrawal.id)).toMatchObject({ status: 'QUEUED', buildAttempts: 1 })
    expect(byId.get(slow.withdrawal.id)?.lastError).toContain('did not answer within 50 ms')
    expect(byId.get(quick.withdrawal.id)?.status).toBe('BATCHED')
    expect((await s.rows()).map((r) => r.nonce)).toEqual([0n])

    // the node answers again: the queued one goes out with the next nonce
    s.payouts.driver.build = build
    expect(await batchWithdrawals(s.ctx, s.bounded, Date.now() + 60_000)).toBe(1)
    expect((await s.rows()).map((r) => r.nonce)).toEqual([0n, 1n])
  })
})
