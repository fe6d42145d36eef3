import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { count, eq } from 'drizzle-orm'
import { openUnitDb } from '../../test/helpers/unit.ts'
import type { DbHandle } from '../db/client.ts'
import { apiKeys, merchants } from '../db/schema/index.ts'
import { GatewayError } from './errors.ts'
import { newId } from './ids.ts'
import { transactionUnlessRolledBack } from './rollback.ts'

let handle: DbHandle
beforeAll(async () => {
  handle = await openUnitDb()
}, 30_000)
afterAll(() => handle.close())

async function rowCounts() {
  const [m] = await handle.db.select({ n: count() }).from(merchants)
  const [k] = await handle.db.select({ n: count() }).from(apiKeys)
  return { merchants: m!.n, keys: k!.n }
}

/** Two writes in two tables, as a real unit of work would make. */
async function writeTwo(tx: Parameters<Parameters<typeof transactionUnlessRolledBack>[1]>[0], id: string) {
  await tx.insert(merchants).values({ id, name: 'in a transaction' })
  await tx.insert(apiKeys).values({
    id: newId('key'),
    merchantId: id,
    prefix: id.slice(-16),
    secretHash: '00',
    scopes: ['admin'],
  })
}

describe('transactionUnlessRolledBack', () => {
  test('default: work that finishes commits every write and answers its result', async () => {
    const before = await rowCounts()
    const id = newId('mer')
    const result = await transactionUnlessRolledBack(handle.db, async (tx) => {
      await writeTwo(tx, id)
      return { stored: id }
    })
    expect(result).toEqual({ stored: id })
    expect(await rowCounts()).toEqual({ merchants: before.merchants + 1, keys: before.keys + 1 })
  })

  test('behavior: rollback() undoes every write made before it and answers undefined', async () => {
    const before = await rowCounts()
    const id = newId('mer')
    let after = 'not reached'
    const result = await transactionUnlessRolledBack(handle.db, async (tx, rollback) => {
      await writeTwo(tx, id)
      // the writes are visible inside the transaction…
      const [inside] = await tx.select().from(merchants).where(eq(merchants.id, id))
      expect(inside?.name).toBe('in a transaction')
      rollback()
      after = 'reached'
      return 'committed'
    })
    expect(result).toBeUndefined()
    expect(after).toBe('not reached')
    // …and gone after it
    expect(await handle.db.select().from(merchants).where(eq(merchants.id, id))).toEqual([])
    expect(await rowCounts()).toEqual(before)
  })

  test('behavior: rollback() from a nested helper unwinds the whole transaction', async () => {
    const before = await rowCounts()
    const result = await transactionUnlessRolledBack(handle.db, async (tx, rollback) => {
      await writeTwo(tx, newId('mer'))
      const tooExpensive = async () => rollback()
      await tooExpensive()
      return 1
    })
    expect(result).toBeUndefined()
    expect(await rowCounts()).toEqual(before)
  })

  test('error: any other failure propagates as itself and also undoes the writes', async () => {
    const before = await rowCounts()
    const failure = new GatewayError('retryable', 'LEASE_LOST', 'another worker took over')
    const outcome = transactionUnlessRolledBack(handle.db, async (tx) => {
      await writeTwo(tx, newId('mer'))
      throw failure
    })
    await expect(outcome).rejects.toBe(failure)
    expect(await rowCounts()).toEqual(before)
  })

  test('error: a database error (a duplicate key) propagates and the earlier writes are undone', async () => {
    const id = newId('mer')
    await handle.db.insert(merchants).values({ id, name: 'existing' })
    const before = await rowCounts()
    const outcome = transactionUnlessRolledBack(handle.db, async (tx) => {
      await tx.insert(merchants).values({ id: newId('mer'), name: 'first write' })
      await tx.insert(merchants).values({ id, name: 'duplicate' })
    })
    await expect(outcome).rejects.toThrow()
    expect(await rowCounts()).toEqual(before)
  })

  test('behavior: a thrown undefined is not mistaken for a rollback', async () => {
    const outcome = transactionUnlessRolledBack(handle.db, async () => {
      throw undefined
    })
    let caught = false
    await outcome.catch(() => {
      caught = true
    })
    expect(caught).toBe(true)
  })
})
