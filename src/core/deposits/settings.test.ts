import { describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { rejection, toyChain, unitMerchant, unitStage } from '../../../test/helpers/unit.ts'
import { auditLog, merchants } from '../../db/schema/index.ts'
import { depositSettings, type MinimumInput, setDepositSettings } from './settings.ts'

const { handle, db } = await unitStage('settings')
const toy = toyChain({ name: 'mins' })
const other = toyChain({ name: 'minsother' })
const ctx = { db, chains: new Map([toy.chain, other.chain].map((c) => [c.name, c])) }
const admin = { keyId: 'key_admin' }

const auditsOf = (merchantId: string) =>
  db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.merchantId, merchantId), eq(auditLog.action, 'deposits.settings_set')))
const stored = async (merchantId: string) =>
  (
    await db
      .select({ mode: merchants.depositAddressMode, minimums: merchants.depositMinimums })
      .from(merchants)
      .where(eq(merchants.id, merchantId))
  )[0]

describe('depositSettings', () => {
  test('default: a new merchant gives its customers common addresses and has no minimums', async () => {
    const shop = await unitMerchant(handle, 'Fresh Shop')
    expect(await depositSettings({ db }, shop)).toEqual({ addressMode: 'common', minimums: {} })
  })
})

describe('setDepositSettings', () => {
  test('default: sets the mode and the minimums in base units by chain and asset id, one audit row per change', async () => {
    const shop = await unitMerchant(handle, 'Setting Shop')
    const set = await setDepositSettings(
      ctx,
      shop,
      {
        addressMode: 'single',
        minimums: [
          { chain: 'mins', asset: 'TOY', amount: '0.5' },
          { chain: 'mins', asset: toy.token.id, amount: '2' },
          { chain: 'minsother', asset: 'TOK', amount: '0.000001' },
        ],
      },
      admin,
    )
    expect(set).toEqual({
      addressMode: 'single',
      minimums: {
        mins: { [toy.native.id]: '50000000', [toy.token.id]: '2000000' },
        minsother: { [other.token.id]: '1' },
      },
    })
    expect(await depositSettings({ db }, shop)).toEqual(set)
    // the mode alone leaves the minimums as they were
    await setDepositSettings(ctx, shop, { addressMode: 'cross' }, admin)
    expect(await depositSettings({ db }, shop)).toEqual({ ...set, addressMode: 'cross' })
    // minimums are replaced whole; an empty list clears them
    await setDepositSettings(ctx, shop, { minimums: [{ chain: 'mins', asset: 'TOY', amount: '1' }] }, admin)
    expect((await depositSettings({ db }, shop)).minimums).toEqual({ mins: { [toy.native.id]: '100000000' } })
    await setDepositSettings(ctx, shop, { minimums: [] }, admin)
    expect(await depositSettings({ db }, shop)).toEqual({ addressMode: 'cross', minimums: {} })

    const audits = await auditsOf(shop)
    expect(audits).toHaveLength(4)
    expect(
      audits.every((a) => a.actor === 'key_admin' && a.targetType === 'merchant' && a.targetId === shop),
    ).toBe(true)
    expect(audits.map((a) => a.data)).toContainEqual({ addressMode: 'cross' })
    expect(audits.map((a) => a.data)).toContainEqual({ minimums: {} })
  })

  test('edge: nothing to change is refused and writes nothing', async () => {
    const shop = await unitMerchant(handle, 'Idle Shop')
    for (const input of [{}, { addressMode: null, minimums: null }]) {
      const err = await rejection(setDepositSettings(ctx, shop, input, admin))
      expect(err.code).toBe('INVALID_INPUT')
    }
    expect(await auditsOf(shop)).toEqual([])
  })

  test('edge: invalid settings are typed errors that change nothing', async () => {
    const shop = await unitMerchant(handle, 'Careful Shop')
    await setDepositSettings(
      ctx,
      shop,
      { addressMode: 'single', minimums: [{ chain: 'mins', asset: 'TOY', amount: '1' }] },
      admin,
    )
    const before = await stored(shop)
    const min = (m: Partial<MinimumInput> | unknown) => ({ minimums: [m as MinimumInput] })
    const cases: Array<[Parameters<typeof setDepositSettings>[2], string]> = [
      [{ addressMode: 'bogus' }, 'INVALID_INPUT'],
      [{ addressMode: 'SINGLE' }, 'INVALID_INPUT'],
      [{ addressMode: '' }, 'INVALID_INPUT'],
      [{ addressMode: 'cross', minimums: [{ chain: 'mins', asset: 'TOY', amount: '0' }] }, 'INVALID_AMOUNT'],
      [min({ chain: 'mins', asset: 'TOY', amount: '0.00000000' }), 'INVALID_AMOUNT'],
      [min({ chain: 'mins', asset: 'TOY', amount: '-1' }), 'INVALID_AMOUNT'],
      [min({ chain: 'mins', asset: 'TOY', amount: 'abc' }), 'INVALID_AMOUNT'],
      [min({ chain: 'mins', asset: 'TOY', amount: '1e5' }), 'INVALID_AMOUNT'],
      [min({ chain: 'mins', asset: 'TOY', amount: '' }), 'INVALID_AMOUNT'],
      [min({ chain: 'mins', asset: 'TOY', amount: '0.000000001' }), 'INVALID_AMOUNT'],
      [min({ chain: 'mins', asset: 'TOK', amount: '0.0000001' }), 'INVALID_AMOUNT'],
      [min({ chain: 'mins', asset: 'TOY', amount: '1'.repeat(101) }), 'INVALID_INPUT'],
      [min({ chain: 'mins', asset: 'TOY', amount: 5 }), 'INVALID_INPUT'],
      [min({ chain: 'mins', asset: 'TOY' }), 'INVALID_INPUT'],
      [min({ chain: 'nochain', asset: 'TOY', amount: '1' }), 'UNKNOWN_CHAIN'],
      [min({ chain: 'mins', asset: 'NOPE', amount: '1' }), 'UNKNOWN_ASSET'],
      [min({ chain: 'mins', asset: other.native.id, amount: '1' }), 'UNKNOWN_ASSET'],
      [min(null), 'INVALID_INPUT'],
      [min('mins'), 'INVALID_INPUT'],
      [
        {
          minimums: [
            { chain: 'mins', asset: 'TOY', amount: '1' },
            { chain: 'mins', asset: toy.native.id, amount: '2' },
          ],
        },
        'INVALID_INPUT',
      ],
      [
        { minimums: Array.from({ length: 501 }, () => ({ chain: 'mins', asset: 'TOY', amount: '1' })) },
        'INVALID_INPUT',
      ],
      // a valid mode with an invalid minimum: the mode is not written either
      [{ addressMode: 'cross', minimums: [{ chain: 'mins', asset: 'NOPE', amount: '1' }] }, 'UNKNOWN_ASSET'],
    ]
    for (const [input, code] of cases) {
      const err = await rejection(setDepositSettings(ctx, shop, input, admin))
      expect([JSON.stringify(input).slice(0, 80), err.code]).toEqual([
        JSON.stringify(input).slice(0, 80),
        code,
      ])
    }
    expect(await stored(shop)).toEqual(before)
    expect(await auditsOf(shop)).toHaveLength(1)
  })
})
