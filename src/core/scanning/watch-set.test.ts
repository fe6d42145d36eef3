import { describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { toyChain, unitPaymentsContext, unitStage } from '../../../test/helpers/unit.ts'
import { payments } from '../../db/schema/index.ts'
import { createPayment } from '../payments/create.ts'
import { refreshWatchSet } from './watch-set.ts'

const { handle, db, merchantId } = await unitStage()
const toy = toyChain({ name: 'watched' })
const elsewhere = toyChain({ name: 'elsewhere' })
const ctx = unitPaymentsContext(handle, [toy.chain, elsewhere.chain])
const create = async (chain = 'watched') =>
  (await createPayment(ctx, merchantId, { chain, asset: 'TOY', amount: '1' })).payment
const hour = 3600_000
const window = { monitoringWindowMs: 24 * hour }

describe('refreshWatchSet', () => {
  test("default: the first refresh loads the chain's open payments by address key", async () => {
    const a = await create()
    const b = await create()
    await create('elsewhere')
    const ws = await refreshWatchSet({ db }, toy.chain.driver, 'watched', window)
    expect(ws.chain).toBe('watched')
    expect(Object.fromEntries(ws.byKey)).toEqual({ [a.address]: a.id, [b.address]: b.id })
  })

  test('behavior: payments created since the last refresh are added without a rebuild', async () => {
    const ws = await refreshWatchSet({ db }, toy.chain.driver, 'watched', window)
    const rebuiltAt = ws.rebuiltAt
    const c = await create()
    const again = await refreshWatchSet({ db }, toy.chain.driver, ws, window)
    expect(again.rebuiltAt).toBe(rebuiltAt)
    expect(again.byKey.get(c.address)).toBe(c.id)
  })

  test('behavior: a rebuild keeps open payments and settled ones inside the window, and drops the rest', async () => {
    const now = new Date(Date.now() + 48 * hour)
    const open = await create()
    const held = await create()
    const recentlyCompleted = await create()
    const longCompleted = await create()
    const recentlyExpired = await create()
    const longExpired = await create()
    const set = (id: string, values: Partial<typeof payments.$inferInsert>) =>
      db.update(payments).set(values).where(eq(payments.id, id))
    await set(held.id, { status: 'HELD' })
    await set(recentlyCompleted.id, { status: 'COMPLETED', completedAt: new Date(now.getTime() - hour) })
    await set(longCompleted.id, { status: 'COMPLETED', completedAt: new Date(now.getTime() - 25 * hour) })
    await set(recentlyExpired.id, { status: 'EXPIRED', expiresAt: new Date(now.getTime() - hour) })
    await set(longExpired.id, { status: 'UNDERPAID', expiresAt: new Date(now.getTime() - 25 * hour) })
    const ws = await refreshWatchSet({ db }, toy.chain.driver, 'watched', { ...window, now })
    for (const kept of [open, held, recentlyCompleted, recentlyExpired])
      expect(ws.byKey.get(kept.address)).toBe(kept.id)
    for (const dropped of [longCompleted, longExpired]) expect(ws.byKey.has(dropped.address)).toBe(false)
  })
})
