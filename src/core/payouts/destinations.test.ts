import { afterAll, describe, expect, test } from 'bun:test'
import type { DestinationCheck } from '@tollgate/sdk'
import { openUnitDb, unitKeys, unitPayoutScene } from '../../../test/helpers/unit.ts'
import { TollgateError } from '../errors.ts'
import { screenDestination } from './destinations.ts'
import { requestWithdrawal } from './withdrawals.ts'

const handle = await openUnitDb()
afterAll(() => handle.close())
const keys = unitKeys()

/** A toy chain whose driver's destination check is counted per address, refusing `toyrefuses`. */
async function scene(name: string) {
  const s = await unitPayoutScene(handle, name, { credit: 10n ** 9n })
  const asked: Array<{ to: string; amount: bigint }> = []
  s.payouts.driver.checkDestination = async (a): Promise<DestinationCheck> => {
    asked.push({ to: a.to, amount: a.amount })
    return a.to === 'toyrefuses'
      ? { ok: false, code: 'DESTINATION_REJECTED', reason: 'a transfer to toyrefuses reverts' }
      : { ok: true }
  }
  const ctx = { db: handle.db, xpubFor: keys.xpubFor, chains: new Map([[name, s.toy.chain]]) }
  const check = (to: string, amount: bigint) => screenDestination(ctx, s.toy.chain, s.toy.native, to, amount)
  return { ...s, ctx, asked, check }
}

describe('screenDestination', () => {
  test('behavior: a destination the node just accepted is not asked again for as much or less; more is asked', async () => {
    const s = await scene('dest-cache')
    await s.check('toyfriend', 500n)
    await s.check('toyfriend', 500n)
    await s.check('toyfriend', 200n)
    expect(s.asked).toEqual([{ to: 'toyfriend', amount: 500n }])
    await s.check('toyfriend', 900n)
    await s.check('toyother', 100n)
    expect(s.asked).toEqual([
      { to: 'toyfriend', amount: 500n },
      { to: 'toyfriend', amount: 900n },
      { to: 'toyother', amount: 100n },
    ])
  })

  test('behavior: a refusal is never remembered: the node is asked each time, and each time it refuses', async () => {
    const s = await scene('dest-refusals')
    for (let i = 0; i < 2; i++) {
      const err = await s.check('toyrefuses', 100n).catch((e) => e)
      expect(err).toBeInstanceOf(TollgateError)
      expect(err).toMatchObject({ code: 'DESTINATION_REJECTED', field: 'to' })
    }
    expect(s.asked.length).toBe(2)
  })

  test('behavior: each chain asks its own node (what one accepted says nothing about another)', async () => {
    const a = await scene('dest-node-a')
    const b = await scene('dest-node-b')
    await a.check('toyfriend', 100n)
    await b.check('toyfriend', 100n)
    expect([a.asked.length, b.asked.length]).toEqual([1, 1])
  })

  test('behavior: withdrawals to one destination ask the node once; each is still checked for its balance and key', async () => {
    const s = await scene('dest-requests')
    const ask = (idempotencyKey: string, amount: string) =>
      requestWithdrawal(s.ctx, s.merchantId, {
        chain: 'dest-requests',
        asset: 'TOY',
        to: 'toyfriend',
        amount,
        idempotencyKey,
      })
    const first = await ask('k1', '1')
    const second = await ask('k2', '1')
    expect(first.withdrawal.id).not.toBe(second.withdrawal.id)
    expect(await ask('k1', '1')).toMatchObject({ replayed: true, withdrawal: { id: first.withdrawal.id } })
    expect(((await ask('k1', '2').catch((e) => e)) as TollgateError).code).toBe('IDEMPOTENCY_KEY_REUSED')
    expect(((await ask('k3', '100').catch((e) => e)) as TollgateError).code).toBe('INSUFFICIENT_BALANCE')
    // 1 TOY asked once; more than the node accepted is asked again (2 TOY: asked while the key's row was looked
    // up, then refused as a reused key)
    expect(s.asked.map((a) => a.amount)).toEqual([100_000_000n, 200_000_000n, 10_000_000_000n])
  })
})
