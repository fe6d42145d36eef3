import { afterAll, describe, expect, test } from 'bun:test'
import { asc, eq } from 'drizzle-orm'
import { openUnitDb, toyChain, unitKeys } from '../../../test/helpers/unit.ts'
import { coins, type OutboundRow } from '../../db/schema/index.ts'
import { GatewayError } from '../errors.ts'
import { coinsLockedBy, lockCoins, settleCoins, spendableCoins, unlockCoins } from './coins.ts'
import { roleWallet } from './wallet-roles.ts'

const handle = await openUnitDb()
afterAll(() => handle.close())
const keys = unitKeys()

/** A chain of its own holding treasury coins `c0…` of the given amounts. */
async function setup(name: string, amounts: bigint[]) {
  const chain = toyChain({ name }).chain
  if (amounts.length)
    await handle.db.insert(coins).values(
      amounts.map((amount, i) => ({
        chain: name,
        txid: `c${i}`,
        vout: 0,
        amount,
        script: `toy${i}`,
        address: `toy${i}`,
        path: `m/44'/1'/1'/0/${i}`,
        role: 'treasury' as const,
      })),
    )
  const state = async () =>
    Object.fromEntries(
      (
        await handle.db
          .select()
          .from(coins)
          .where(eq(coins.chain, name))
          .orderBy(asc(coins.txid), asc(coins.vout))
      ).map((c) => [`${c.txid}:${c.vout}`, `${c.status}${c.lockedBy ? ` by ${c.lockedBy}` : ''}`]),
    )
  return { chain, state }
}

/** The parts of an outbound row settleCoins reads. */
const outbound = (id: string, changes: Partial<OutboundRow> = {}) =>
  ({
    id,
    hash: `${id}-hash`,
    request: null,
    amounts: null,
    changeVout: null,
    changeAmount: null,
    ...changes,
  }) as OutboundRow

describe('coins', () => {
  test('default: a stored transaction locks exactly the coins it spends', async () => {
    const { chain, state } = await setup('coins-lock', [10n, 20n, 30n])
    await handle.db.transaction((tx) => lockCoins(tx, chain, ['c0:0', 'c2:0'], 'otx_a'))
    expect(await state()).toEqual({
      'c0:0': 'locked by otx_a',
      'c1:0': 'available',
      'c2:0': 'locked by otx_a',
    })
    expect((await spendableCoins(handle.db, chain, 'treasury')).map((c) => c.txid)).toEqual(['c1'])
    expect((await coinsLockedBy(handle.db, ['otx_a'])).map((c) => [c.txid, c.amount])).toEqual([
      ['c0', 10n],
      ['c2', 30n],
    ])
  })

  test('error: a coin another transaction locked is COINS_UNAVAILABLE and the whole store rolls back', async () => {
    const { chain, state } = await setup('coins-taken', [10n, 20n])
    await handle.db.transaction((tx) => lockCoins(tx, chain, ['c0:0'], 'otx_a'))
    const err = await handle.db
      .transaction((tx) => lockCoins(tx, chain, ['c1:0', 'c0:0'], 'otx_b'))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GatewayError)
    expect(err).toMatchObject({ kind: 'retryable', code: 'COINS_UNAVAILABLE' })
    expect(await state()).toEqual({ 'c0:0': 'locked by otx_a', 'c1:0': 'available' })
  })

  test('behavior: a replacement takes over the locks of the transaction it replaces', async () => {
    const { chain, state } = await setup('coins-replace', [10n, 20n, 30n])
    await handle.db.transaction((tx) => lockCoins(tx, chain, ['c0:0'], 'otx_a'))
    await handle.db.transaction((tx) => lockCoins(tx, chain, ['c2:0'], 'otx_other'))
    // the bump needs one more coin: the replaced one's and a free one, never another transaction's
    await handle.db.transaction((tx) => lockCoins(tx, chain, ['c0:0', 'c1:0'], 'otx_b', 'otx_a'))
    expect(await state()).toEqual({
      'c0:0': 'locked by otx_b',
      'c1:0': 'locked by otx_b',
      'c2:0': 'locked by otx_other',
    })
    const err = await handle.db
      .transaction((tx) => lockCoins(tx, chain, ['c2:0'], 'otx_c', 'otx_b'))
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'COINS_UNAVAILABLE' })
  })

  test('behavior: unlocking frees only locked coins of those transactions', async () => {
    const { chain, state } = await setup('coins-unlock', [10n, 20n, 30n])
    await handle.db.transaction(async (tx) => {
      await lockCoins(tx, chain, ['c0:0', 'c1:0'], 'otx_a')
      await lockCoins(tx, chain, ['c2:0'], 'otx_b')
    })
    await unlockCoins(handle.db, ['otx_a'])
    await unlockCoins(handle.db, [])
    expect(await state()).toEqual({ 'c0:0': 'available', 'c1:0': 'available', 'c2:0': 'locked by otx_b' })
  })

  test('behavior: settling a group spends what the winner spent, frees the rest, and keeps its change once', async () => {
    const { chain, state } = await setup('coins-settle', [10n, 20n, 30n])
    const treasury = roleWallet(keys, chain, 'treasury')
    await handle.db.transaction(async (tx) => {
      await lockCoins(tx, chain, ['c0:0'], 'otx_old')
      await lockCoins(tx, chain, ['c1:0', 'c2:0'], 'otx_new')
    })
    const winner = outbound('otx_new', {
      request: {
        kind: 'transfer',
        outputs: [
          { to: 'toy42', amount: '15' },
          { to: treasury.address, amount: '5' },
        ],
        change: { address: 'toychange', path: `${treasury.accountPath}/1/0` },
      },
      amounts: ['15', '5'],
      changeVout: 2,
      changeAmount: 29n,
    })
    const group = [outbound('otx_old'), winner]
    for (let i = 0; i < 2; i++)
      await handle.db.transaction((tx) => settleCoins(tx, keys, chain, group, winner, ['c1:0', 'c2:0']))
    expect(await state()).toEqual({
      'c0:0': 'available',
      'c1:0': 'spent by otx_new',
      'c2:0': 'spent by otx_new',
      'otx_new-hash:1': 'available',
      'otx_new-hash:2': 'available',
    })
    const created = await handle.db.select().from(coins).where(eq(coins.txid, 'otx_new-hash'))
    expect(created.map((c) => [c.vout, c.amount, c.role, c.address])).toEqual([
      [1, 5n, 'treasury', treasury.address],
      [2, 29n, 'treasury', 'toychange'],
    ])
  })

  test('behavior: a group whose transaction failed on chain frees every coin it locked', async () => {
    const { chain, state } = await setup('coins-failed', [10n, 20n])
    await handle.db.transaction((tx) => lockCoins(tx, chain, ['c0:0', 'c1:0'], 'otx_a'))
    const row = outbound('otx_a')
    await handle.db.transaction((tx) => settleCoins(tx, keys, chain, [row], row, []))
    expect(await state()).toEqual({ 'c0:0': 'available', 'c1:0': 'available' })
  })
})
