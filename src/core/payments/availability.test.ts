import { describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { toyChain, unitPaymentsContext, unitStage } from '../../../test/helpers/unit.ts'
import { chainCursors, chainNetworks, payments, wallets } from '../../db/schema/index.ts'
import { TollgateError } from '../errors.ts'
import { assessAvailability } from './availability.ts'
import { createPayment } from './create.ts'

// createPayment reads what the chain's scanner recorded (never the node): a wrong network, a halt, or no successful
// scan for longer than `unavailableAfterMs` refuses the payment with CHAIN_UNAVAILABLE and writes nothing.

const { handle, db, merchantId } = await unitStage()

/** A chain whose scanner last succeeded `agoSeconds` ago (null: never; then failing for `failingSeconds`). */
async function chainScanned(
  name: string,
  agoSeconds: number | null,
  extra: { halted?: string; failingSeconds?: number; graceMs?: number } = {},
) {
  const toy = toyChain({ name, settings: { unavailableAfterMs: extra.graceMs ?? 60_000 } })
  await db.insert(chainCursors).values({
    chain: name,
    height: 10n,
    hash: 'h10',
    haltedReason: extra.halted ?? null,
    lastScanAt: agoSeconds === null ? null : sql`now() - make_interval(secs => ${agoSeconds})`,
    failingSince:
      extra.failingSeconds === undefined ? null : sql`now() - make_interval(secs => ${extra.failingSeconds})`,
  })
  return { toy, ctx: unitPaymentsContext(handle, [toy.chain]) }
}

async function refusal(promise: Promise<unknown>) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TollgateError)
  return err as TollgateError
}

const countOn = async (chain: string) => ({
  payments: (await db.select().from(payments).where(eq(payments.chain, chain))).length,
  wallets: (await db.select().from(wallets).where(eq(wallets.chain, chain))).length,
})

describe('createPayment on a chain that is not ready', () => {
  test('default: a chain scanned within its grace takes payments; one never scanned too (no record yet)', async () => {
    const { ctx } = await chainScanned('fresh', 30)
    const created = await createPayment(ctx, merchantId, { chain: 'fresh', asset: 'TOY', amount: '1' })
    expect(created.payment.status).toBe('PENDING')
    const never = toyChain({ name: 'unscanned' })
    const ctx2 = unitPaymentsContext(handle, [never.chain])
    expect(
      (await createPayment(ctx2, merchantId, { chain: 'unscanned', asset: 'TOY', amount: '1' })).payment
        .status,
    ).toBe('PENDING')
  })

  test('behavior: no successful scan for longer than unavailableAfterMs → CHAIN_UNAVAILABLE, nothing written', async () => {
    const { ctx } = await chainScanned('stale', 120)
    const err = await refusal(createPayment(ctx, merchantId, { chain: 'stale', asset: 'TOY', amount: '1' }))
    expect(err.code).toBe('CHAIN_UNAVAILABLE')
    expect(err.field).toBe('chain')
    expect(err.message).toContain('no successful scan')
    expect(await countOn('stale')).toEqual({ payments: 0, wallets: 0 })
  })

  test('behavior: failing since boot (never a success) counts from the first failure', async () => {
    const { ctx } = await chainScanned('failing', null, { failingSeconds: 90 })
    expect(
      (await refusal(createPayment(ctx, merchantId, { chain: 'failing', asset: 'TOY', amount: '1' }))).code,
    ).toBe('CHAIN_UNAVAILABLE')
  })

  test('behavior: unavailableAfterMs 0 never refuses for staleness', async () => {
    const { ctx } = await chainScanned('patient', 86_400, { graceMs: 0 })
    expect(
      (await createPayment(ctx, merchantId, { chain: 'patient', asset: 'TOY', amount: '1' })).replayed,
    ).toBe(false)
  })

  test('behavior: a halted chain is refused', async () => {
    const { ctx } = await chainScanned('halted', 1, { halted: 'reorg deeper than finality' })
    const err = await refusal(createPayment(ctx, merchantId, { chain: 'halted', asset: 'TOY', amount: '1' }))
    expect(err.code).toBe('CHAIN_UNAVAILABLE')
    expect(await countOn('halted')).toEqual({ payments: 0, wallets: 0 })
  })

  test('behavior: a node on another network is refused, the message names both networks', async () => {
    const { ctx } = await chainScanned('wrongnet', 1)
    await db.insert(chainNetworks).values({ chain: 'wrongnet', expected: 'eip155:1', actual: 'eip155:56' })
    const err = await refusal(
      createPayment(ctx, merchantId, { chain: 'wrongnet', asset: 'TOY', amount: '1' }),
    )
    expect(err.code).toBe('CHAIN_UNAVAILABLE')
    expect(err.message).toContain('eip155:1')
    expect(err.message).toContain('eip155:56')
    expect(await countOn('wrongnet')).toEqual({ payments: 0, wallets: 0 })
  })

  test('edge: bad input is still refused as before, with its own code', async () => {
    const { ctx } = await chainScanned('badinput', 120)
    expect(
      (await refusal(createPayment(ctx, merchantId, { chain: 'badinput', asset: 'NOPE', amount: '1' }))).code,
    ).toBe('UNKNOWN_ASSET')
    expect(
      (await refusal(createPayment(ctx, merchantId, { chain: 'badinput', asset: 'TOY', amount: '-1' }))).code,
    ).toBe('INVALID_AMOUNT')
  })
})

describe('assessAvailability', () => {
  test('default: the rule in order: network, halt, grace', () => {
    const ok = { network: null, halted: false, quietMs: 1000 }
    expect(assessAvailability('c', ok, 60_000)).toEqual({ ready: true })
    expect(assessAvailability('c', { ...ok, quietMs: 61_000 }, 60_000)).toMatchObject({
      ready: false,
      reason: 'NO_RECENT_SCAN',
    })
    expect(assessAvailability('c', { ...ok, quietMs: null }, 60_000)).toEqual({ ready: true })
    expect(
      assessAvailability('c', { ...ok, halted: true, network: { expected: 'a', actual: 'b' } }, 60_000),
    ).toMatchObject({ ready: false, reason: 'WRONG_NETWORK' })
  })
})
