import { describe, expect, test } from 'bun:test'
import { asc, count, eq } from 'drizzle-orm'
import { toyChain, unitMerchant, unitPaymentsContext, unitStage } from '../../../test/helpers/unit.ts'
import { addressPool, paymentEvents, payments } from '../../db/schema/index.ts'
import { TollgateError } from '../errors.ts'
import { type CreatePaymentInput, createPayment } from './create.ts'

const { handle, db, merchantId } = await unitStage()
const otherMerchantId = await unitMerchant(handle, 'Other Shop')
const toy = toyChain({ name: 'create', confirmations: 3 })
const ctx = unitPaymentsContext(handle, [toy.chain], { defaultExpiresIn: 900, toleranceBps: 50 })
const base: CreatePaymentInput = { chain: 'create', asset: 'TOY', amount: '1.5' }

/** How many rows creation touches: a refused request must leave all of them as they were. */
async function stored() {
  const [p] = await db.select({ n: count() }).from(payments)
  const [e] = await db.select({ n: count() }).from(paymentEvents)
  const [a] = await db.select({ n: count() }).from(addressPool)
  return { payments: p!.n, events: e!.n, pool: a!.n }
}

/** The error `createPayment` throws for `input`, after checking that nothing was stored. */
async function refused(input: Partial<CreatePaymentInput> & Record<string, unknown>, merchant = merchantId) {
  const before = await stored()
  const err = await createPayment(ctx, merchant, { ...base, ...input } as CreatePaymentInput).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TollgateError)
  expect(await stored()).toEqual(before)
  return err as TollgateError
}

describe('createPayment', () => {
  test("default: a PENDING payment with its own address, the amount in base units, the chain's depth and event #1", async () => {
    const { payment, replayed } = await createPayment(ctx, merchantId, {
      ...base,
      orderId: 'order-1',
      metadata: { cart: [1, 2] },
    })
    expect(replayed).toBe(false)
    expect(payment).toMatchObject({
      merchantId,
      chain: 'create',
      asset: toy.native.id,
      amountDue: 150_000_000n,
      amountTolerance: 750_000n, // 50 bps
      amountReceived: 0n,
      status: 'PENDING',
      confirmationsRequired: 3,
      orderId: 'order-1',
      metadata: { cart: [1, 2] },
      eventSeq: 1,
    })
    expect(payment.clientSecret.startsWith(`${payment.id}_secret_`)).toBe(true)
    expect(payment.expiresAt.getTime() - payment.createdAt.getTime()).toBe(900_000)
    const [row] = await db.select().from(payments).where(eq(payments.id, payment.id))
    expect(row).toEqual(payment)
    expect(toy.chain.driver.deriveAddress({ xpub: '', index: row!.derivationIndex }).address).toBe(
      row!.address,
    )
    const events = await db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, payment.id))
    expect(events).toEqual([
      expect.objectContaining({ seq: 1, type: 'payment.created', fromStatus: null, toStatus: 'PENDING' }),
    ])
  })

  test('behavior: an asset is found by symbol or by id, and the tolerance rounds down', async () => {
    const { payment } = await createPayment(ctx, merchantId, {
      ...base,
      asset: toy.token.id,
      amount: '0.000199',
    })
    expect(payment).toMatchObject({ asset: toy.token.id, amountDue: 199n, amountTolerance: 0n })
  })

  test('error: a bad amount is INVALID_AMOUNT and stores nothing', async () => {
    for (const amount of [
      '',
      'abc',
      '-1',
      '0',
      '0.00',
      '1e3',
      '1,5',
      ' 1',
      '0.000000001',
      'NaN',
      '9'.repeat(101),
    ]) {
      const err = await refused({ amount })
      expect([amount, err.code, err.field]).toEqual([amount, 'INVALID_AMOUNT', 'amount'])
    }
    // the asset's decimals decide: 7 places are fine for TOY (8), too many for TOK (6)
    expect(await refused({ asset: 'TOK', amount: '1.0000001' })).toMatchObject({ code: 'INVALID_AMOUNT' })
  })

  test('error: an unknown chain is UNKNOWN_CHAIN and an unknown asset UNKNOWN_ASSET', async () => {
    expect(await refused({ chain: 'nochain' })).toMatchObject({ code: 'UNKNOWN_CHAIN', field: 'chain' })
    expect(await refused({ asset: 'ETH' })).toMatchObject({ code: 'UNKNOWN_ASSET', field: 'asset' })
    expect(await refused({ asset: 'toy:other/slip44:1' })).toMatchObject({ code: 'UNKNOWN_ASSET' })
    expect(await refused({ asset: 'toy' })).toMatchObject({ code: 'UNKNOWN_ASSET' })
  })

  test('error: metadata that is not a small JSON object of storable strings is INVALID_INPUT', async () => {
    const tooManyKeys = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]))
    const tooBig = { blob: 'x'.repeat(4100) }
    for (const metadata of [
      [1, 2],
      'text',
      42,
      true,
      { bad: 'nul\u0000' },
      { 'key\u0000': 1 },
      { lone: '\ud800' },
      { nested: { deeper: ['\udfff'] } },
      tooManyKeys,
      tooBig,
    ]) {
      const err = await refused({ metadata })
      expect([err.code, err.field]).toEqual(['INVALID_INPUT', 'metadata'])
    }
  })

  test('error: expiresIn out of bounds, an unprintable orderId or a bad idempotency key is INVALID_INPUT', async () => {
    for (const expiresIn of [59, 86_401, 90.5, -1, Number.NaN])
      expect(await refused({ expiresIn })).toMatchObject({ code: 'INVALID_INPUT', field: 'expiresIn' })
    for (const orderId of ['', 'é', 'tab\there', 'x'.repeat(129)])
      expect(await refused({ orderId })).toMatchObject({ code: 'INVALID_INPUT', field: 'orderId' })
    for (const idempotencyKey of ['', 'ключ', 'k'.repeat(256)])
      expect(await refused({ idempotencyKey })).toMatchObject({
        code: 'INVALID_INPUT',
        field: 'idempotencyKey',
      })
  })
})

describe('createPayment with an idempotency key', () => {
  test('behavior: the same key and parameters replay the first payment and store nothing more', async () => {
    const input = {
      ...base,
      idempotencyKey: 'replay-1',
      metadata: { a: 1, b: { c: 2, d: 3 } },
      expiresIn: 900,
    }
    const first = await createPayment(ctx, merchantId, input)
    const before = await stored()
    // key order inside metadata and an explicit default are the same parameters
    const again = await createPayment(ctx, merchantId, {
      ...base,
      expiresIn: null,
      metadata: { b: { d: 3, c: 2 }, a: 1 },
      idempotencyKey: 'replay-1',
    })
    expect(again.replayed).toBe(true)
    expect(again.payment).toEqual(first.payment)
    expect(await stored()).toEqual(before)
  })

  test('error: the same key with other parameters is IDEMPOTENCY_KEY_REUSED and stores nothing', async () => {
    await createPayment(ctx, merchantId, { ...base, idempotencyKey: 'reuse-1', orderId: 'o-1' })
    for (const other of [
      { amount: '1.50000001' },
      { asset: 'TOK' },
      { expiresIn: 901 },
      { orderId: 'o-2' },
      { metadata: { x: 1 } },
    ]) {
      const err = await refused({ idempotencyKey: 'reuse-1', orderId: 'o-1', ...other })
      expect([err.code, err.field]).toEqual(['IDEMPOTENCY_KEY_REUSED', 'idempotencyKey'])
    }
  })

  test("behavior: keys are the merchant's own: another merchant's same key makes a new payment", async () => {
    const mine = await createPayment(ctx, merchantId, { ...base, idempotencyKey: 'shared-key' })
    const theirs = await createPayment(ctx, otherMerchantId, { ...base, idempotencyKey: 'shared-key' })
    expect(theirs.replayed).toBe(false)
    expect(theirs.payment.id).not.toBe(mine.payment.id)
    expect(theirs.payment.address).not.toBe(mine.payment.address)
  })

  test('behavior: concurrent creations with one key make one payment; the others replay it or are refused', async () => {
    const input = { ...base, idempotencyKey: 'race-1' }
    const results = await Promise.allSettled([
      createPayment(ctx, merchantId, input),
      createPayment(ctx, merchantId, input),
      createPayment(ctx, merchantId, input),
      createPayment(ctx, merchantId, { ...input, amount: '2' }),
    ])
    const rows = await db
      .select()
      .from(payments)
      .where(eq(payments.idempotencyKey, 'race-1'))
      .orderBy(asc(payments.createdAt))
    expect(rows).toHaveLength(1)
    for (const r of results.slice(0, 3)) {
      if (r.status === 'fulfilled') expect(r.value.payment.id).toBe(rows[0]!.id)
      else expect(r.reason).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' })
    }
    const fulfilled = results.filter((r) => r.status === 'fulfilled')
    expect(fulfilled.filter((r) => !r.value.replayed)).toHaveLength(1)
    // the one with other parameters never gets the payment
    const last = results[3]!
    if (last.status === 'fulfilled') expect(last.value.payment.amountDue).toBe(200_000_000n)
    else expect(last.reason).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' })
    const [events] = await db
      .select({ n: count() })
      .from(paymentEvents)
      .where(eq(paymentEvents.paymentId, rows[0]!.id))
    expect(events!.n).toBe(1)
  })
})
