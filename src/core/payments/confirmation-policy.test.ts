import { describe, expect, test } from 'bun:test'
import type { PricingConfig } from '@tollgate/sdk'
import { and, eq } from 'drizzle-orm'
import { ladder, toyLadder } from '../../../test/helpers/ladders.ts'
import { paymentRow, rejection, storeRate, unitMerchant, unitStage } from '../../../test/helpers/unit.ts'
import { auditLog, merchants } from '../../db/schema/index.ts'
import type { ConfirmationLadder } from '../../plugins/registry.ts'
import { openRateBook } from '../pricing/book.ts'
import {
  type ConfirmationChoiceInput,
  confirmationPolicies,
  setConfirmationChoice,
} from './confirmation-policy.ts'
import { createInvoice } from './invoice-create.ts'
import { chooseInvoiceMethod } from './invoice-method.ts'

// A merchant's confirmation choice: stored and audited only within the operator's bounds, applied to its own new
// payments at once, and a payment's confirmationsRequired from the step its amount (or price) falls in.

const { handle, db, merchantId, scene } = await unitStage('confirmations')
const cli = { cli: true } as const

function tieredScene(tiers: ConfirmationLadder = toyLadder) {
  const s = scene({ confirmations: 2 })
  s.toy.chain.settings.amountTiers = new Map([[s.toy.native.id, tiers]])
  const ctx = { db, chains: s.payCtx.chains }
  const target = { chain: s.toy.chain.name, asset: 'TOY' }
  const set = (choice: ConfirmationChoiceInput | null, merchant = merchantId) =>
    setConfirmationChoice(ctx, merchant, target, choice, cli)
  return { ...s, ctx, target, set }
}

const storedChoices = async (id = merchantId) =>
  (await db.select({ p: merchants.confirmationPolicy }).from(merchants).where(eq(merchants.id, id)))[0]?.p ??
  null
const auditCount = async (id = merchantId) =>
  (
    await db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.merchantId, id), eq(auditLog.action, 'confirmations.policy_set')))
  ).length

describe('payments by amount', () => {
  test('default: without a ladder every amount needs the chain’s confirmations, as before', async () => {
    const { create } = scene({ confirmations: 2 })
    expect((await create(1n)).confirmationsRequired).toBe(2)
    expect((await create(10n ** 12n)).confirmationsRequired).toBe(2)
  })

  test('behavior: the operator’s ladder gives 1, 3 or 6 by amount, as stored', async () => {
    const { create } = tieredScene()
    const small = await create(50_000n) // 0.0005
    const middle = await create(5_000_000n) // 0.05
    const large = await create(10n ** 8n) // 1
    expect((await paymentRow(db, small.id)).confirmationsRequired).toBe(1)
    expect((await paymentRow(db, middle.id)).confirmationsRequired).toBe(3)
    expect((await paymentRow(db, large.id)).confirmationsRequired).toBe(6)
  })

  test('behavior: a price is compared as given in a currency ladder; an asset amount at the fresh rate, else above', async () => {
    const pricing: PricingConfig = { pairs: { 'TOY/USD': { sources: ['desk'], maxAgeSeconds: 60 } } }
    const usd = ladder({ tiers: [{ below: '100', confirmations: 1 }], above: 4, currency: 'USD' }, 8, {
      min: 1,
      max: 4,
    })
    const { create, payCtx } = tieredScene(usd)
    await storeRate(db, 'TOY/USD', '50000')
    payCtx.rateBook = await openRateBook(db, pricing, { reloadMs: 60_000 })
    const priced = (amount: string) =>
      create(0n, undefined, { amount: null, price: { amount, currency: 'USD' } })
    expect((await priced('99.99')).confirmationsRequired).toBe(1)
    expect((await priced('100.00')).confirmationsRequired).toBe(4)
    expect((await create(100_000n)).confirmationsRequired).toBe(1) // 0.001 TOY = 50 USD
    await storeRate(db, 'TOY/USD', '50000', 3600) // stale
    await payCtx.rateBook.reload()
    expect((await create(100_000n)).confirmationsRequired).toBe(4)
    payCtx.rateBook.close()
  })
})

describe('invoice methods', () => {
  test('behavior: a chosen method needs the step of the invoice price it carries (a USD ladder compares the price itself)', async () => {
    const pricing: PricingConfig = { pairs: { 'TOY/USD': { sources: ['desk'], maxAgeSeconds: 60 } } }
    const usd = ladder({ tiers: [{ below: '100', confirmations: 1 }], above: 5, currency: 'USD' }, 8, {
      min: 1,
      max: 5,
    })
    const { payCtx, toy } = tieredScene(usd)
    await storeRate(db, 'TOY/USD', '50000')
    payCtx.rateBook = await openRateBook(db, pricing, { reloadMs: 60_000 })
    const method = async (amount: string) => {
      const { invoice } = await createInvoice(payCtx, merchantId, {
        price: { amount, currency: 'USD' },
        accept: [{ chain: toy.chain.name, asset: 'TOY' }],
      })
      const chosen = await chooseInvoiceMethod(
        payCtx,
        { merchantId },
        { invoiceId: invoice.id, chain: toy.chain.name, asset: 'TOY' },
      )
      return paymentRow(db, chosen.payment.id)
    }
    expect((await method('25.00')).confirmationsRequired).toBe(1)
    expect((await method('250.00')).confirmationsRequired).toBe(5)
    payCtx.rateBook.close()
  })
})

describe('setConfirmationChoice', () => {
  test('behavior: a fixed count within bounds is stored, audited and applies to the next payment, 0 included', async () => {
    const { set, create, toy } = tieredScene()
    const view = await set({ confirmations: 0 })
    expect(view).toMatchObject({ source: 'merchant', choice: { confirmations: 0 } })
    expect(view.ladder).toMatchObject({ tiers: [], above: 0 })
    expect(await storedChoices()).toMatchObject({
      [toy.chain.name]: { [toy.native.id]: { confirmations: 0 } },
    })
    const p = await create(10n ** 9n)
    expect((await paymentRow(db, p.id)).confirmationsRequired).toBe(0)
    const [entry] = await db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.merchantId, merchantId), eq(auditLog.action, 'confirmations.policy_set')))
    expect(entry?.data).toMatchObject({
      chain: toy.chain.name,
      asset: toy.native.id,
      choice: { confirmations: 0 },
    })
  })

  test('behavior: a ladder of the merchant’s own replaces the operator’s; clearing brings it back', async () => {
    const { set, create } = tieredScene()
    await set({ tiers: [{ below: '1', confirmations: 2 }], above: 5 })
    expect((await create(5_000_000n)).confirmationsRequired).toBe(2)
    expect((await create(10n ** 9n)).confirmationsRequired).toBe(5)
    const cleared = await set(null)
    expect(cleared.source).toBe('operator')
    expect((await create(5_000_000n)).confirmationsRequired).toBe(3)
  })

  test('behavior: another merchant’s choice never touches this merchant’s payments or policies', async () => {
    const other = await unitMerchant(handle, 'Other shop')
    const { set, create, ctx, toy } = tieredScene()
    await set({ confirmations: 6 }, other)
    expect((await create(50_000n)).confirmationsRequired).toBe(1)
    const mine = (await confirmationPolicies(ctx, merchantId)).find(
      (v) => v.chain === toy.chain.name && v.asset.id === toy.native.id,
    )
    expect(mine?.source).toBe('operator')
  })

  const refused: Array<[string, ConfirmationChoiceInput, string, string]> = [
    ['a count above the bounds', { confirmations: 7 }, 'CONFIRMATIONS_OUT_OF_BOUNDS', 'confirmations'],
    [
      'a ladder step outside the bounds',
      { tiers: [{ below: '1', confirmations: 2 }], above: 9 },
      'CONFIRMATIONS_OUT_OF_BOUNDS',
      'tiers',
    ],
    [
      'tiers not ascending',
      {
        tiers: [
          { below: '1', confirmations: 1 },
          { below: '1', confirmations: 2 },
        ],
        above: 3,
      },
      'INVALID_INPUT',
      'tiers.1.below',
    ],
    ['a negative count', { confirmations: -1 }, 'INVALID_INPUT', 'confirmations'],
    ['both a count and tiers', { confirmations: 1, tiers: [], above: 1 }, 'INVALID_INPUT', 'confirmations'],
    ['neither', {}, 'INVALID_INPUT', 'confirmations'],
    ['tiers without above', { tiers: [{ below: '1', confirmations: 1 }] }, 'INVALID_INPUT', 'above'],
  ]
  for (const [label, choice, code, field] of refused)
    test(`error: ${label} is ${code} on ${field}, and nothing is stored or audited`, async () => {
      const { set } = tieredScene()
      const [before, audits] = [await storedChoices(), await auditCount()]
      const err = await rejection(set(choice))
      expect([err.code, err.field]).toEqual([code, field])
      expect(await storedChoices()).toEqual(before)
      expect(await auditCount()).toBe(audits)
    })

  test('error: an unknown chain or asset is refused the same way, nothing stored', async () => {
    const { ctx } = tieredScene()
    const before = await storedChoices()
    const chain = await rejection(
      setConfirmationChoice(ctx, merchantId, { chain: 'nope', asset: 'TOY' }, { confirmations: 1 }, cli),
    )
    expect(chain.code).toBe('UNKNOWN_CHAIN')
    const asset = await rejection(
      setConfirmationChoice(
        ctx,
        merchantId,
        { chain: [...ctx.chains.keys()][0]!, asset: 'DOGE' },
        { confirmations: 1 },
        cli,
      ),
    )
    expect(asset.code).toBe('UNKNOWN_ASSET')
    expect(await storedChoices()).toEqual(before)
  })

  test('error: an asset without a ladder allows only its own confirmations', async () => {
    const { ctx, toy } = tieredScene()
    const err = await rejection(
      setConfirmationChoice(
        ctx,
        merchantId,
        { chain: toy.chain.name, asset: 'TOK' },
        { confirmations: 1 },
        cli,
      ),
    )
    expect(err.code).toBe('CONFIRMATIONS_OUT_OF_BOUNDS')
    expect(err.message).toContain('2 to 2')
  })

  test('error: an unknown merchant is NOT_FOUND', async () => {
    const { ctx, target } = tieredScene()
    const err = await rejection(setConfirmationChoice(ctx, 'mer_nope', target, { confirmations: 1 }, cli))
    expect(err.code).toBe('NOT_FOUND')
  })
})
