import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { openUnitDb, toyChain, toyPayouts } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { senderNonces } from '../../db/schema/index.ts'
import { GatewayError } from '../errors.ts'
import { commitNonce, ensureSenderNonce, peekNonce, takeNonce } from './nonces.ts'

let handle: DbHandle
// the first database of a test process migrates the template: seconds on a busy machine
beforeAll(async () => {
  handle = await openUnitDb()
}, 30_000)
afterAll(() => handle.close())

/** A fresh toy chain (its own name, so its own nonce rows) with an account-chain payout driver. */
function setup(name: string) {
  const payouts = toyPayouts()
  const toy = toyChain({ name, payouts: payouts.driver })
  return { payouts, chain: toy.chain }
}

async function stored(chain: string, address: string): Promise<bigint | undefined> {
  const [row] = await handle.db
    .select()
    .from(senderNonces)
    .where(and(eq(senderNonces.chain, chain), eq(senderNonces.address, address)))
  return row?.next
}

class Rollback extends Error {}
/** Runs `body` in a transaction that is rolled back at the end. */
async function rolledBack(body: Parameters<DbHandle['db']['transaction']>[0]): Promise<void> {
  await handle.db
    .transaction(async (tx) => {
      await body(tx)
      throw new Rollback()
    })
    .catch((err) => {
      if (!(err instanceof Rollback)) throw err
    })
}

describe('sender nonces', () => {
  test('default: the first nonce comes from the chain, afterwards the database is the authority', async () => {
    const { payouts, chain } = setup('nonce-start')
    payouts.nonces.set('toy0', 7n)
    await ensureSenderNonce({ db: handle.db }, chain, 'toy0')
    expect(await stored(chain.name, 'toy0')).toBe(7n)
    // the chain moving (or lagging) later does not overwrite what the database knows
    payouts.nonces.set('toy0', 2n)
    await ensureSenderNonce({ db: handle.db }, chain, 'toy0')
    expect(await stored(chain.name, 'toy0')).toBe(7n)
  })

  test('behavior: takeNonce hands out consecutive nonces, within and across transactions', async () => {
    const { payouts, chain } = setup('nonce-take')
    payouts.nonces.set('toy0', 3n)
    await ensureSenderNonce({ db: handle.db }, chain, 'toy0')
    const taken: Array<bigint | undefined> = []
    await handle.db.transaction(async (tx) => {
      taken.push(await takeNonce(tx, chain, 'toy0'))
      taken.push(await takeNonce(tx, chain, 'toy0'))
    })
    taken.push(await handle.db.transaction((tx) => takeNonce(tx, chain, 'toy0')))
    // passes racing each other still get distinct, consecutive nonces
    taken.push(
      ...(await Promise.all(
        [1, 2, 3].map(() => handle.db.transaction((tx) => takeNonce(tx, chain, 'toy0'))),
      )),
    )
    expect(taken).toEqual([3n, 4n, 5n, 6n, 7n, 8n])
    expect(await stored(chain.name, 'toy0')).toBe(9n)
  })

  test('behavior: a nonce taken in a transaction that rolls back is not used up', async () => {
    const { chain } = setup('nonce-rollback')
    await ensureSenderNonce({ db: handle.db }, chain, 'toy0')
    await rolledBack(async (tx) => {
      expect(await takeNonce(tx, chain, 'toy0')).toBe(0n)
    })
    expect(await handle.db.transaction((tx) => takeNonce(tx, chain, 'toy0'))).toBe(0n)
  })

  test('behavior: peek then commit advances only past the nonces that were built', async () => {
    const { payouts, chain } = setup('nonce-peek')
    payouts.nonces.set('toy0', 10n)
    await ensureSenderNonce({ db: handle.db }, chain, 'toy0')
    // a pass that builds nothing commits the nonce it peeked: nothing moves
    await handle.db.transaction(async (tx) => {
      const next = await peekNonce(tx, chain, 'toy0')
      expect(next).toBe(10n)
      await commitNonce(tx, chain, 'toy0', next)
    })
    expect(await stored(chain.name, 'toy0')).toBe(10n)
    // peeking alone takes nothing
    await handle.db.transaction((tx) => peekNonce(tx, chain, 'toy0'))
    expect(await stored(chain.name, 'toy0')).toBe(10n)
    // two transactions built with 10 and 11: the next free one is 12
    await handle.db.transaction(async (tx) => {
      let next = (await peekNonce(tx, chain, 'toy0')) as bigint
      const built = [next++, next++]
      expect(built).toEqual([10n, 11n])
      await commitNonce(tx, chain, 'toy0', next)
    })
    expect(await stored(chain.name, 'toy0')).toBe(12n)
    // a pass that fails after building stores nothing, and costs no nonce
    await rolledBack(async (tx) => {
      const next = (await peekNonce(tx, chain, 'toy0')) as bigint
      await commitNonce(tx, chain, 'toy0', next + 1n)
    })
    expect(await stored(chain.name, 'toy0')).toBe(12n)
  })

  test('behavior: senders and chains have nonces of their own', async () => {
    const a = setup('nonce-iso-a')
    const b = setup('nonce-iso-b')
    a.payouts.nonces.set('toy0', 5n)
    a.payouts.nonces.set('toy1', 50n)
    b.payouts.nonces.set('toy0', 500n)
    for (const [{ chain }, address] of [
      [a, 'toy0'],
      [a, 'toy1'],
      [b, 'toy0'],
    ] as const)
      await ensureSenderNonce({ db: handle.db }, chain, address)
    await handle.db.transaction(async (tx) => {
      expect(await takeNonce(tx, a.chain, 'toy0')).toBe(5n)
      expect(await takeNonce(tx, a.chain, 'toy1')).toBe(50n)
      expect(await takeNonce(tx, b.chain, 'toy0')).toBe(500n)
      expect(await takeNonce(tx, a.chain, 'toy0')).toBe(6n)
    })
  })

  test('behavior: chains without nonces (no confirmedNonce) have no counter and take none', async () => {
    const payouts = toyPayouts()
    const { confirmedNonce: _, ...withoutNonces } = payouts.driver
    const chain = toyChain({ name: 'nonce-none', payouts: withoutNonces }).chain
    await ensureSenderNonce({ db: handle.db }, chain, 'toy0')
    expect(await stored(chain.name, 'toy0')).toBeUndefined()
    await handle.db.transaction(async (tx) => {
      expect(await takeNonce(tx, chain, 'toy0')).toBeUndefined()
      expect(await peekNonce(tx, chain, 'toy0')).toBeUndefined()
      await commitNonce(tx, chain, 'toy0', undefined)
    })
    expect(await stored(chain.name, 'toy0')).toBeUndefined()
  })

  test('error: a nonce asked for before ensureSenderNonce is NONCE_ROW_MISSING, a bug', async () => {
    const { chain } = setup('nonce-missing')
    for (const ask of [takeNonce, peekNonce]) {
      const err = await handle.db.transaction((tx) => ask(tx, chain, 'toy0')).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(GatewayError)
      expect(err).toMatchObject({ kind: 'bug', code: 'NONCE_ROW_MISSING' })
    }
    expect(await stored(chain.name, 'toy0')).toBeUndefined()
  })
})
